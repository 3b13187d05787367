//! Waiting for a socket with a deadline: the one place that blocks.
//!
//! `wait` polls one descriptor until it is ready, its idle period (see
//! `fdtable::Slot`) exceeds the timeout, the program's own socket timeout
//! (SO_RCVTIMEO/SO_SNDTIMEO, per call, as the kernel counts it) expires, or
//! a signal interrupts it in a way the program must see.

use crate::fdtable::{Clock, Slot};
use crate::real;
use crate::sys::{errno, now_ns};
use libc::c_int;

const NS_PER_MS: u64 = 1_000_000;

#[derive(Debug, PartialEq, Eq)]
pub enum Wait {
    /// poll reported the socket (readable, writable, error or hang-up),
    /// with these revents: the next attempt will tell which.
    Ready(i16),
    /// Our idle timeout expired.
    TimedOut,
    /// The program's own SO_RCVTIMEO/SO_SNDTIMEO expired first.
    OwnTimeout,
    /// A signal whose handler the kernel would not restart.
    Interrupted,
    /// poll itself failed with this errno.
    Failed(c_int),
}

/// The program's own kernel timeout for this direction (SO_RCVTIMEO for
/// reading and accepting, SO_SNDTIMEO for writing and connecting), in ns;
/// 0 when none is set.
pub fn own_timeout(fd: c_int, opt: c_int) -> u64 {
    // A kernel timeout the library itself set (fdopen) is not the program's.
    let ours = if opt == libc::SO_RCVTIMEO {
        crate::fdtable::OUR_RCVTIMEO
    } else {
        crate::fdtable::OUR_SNDTIMEO
    };
    if crate::fdtable::slot(fd)
        .is_some_and(|s| s.flags.load(core::sync::atomic::Ordering::Relaxed) & ours != 0)
    {
        return 0;
    }
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = core::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: tv/len are valid for getsockopt to write a timeval.
    let r = unsafe { real::getsockopt(fd, libc::SOL_SOCKET, opt, (&raw mut tv).cast(), &mut len) };
    if r != 0 || tv.tv_sec < 0 || tv.tv_usec < 0 {
        return 0;
    }
    (tv.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(tv.tv_usec as u64 * 1000)
}

/// Waits for `events` on `fd`. `t` is the idle timeout (ns, non-zero),
/// `own_deadline` the program's own per-call deadline (0: none), `clock`
/// the direction's idle clock in `slot`. When the idle deadline passes,
/// the peer's progress (`Slot::peer_progress`) is looked at before giving
/// up: bytes it sent or acknowledged move the start of the idle period.
pub fn wait(fd: c_int, events: i16, t: u64, own_deadline: u64, slot: &Slot, clock: &Clock) -> Wait {
    let mut now = now_ns();
    let mut since = clock.begin_wait(now, t);
    let result = loop {
        since = clock.refresh(since, now);
        let idle_deadline = since.saturating_add(t);
        let (deadline, own) = if own_deadline != 0 && own_deadline <= idle_deadline {
            (own_deadline, true)
        } else {
            (idle_deadline, false)
        };
        if now >= deadline {
            if own {
                break Wait::OwnTimeout;
            }
            // Before giving up: did the peer send or acknowledge anything
            // (bytes that moved without passing through this call)?
            let p = slot.peer_progress(fd, now);
            if p > since {
                since = clock.advance(p);
                continue;
            }
            break Wait::TimedOut;
        }
        // Round up: never wake before the deadline, at most 1 ms after it.
        let ms = (deadline - now).div_ceil(NS_PER_MS).min(i32::MAX as u64) as c_int;
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd; the real poll, not our hook.
        let r = unsafe { real::poll(&mut pfd, 1, ms) };
        if r > 0 {
            return Wait::Ready(pfd.revents);
        }
        if r < 0 {
            let e = errno();
            if e != libc::EINTR {
                break Wait::Failed(e);
            }
            // The kernel never restarts a socket call that has its own
            // timeout (sock_intr_errno); otherwise follow the handlers.
            if own_deadline != 0 || !signals_restart() {
                break Wait::Interrupted;
            }
        }
        now = now_ns();
    };
    clock.end_wait(now_ns());
    result
}

/// The EINTR heuristic. poll() returns EINTR whatever SA_RESTART says, and
/// nothing tells which signal fired. A blocking recv would have been
/// restarted if that signal's handler had SA_RESTART. So: restart when every
/// signal that could have interrupted us (not blocked in this thread) and
/// has a handler was installed with SA_RESTART; otherwise report EINTR, as
/// the kernel does for a non-restarting handler (alarm() + handler to break
/// out of a read). Rare path: up to 64 sigaction calls.
pub fn signals_restart() -> bool {
    let saved = crate::sys::SavedErrno::save();
    // SAFETY: sigset_t and sigaction are plain C structs, valid when
    // zeroed; pthread_sigmask with a null new set only reads the mask;
    // sigaction with a null new action only reads. Both are async-signal-
    // safe and not interposed by us.
    let restart = unsafe {
        let mut blocked: libc::sigset_t = core::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, core::ptr::null(), &mut blocked);
        let mut all = true;
        for sig in 1..libc::SIGRTMAX() + 1 {
            if libc::sigismember(&blocked, sig) == 1 {
                continue;
            }
            let mut sa: libc::sigaction = core::mem::zeroed();
            if libc::sigaction(sig, core::ptr::null(), &mut sa) != 0 {
                continue;
            }
            let h = sa.sa_sigaction;
            if h == libc::SIG_DFL || h == libc::SIG_IGN {
                continue;
            }
            if sa.sa_flags & libc::SA_RESTART == 0 {
                all = false;
                break;
            }
        }
        all
    };
    saved.restore();
    restart
}
