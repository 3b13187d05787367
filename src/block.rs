//! Waiting for one socket with a deadline: the one place a blocking call
//! blocks.
//!
//! `wait` polls one descriptor until it is ready, its idle period (see
//! `fdtable::Clock`) exceeds the timeout, the program's own socket timeout
//! (SO_RCVTIMEO/SO_SNDTIMEO, per call, as the kernel counts it) expires, or
//! a signal interrupts it in a way the program must see.

use crate::fdtable::{Clock, Slot};
use crate::real;
use crate::sock::{Fail, Sock};
use crate::sys::sockopt::own_timeout;
use crate::sys::{Deadline, Dir, Instant, Nanos, errno, keeping_errno};

/// The program's own kernel timeout for this direction as a deadline from
/// now (NEVER when none is set). A kernel timeout the library itself set
/// (fdopen) is not the program's.
pub fn own_deadline(sock: &Sock, dir: Dir) -> Deadline {
    if sock.slot().is_some_and(|s| s.own_timeout_is_ours(dir)) {
        return Deadline::NEVER;
    }
    match own_timeout(sock.fd, dir) {
        None => Deadline::NEVER,
        Some(t) => Deadline::after(Instant::now(), Some(t)),
    }
}

/// The program's own timeout `own` for this direction, as cached or read,
/// as a deadline from `start` (NEVER when none, or when it is the
/// library's own, see `own_deadline`).
pub fn own_deadline_known(sock: &Sock, dir: Dir, own: Option<Nanos>, start: Instant) -> Deadline {
    if own.is_none() || sock.slot().is_some_and(|s| s.own_timeout_is_ours(dir)) {
        return Deadline::NEVER;
    }
    Deadline::after(start, own)
}

/// Waits for `dir` on `sock`. `t` is the idle timeout, `own` the
/// program's own per-call deadline, `clock` the direction's idle clock in
/// `slot`. When the idle deadline passes, the peer's progress
/// (`Slot::peer_progress`) is looked at before giving up: bytes it sent or
/// acknowledged move the start of the idle period.
///
/// `events` are the poll events waited for (`Dir::poll_events`, or fewer:
/// a peek that already sees bytes waits for errors and hang-ups only);
/// with `cap_ms >= 0` no single poll lasts longer than that, and a capped
/// poll that ends with nothing returns `Ok(0)` (look again).
///
/// `Ok(revents)`: poll reported the socket (readable, writable, error or
/// hang-up): the next attempt will tell which. `Err(Fail::IDLE)`: our idle
/// timeout; `Err(EAGAIN)`: the program's own timeout; `Err(EINTR)`: a
/// signal whose handler the kernel would not restart; `Err(EBADF)`: the
/// number no longer refers to the socket `sock` was bound to (closed, or
/// dup2'd over, under the call: see `Sock::same`), which is then never
/// touched again; else poll's errno.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn wait(
    sock: &Sock,
    events: i16,
    cap_ms: i32,
    t: Nanos,
    own: Deadline,
    slot: &Slot,
    clock: &Clock,
) -> Result<i16, Fail> {
    let mut now = Instant::now();
    let mut since = clock.begin_wait(now, t);
    let result = loop {
        if !sock.same() {
            // Not our socket any more: no poll, no TCP_INFO, no clock.
            return Err(Fail::Errno(libc::EBADF));
        }
        since = clock.refresh(since, now);
        let idle = Deadline::at(since.plus(t));
        let (deadline, is_own) = if !own.is_never() && own <= idle {
            (own, true)
        } else {
            (idle, false)
        };
        if deadline.passed(now) {
            if is_own {
                break Err(Fail::Errno(libc::EAGAIN));
            }
            // Before giving up: did the peer send or acknowledge anything
            // (bytes that moved without passing through this call)?
            let p = slot.peer_progress(sock.fd, now);
            if p > since {
                since = clock.advance(p);
                continue;
            }
            break Err(Fail::IDLE);
        }
        let mut ms = crate::sys::time::poll_ms(deadline.remaining(now));
        let capped = cap_ms >= 0 && (ms < 0 || ms > cap_ms);
        if capped {
            ms = cap_ms;
        }
        let mut pfd = libc::pollfd {
            fd: sock.fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd; the real poll, not our hook.
        let r = unsafe { real::poll(&mut pfd, 1, ms) };
        if r > 0 {
            if !sock.same() {
                return Err(Fail::Errno(libc::EBADF));
            }
            return Ok(pfd.revents);
        }
        if r == 0 && capped {
            break Ok(0);
        }
        if r < 0 {
            let e = errno();
            if e != libc::EINTR {
                break Err(Fail::Errno(e));
            }
            // The kernel never restarts a socket call that has its own
            // timeout (sock_intr_errno); otherwise follow the handlers.
            if !own.is_never() || !signals_restart() {
                break Err(Fail::Errno(libc::EINTR));
            }
        }
        now = Instant::now();
    };
    if sock.same() {
        clock.end_wait(Instant::now());
    }
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
    // SAFETY: sigset_t and sigaction are plain C structs, valid when
    // zeroed; sigprocmask with a null new set only reads the calling
    // thread's mask (on Linux it is per thread, as pthread_sigmask, which
    // glibc has in libc only since 2.32);
    // sigaction with a null new action only reads. Both are async-signal-
    // safe and not interposed by us.
    keeping_errno(|| unsafe {
        let mut blocked: libc::sigset_t = core::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, core::ptr::null(), &mut blocked);
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
                return false;
            }
        }
        true
    })
}
