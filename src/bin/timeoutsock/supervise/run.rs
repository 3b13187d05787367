//! The two ways to supervise: run COMMAND as our child and stay its parent
//! (as coreutils `timeout` does), or attach to a running process (`--pid`).
//!
//! Run mode: the wrapper becomes a child subreaper, blocks the signals it
//! forwards (read from a signalfd), forks, and holds the child before exec
//! until it has checked that it may duplicate the child's descriptors (a
//! refusal is exit 122 with the reason, not a silent lack of timeouts).
//! The child gets the wrapper's original signal mask and dispositions,
//! descriptors (every descriptor of ours is close-on-exec), process group,
//! terminal and environment. Signals sent to the wrapper (kill, systemd,
//! CI runners) are forwarded to the child; those the terminal sends to the
//! whole foreground group (si_code SI_KERNEL) already reached it and are
//! not sent twice; stop signals are not blocked, so job control stops and
//! continues both. The wrapper returns when the child has ended and no
//! process it left behind (reparented to us) still has a connection being
//! timed (looked for during two scan periods after the child's end), with
//! the child's exit status, or dies by the child's signal (re-raised,
//! without a core dump). Leftovers without connections (a `sleep &`) do
//! not hold it.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::{Scope, Settings, Supervisor, denied_message, sys};
use crate::PROG;
use crate::text::quote;
use std::os::unix::ffi::OsStrExt;

/// Signals forwarded to the child (coreutils timeout's set, plus the user
/// signals and SIGWINCH is left to the terminal).
const FORWARD: [i32; 7] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
];

struct Signals {
    fd: OwnedFd,
    old_mask: libc::sigset_t,
}

/// Blocks SIGCHLD and the forwarded signals that are not ignored (an
/// ignored one stays ignored, for us and the child), and reads them from a
/// signalfd.
fn block_signals() -> Option<Signals> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid sigset pointers throughout; sigaction with a null new
    // action only reads the current one.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        for sig in FORWARD {
            let mut cur: libc::sigaction = std::mem::zeroed();
            libc::sigaction(sig, std::ptr::null(), &mut cur);
            if cur.sa_sigaction != libc::SIG_IGN {
                libc::sigaddset(&mut set, sig);
            }
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old);
    }
    // SAFETY: a valid mask; returns a new descriptor or -1.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if fd < 0 {
        return None;
    }
    Some(Signals {
        // SAFETY: a fresh descriptor we own.
        fd: unsafe { OwnedFd::from_raw_fd(fd) },
        old_mask: old,
    })
}

/// The next pending signal: (signo, si_code).
fn next_signal(s: &Signals) -> Option<(i32, i32)> {
    // SAFETY: plain data, valid zeroed.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let n = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: info is writable for n bytes.
    let r = unsafe { libc::read(s.fd.as_raw_fd(), (&raw mut info).cast(), n) };
    (r as usize == n).then_some((info.ssi_signo as i32, info.ssi_code))
}

/// Waits up to `until` (monotonic ns; MAX: forever) for a signal.
fn wait_signal(s: &Signals, until: u64) {
    let now = sys::now_ns();
    let ms = if until == u64::MAX {
        -1
    } else {
        until
            .saturating_sub(now)
            .div_ceil(1_000_000)
            .min(i32::MAX as u64) as i32
    };
    let mut p = libc::pollfd {
        fd: s.fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, ms) };
}

/// Ends this process the way the child ended: its exit code, or death by
/// its signal (default action restored, no core file of ours).
fn mirror(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        return libc::WEXITSTATUS(status);
    }
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        let _ = std::io::Write::flush(&mut std::io::stdout());
        // SAFETY: resetting a disposition, limiting our core size,
        // unblocking and raising a signal: no memory is handed over.
        unsafe {
            let lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &lim);
            libc::signal(sig, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::raise(sig);
        }
        return 128 + sig;
    }
    125
}

/// Reaps every child that has ended; the main child's status if it did.
/// `Err(())` once we have no children left at all.
fn reap(child: i32, status: &mut Option<i32>) -> Result<(), ()> {
    // bounded: each pass reaps one child or stops
    loop {
        let mut st = 0;
        // SAFETY: a writable status.
        let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
        if r == child {
            *status = Some(st);
        } else if r == 0 {
            return Ok(());
        } else if r < 0 {
            return if sys::errno() == libc::EINTR {
                Ok(())
            } else {
                Err(())
            };
        }
    }
}

/// Whether the supervisor may duplicate the descriptors of a child of ours
/// (what `run_child` checks before exec, for `--check`): forks a child that
/// waits on a pipe, duplicates the pipe's read end from it, and lets it go.
/// `Err(errno)` says why not (EPERM: no ptrace permission, e.g. Docker's
/// default seccomp profile without CAP_SYS_PTRACE; ENOSYS: Linux < 5.6).
pub(crate) fn may_supervise_child() -> Result<(), i32> {
    let mut p = [0; 2];
    // SAFETY: a writable array of two ints.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(sys::errno());
    }
    let (r, w) = (p[0], p[1]);
    // SAFETY: this program is single-threaded; the child only waits on the
    // pipe and exits.
    let child = unsafe { libc::fork() };
    if child == 0 {
        let mut b = [0u8; 1];
        // SAFETY: closing our copy of the write end, reading into b, _exit.
        unsafe {
            libc::close(w);
            libc::read(r, b.as_mut_ptr().cast(), 1);
            libc::_exit(0);
        }
    }
    let result = if child < 0 {
        Err(sys::errno())
    } else {
        sys::pidfd_open(child).and_then(|pidfd| super::probe(&pidfd, r))
    };
    // SAFETY: closing our pipe ends (the child then reads EOF and exits) and
    // reaping our own child.
    unsafe {
        libc::close(w);
        libc::close(r);
        if child > 0 {
            let mut st = 0;
            libc::waitpid(child, &mut st, 0);
        }
    }
    result
}

/// Runs `argv` (the program `path`) with `env` as our child under the
/// supervisor; returns our exit status (or does not return: dies by the
/// child's signal). `force`: a refused supervision only warns.
pub(crate) fn run_child(
    path: &Path,
    argv: &[OsString],
    env: &[(OsString, OsString)],
    settings: Settings,
    force: bool,
) -> i32 {
    let Some(signals) = block_signals() else {
        eprintln!(
            "{PROG}: cannot create a signalfd: {}",
            crate::text::strerror(sys::errno())
        );
        return crate::EXIT_ERROR;
    };
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let mut p = [0; 2];
    // SAFETY: a writable array of two ints.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        eprintln!(
            "{PROG}: cannot create a pipe: {}",
            crate::text::strerror(sys::errno())
        );
        return crate::EXIT_ERROR;
    }
    let (go_r, go_w) = (p[0], p[1]);
    // SAFETY: this program is single-threaded; the child only restores its
    // signal mask, waits on the pipe and execs (or exits).
    let child = unsafe { libc::fork() };
    if child < 0 {
        eprintln!(
            "{PROG}: cannot fork: {}",
            crate::text::strerror(sys::errno())
        );
        return crate::EXIT_ERROR;
    }
    if child == 0 {
        let mut b = [0u8; 1];
        // SAFETY: restoring the saved mask; closing our copy of the write
        // end; reading one byte into b.
        let n = unsafe {
            libc::sigprocmask(libc::SIG_SETMASK, &signals.old_mask, std::ptr::null_mut());
            libc::close(go_w);
            libc::read(go_r, b.as_mut_ptr().cast(), 1)
        };
        if n != 1 {
            // The wrapper refused (or died): never run unsupervised.
            // SAFETY: _exit ends the process without running our destructors.
            unsafe { libc::_exit(crate::EXIT_NO_PRELOAD) };
        }
        let errno = crate::command::exec(path, argv, env);
        let code = crate::cannot_run(&argv[0], errno);
        // SAFETY: as above.
        unsafe { libc::_exit(code) };
    }
    let release = |go: bool| {
        if go {
            // SAFETY: writing one byte from a valid buffer.
            unsafe { libc::write(go_w, b"x".as_ptr().cast(), 1) };
        }
        // SAFETY: closing our pipe ends; nothing else uses them.
        unsafe {
            libc::close(go_w);
            libc::close(go_r);
        }
    };
    let mut supervise = true;
    let refused = match sys::pidfd_open(child) {
        Ok(pidfd) => super::probe(&pidfd, go_r).err(),
        Err(e) => Some(e),
    };
    if let Some(errno) = refused {
        let what = format!("cannot supervise {}", quote(argv[0].as_bytes()));
        if !force {
            eprintln!(
                "{PROG}: {}; use --force to run it with the preload only",
                denied_message(&what, errno)
            );
            release(false);
            let mut st = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(child, &mut st, 0) };
            return crate::EXIT_NO_PRELOAD;
        }
        eprintln!(
            "{PROG}: warning: {}; running it with the preload only",
            denied_message(&what, errno)
        );
        supervise = false;
    }
    release(true);

    // The tree below us, not below the child: what the child leaves behind
    // is reparented to us (a subreaper) once it has ended.
    // SAFETY: getpid has no preconditions.
    let mut sup = Supervisor::new(settings, unsafe { libc::getpid() }, Scope::Unreached);
    let mut status = None;
    let mut ended_at = None;
    let mut warned = false;
    // bounded: ends when no child is left (each signal or deadline is one pass)
    loop {
        let now = sys::now_ns();
        let wake = if supervise { sup.tick(now) } else { u64::MAX };
        if let (false, Some(d)) = (warned, &sup.denied) {
            {
                warned = true;
                eprintln!(
                    "{PROG}: warning: {}",
                    denied_message(
                        &format!("cannot supervise pid {} ({})", d.pid, d.comm),
                        d.errno
                    )
                );
            }
        }
        let mut leave = false;
        if reap(child, &mut status).is_err() {
            break;
        }
        // bounded: by the signals pending
        while let Some((sig, code)) = next_signal(&signals) {
            if sig == libc::SIGCHLD {
                continue;
            }
            if status.is_some() {
                // The child is gone; only its leftovers are waited for.
                leave = true;
            } else if code != libc::SI_KERNEL {
                // SAFETY: kill with integers; the child is not reaped yet,
                // so its PID is still its own.
                unsafe { libc::kill(child, sig) };
            }
        }
        if leave || reap(child, &mut status).is_err() {
            break;
        }
        let mut wake = wake;
        if status.is_some() {
            let grace_end = *ended_at.get_or_insert(now + 2 * sup.period());
            if now >= grace_end && (!supervise || !sup.busy()) {
                break;
            }
            wake = wake.min(grace_end);
        }
        wait_signal(&signals, wake);
    }
    match status {
        Some(st) => mirror(st),
        None => crate::EXIT_ERROR,
    }
}

/// `--pid PID`: supervises a running process and its descendants until it
/// exits (0) or we are interrupted (we die by that signal).
pub(crate) fn attach(pid: i32, settings: Settings) -> i32 {
    let comm = super::proc::comm(pid);
    let pidfd = match sys::pidfd_open(pid) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{PROG}: --pid {pid}: {}", crate::text::strerror(e));
            return crate::EXIT_ERROR;
        }
    };
    let what = format!("cannot supervise pid {pid} ({comm})");
    // Permission first, on any descriptor it has: the same check as ptrace.
    let mut fds = super::proc::Fds::default();
    if let Err(e) = super::proc::fds(pid, &mut fds) {
        eprintln!("{PROG}: {}", denied_message(&what, e));
        return crate::EXIT_NO_PRELOAD;
    }
    let first = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .and_then(|d| {
            d.flatten()
                .find_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        });
    if let Some(Err(e)) = first.map(|fd| super::probe(&pidfd, fd))
        && e != libc::EBADF
    {
        eprintln!("{PROG}: {}", denied_message(&what, e));
        return crate::EXIT_NO_PRELOAD;
    }
    let Some(signals) = block_signals() else {
        return crate::EXIT_ERROR;
    };
    let mut sup = Supervisor::new(settings, pid, Scope::All);
    // bounded: ends when the process exits or a signal comes
    loop {
        let wake = sup.tick(sys::now_ns());
        if sys::pidfd_exited(&pidfd) {
            return 0;
        }
        if let Some((sig, _)) = next_signal(&signals)
            && sig != libc::SIGCHLD
        {
            // A wait status that says "killed by sig".
            return mirror(sig);
        }
        // Wake for the target's exit too: poll both descriptors.
        let now = sys::now_ns();
        let ms = if wake == u64::MAX {
            -1
        } else {
            wake.saturating_sub(now)
                .div_ceil(1_000_000)
                .min(i32::MAX as u64) as i32
        };
        let mut p = [
            libc::pollfd {
                fd: signals.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        unsafe { libc::poll(p.as_mut_ptr(), 2, ms) };
    }
}
