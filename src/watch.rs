//! Multiplexed waits: poll, select and epoll with a per-socket idle clock.
//!
//! Most programs never block in recv or connect: they wait in poll, select
//! or epoll_wait (curl, wget, nc, every event loop). The wait hooks run the
//! program's wait through [`run`], which shortens its timeout to the
//! earliest idle deadline among the connected or connecting TCP sockets it
//! waits on. When a socket's deadline passes with nothing happening on it,
//! the connection is aborted in the kernel (`connect(fd, AF_UNSPEC)`) and
//! the socket remembered as timed out; the wait is then repeated with a
//! zero timeout, and the kernel itself reports the socket — as readable,
//! hung-up or errored, in the form of whichever API the program uses. Every
//! later call on the socket fails with ETIMEDOUT (see `hooks`).
//!
//! Why abort rather than synthesise events: the kernel's report reaches
//! every waiter — level- and edge-triggered epoll, select's read and write
//! sets, other threads waiting on the same socket, epoll sets shared after
//! fork — with no bookkeeping of event data, array room or ONESHOT state.
//! The cost: the peer gets a reset, and a read that no hook sees (stdio,
//! a raw syscall) reports ECONNRESET instead of ETIMEDOUT.
//!
//! The idle clock (per socket and direction, `fdtable::Clock`):
//! - starts when the program first waits on the socket with a non-zero
//!   timeout (a zero-timeout wait is a probe, not a wait: connection pools
//!   probe idle sockets that way and must keep them);
//! - carries on across consecutive waits, EINTR returns and retries as long
//!   as the program comes back to wait within T of its previous wait, and
//!   whatever the waits' own timeouts;
//! - restarts when the peer makes progress: bytes received, bytes of ours
//!   acknowledged (this also covers the connect completing), both read
//!   from TCP_INFO when a deadline passes, so no byte moved is missed even
//!   on paths no hook sees;
//! - T is the connect timeout while connecting, else the read timeout for
//!   readability and the write timeout for writability.
//!
//! Never timed out in a wait: listening sockets, non-TCP descriptors,
//! sockets the program is not waiting on.

use crate::config::{CONNECT_NS, READ_NS, WRITE_NS};
use crate::fdtable::{self, LISTEN, TCP, TIMED_OUT};
use crate::real;
use crate::sys::{SavedErrno, now_ns};
use crate::tcpinfo::tcp_info;
use core::sync::atomic::Ordering::Relaxed;
use libc::c_int;

/// The program waits for the socket to become readable / writable.
pub const IN: u8 = 1;
pub const OUT: u8 = 2;
/// "No deadline" / "wait forever".
pub const NEVER: u64 = u64::MAX;

// linux/tcp.h states.
const TCP_SYN_SENT: u8 = 2;
const TCP_SYN_RECV: u8 = 3;
const TCP_CLOSE: u8 = 7;
const TCP_LISTEN: u8 = 10;

/// The timeouts that may apply to a wait for `ev` before the socket's state
/// is known: the smallest (for the first deadline) and the largest (for
/// the rule that a period carries on across waits). 0, 0: not timed.
fn bounds(ev: u8) -> (u64, u64) {
    let mut lo = NEVER;
    let mut hi = 0;
    let c = CONNECT_NS.load(Relaxed);
    let r = if ev & IN != 0 {
        READ_NS.load(Relaxed)
    } else {
        0
    };
    let w = if ev & OUT != 0 {
        WRITE_NS.load(Relaxed)
    } else {
        0
    };
    for t in [c, r, w] {
        if t != 0 {
            lo = lo.min(t);
            hi = hi.max(t);
        }
    }
    if hi == 0 { (0, 0) } else { (lo, hi) }
}

/// The program starts a wait on `fd` for `ev`: starts or continues the
/// socket's idle periods; returns a first estimate of the deadline
/// (NEVER: not timed).
fn begin(fd: c_int, ev: u8, now: u64) -> u64 {
    if fdtable::class(fd) != TCP {
        return NEVER;
    }
    let (lo, hi) = bounds(ev);
    let Some(s) = fdtable::slot_alloc(fd).filter(|_| lo != 0) else {
        return NEVER;
    };
    let mut since = 0;
    if ev & IN != 0 {
        since = since.max(s.rx.begin_wait(now, hi));
    }
    if ev & OUT != 0 {
        since = since.max(s.tx.begin_wait(now, hi));
    }
    since.saturating_add(lo)
}

/// The wait is over: a later wait within T carries the periods on.
fn end(fd: c_int, ev: u8, now: u64) {
    if let Some(s) = fdtable::slot(fd) {
        if ev & IN != 0 {
            s.rx.end_wait(now);
        }
        if ev & OUT != 0 {
            s.tx.end_wait(now);
        }
    }
}

enum Check {
    NotTimed,
    Pending(u64),
    /// The deadline of this timeout passed.
    Expired(u64),
}

/// An estimated deadline passed: look at the socket's real state and the
/// peer's progress, and decide.
fn check(fd: c_int, ev: u8, now: u64) -> Check {
    let Some(s) = fdtable::slot(fd).filter(|s| s.class() == TCP) else {
        return Check::NotTimed;
    };
    let Some(info) = tcp_info(fd, now) else {
        return Check::NotTimed;
    };
    let connecting = match info.state {
        TCP_LISTEN => {
            fdtable::set_class(fd, LISTEN);
            return Check::NotTimed;
        }
        TCP_CLOSE => return Check::NotTimed,
        TCP_SYN_SENT | TCP_SYN_RECV => true,
        _ => false,
    };
    let (t_in, t_out) = if connecting {
        let c = CONNECT_NS.load(Relaxed);
        (c, c)
    } else {
        (READ_NS.load(Relaxed), WRITE_NS.load(Relaxed))
    };
    // Idle since the later of: the start of the waited direction's
    // period, and the peer's last progress in either direction (curl waits
    // for the reply while it uploads, often as two pollfds for one socket:
    // the upload's acks keep the socket alive). T is the smaller of the
    // timeouts that apply.
    let mut since = s.note_progress(&info);
    let mut t = NEVER;
    for (bit, clock, t_dir) in [(IN, &s.rx, t_in), (OUT, &s.tx, t_out)] {
        if ev & bit != 0 {
            since = clock.advance(since.max(clock.current(now)));
            if t_dir != 0 {
                t = t.min(t_dir);
            }
        }
    }
    let d = if t == NEVER {
        NEVER
    } else {
        since.saturating_add(t)
    };
    match d {
        NEVER => Check::NotTimed,
        d if d <= now => Check::Expired(t),
        d => Check::Pending(d),
    }
}

/// Aborts the connection and marks the socket timed out. The kernel wakes
/// every waiter with an error (sk_error_report).
pub fn abort(fd: c_int) {
    fdtable::set_class(fd, TIMED_OUT);
    let saved = SavedErrno::save();
    // SAFETY: a zeroed sockaddr with family AF_UNSPEC is a valid argument;
    // on a TCP socket it disconnects (tcp_disconnect).
    unsafe {
        let mut sa: libc::sockaddr = core::mem::zeroed();
        sa.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
        real::connect(
            fd,
            &sa,
            core::mem::size_of::<libc::sockaddr>() as libc::socklen_t,
        );
    }
    saved.restore();
}

/// Calls `f(fd, ev)` for each socket of the program's wait.
pub type Each<'a> = &'a mut dyn FnMut(&mut dyn FnMut(c_int, u8));

/// Runs one wait of the program (`api` names it in the timeout log).
/// `prog_deadline`: when its own timeout ends (NEVER: none). `each` lists the descriptors it waits on.
/// `real_wait(timeout_ns)` makes the real call (NEVER: no timeout), as
/// the program asked for it but for the timeout.
pub fn run(
    api: &'static str,
    now: u64,
    prog_deadline: u64,
    each: Each,
    real_wait: &mut dyn FnMut(u64) -> c_int,
) -> c_int {
    let mut ours = NEVER;
    each(&mut |fd, ev| ours = ours.min(begin(fd, ev, now)));
    if ours == NEVER {
        return real_wait(remaining(prog_deadline, now));
    }
    let mut now = now;
    let r = loop {
        let until = ours.min(prog_deadline);
        let r = real_wait(remaining(until, now));
        if r != 0 {
            break r;
        }
        now = now_ns();
        if prog_deadline != NEVER && now >= prog_deadline {
            break 0;
        }
        if now < ours {
            continue;
        }
        let mut expired = false;
        ours = NEVER;
        each(&mut |fd, ev| match check(fd, ev, now) {
            Check::Expired(t) => {
                // Logged before the abort, while getpeername still answers.
                crate::log::timed_out(api, fd, t);
                abort(fd);
                expired = true;
            }
            Check::Pending(d) => ours = ours.min(d),
            Check::NotTimed => {}
        });
        if expired {
            break real_wait(0);
        }
    };
    let saved = SavedErrno::save();
    let t = now_ns();
    each(&mut |fd, ev| end(fd, ev, t));
    saved.restore();
    r
}

/// Time left until `deadline` (NEVER stays NEVER).
fn remaining(deadline: u64, now: u64) -> u64 {
    if deadline == NEVER {
        NEVER
    } else {
        deadline.saturating_sub(now)
    }
}

/// Nanoseconds to a poll/epoll timeout in ms, rounded up (never early).
pub fn to_ms(ns: u64) -> c_int {
    if ns == NEVER {
        -1
    } else {
        ns.div_ceil(1_000_000).min(i32::MAX as u64) as c_int
    }
}

pub fn to_timespec(ns: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as _,
    }
}

/// A program's timespec timeout as a deadline (null: NEVER).
///
/// # Safety
/// `ts` is null or points to a valid timespec.
pub unsafe fn deadline_ts(now: u64, ts: *const libc::timespec) -> u64 {
    if ts.is_null() {
        return NEVER;
    }
    // SAFETY: per the contract.
    let ts = unsafe { *ts };
    if ts.tv_sec < 0 || ts.tv_nsec < 0 {
        return now; // the kernel says EINVAL; the real call will too
    }
    now.saturating_add((ts.tv_sec as u64).saturating_mul(1_000_000_000))
        .saturating_add(ts.tv_nsec as u64)
}

/// A poll/epoll timeout in ms as a deadline (negative: NEVER).
pub fn deadline_ms(now: u64, ms: c_int) -> u64 {
    if ms < 0 {
        NEVER
    } else {
        now.saturating_add(ms as u64 * 1_000_000)
    }
}
