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

/// The timeouts that may apply to a wait for each `ev` (1..=3) before the
/// socket's state is known: the smallest (for the first deadline) and the
/// largest (for the rule that a period carries on across waits). Computed
/// once per wait. (0, 0): not timed.
struct Bounds([(u64, u64); 4]);

impl Bounds {
    fn from_config() -> Bounds {
        let c = CONNECT_NS.load(Relaxed);
        let r = READ_NS.load(Relaxed);
        let w = WRITE_NS.load(Relaxed);
        let one = |ev: u8| {
            let (mut lo, mut hi) = (NEVER, 0);
            let ts = [
                c,
                if ev & IN != 0 { r } else { 0 },
                if ev & OUT != 0 { w } else { 0 },
            ];
            for t in ts.into_iter().filter(|&t| t != 0) {
                lo = lo.min(t);
                hi = hi.max(t);
            }
            if hi == 0 { (0, 0) } else { (lo, hi) }
        };
        Bounds([(0, 0), one(IN), one(OUT), one(IN | OUT)])
    }

    #[inline(always)]
    fn get(&self, ev: u8) -> (u64, u64) {
        self.0[(ev & 3) as usize]
    }

    /// The longest timeout of all: how long a wait must have lasted before
    /// its end is worth recording.
    fn longest(&self) -> u64 {
        self.0[3].1
    }
}

/// The slot of `fd` if it is a TCP socket we may time in a wait.
#[inline(always)]
fn tcp_slot(fd: c_int) -> Option<&'static fdtable::Slot> {
    match fdtable::slot(fd) {
        Some(s) if s.class() == TCP => Some(s),
        Some(s) if s.class() != fdtable::UNKNOWN => None,
        _ => tcp_slot_slow(fd),
    }
}

#[cold]
#[inline(never)]
fn tcp_slot_slow(fd: c_int) -> Option<&'static fdtable::Slot> {
    (fdtable::class(fd) == TCP)
        .then(|| fdtable::slot_alloc(fd))
        .flatten()
}

/// The program starts a wait on `fd` for `ev`: starts or continues the
/// socket's idle periods; returns a first estimate of the deadline
/// (NEVER: not timed).
#[inline(always)]
fn begin(fd: c_int, ev: u8, now: u64, b: &Bounds) -> u64 {
    let (lo, hi) = b.get(ev);
    if lo == 0 {
        return NEVER;
    }
    let Some(s) = tcp_slot(fd) else {
        return NEVER;
    };
    let mut since = 0;
    if ev & IN != 0 {
        since = s.rx.begin_wait(now, hi);
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
/// peer's progress, and decide. `floor`: where the idle period starts at
/// the earliest (epoll: the set's wait, the registration); None: the
/// socket's own clocks for the directions waited on (poll, select).
fn check(fd: c_int, ev: u8, now: u64, floor: Option<u64>) -> Check {
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
    // Idle since the later of: the start of the wait's period, and the
    // peer's last progress in either direction (curl waits for the reply
    // while it uploads, often as two pollfds for one socket: the upload's
    // acks keep the socket alive). T is the smaller of the timeouts that
    // apply.
    let mut since = s.note_progress(&info);
    let mut t = NEVER;
    for (bit, clock, t_dir) in [(IN, &s.rx, t_in), (OUT, &s.tx, t_out)] {
        if ev & bit != 0 {
            if floor.is_none() {
                since = clock.advance(since.max(clock.current(now)));
            }
            if t_dir != 0 {
                t = t.min(t_dir);
            }
        }
    }
    if let Some(f) = floor {
        since = since.max(f);
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

/// The descriptors a program's wait covers.
pub trait WaitSet {
    /// Calls `f(fd, ev)` for each descriptor waited on for IN and/or OUT.
    fn each(&self, f: &mut impl FnMut(c_int, u8));
}

/// Expires what is due: logs, aborts. Returns (whether any expired, the
/// earliest deadline still pending).
fn expire_due(api: &'static str, fd: c_int, c: Check, expired: &mut bool, next: &mut u64) {
    match c {
        Check::Expired(t) => {
            // Logged before the abort, while getpeername still answers.
            crate::log::timeout(api, fd, t);
            abort(fd);
            *expired = true;
        }
        Check::Pending(d) => *next = (*next).min(d),
        Check::NotTimed => {}
    }
}

/// Runs one poll or select of the program (`api` names it in the timeout
/// log). `prog_deadline`: when its own timeout ends (NEVER: none).
/// `real_wait(timeout_ns)` makes the real call (NEVER: no timeout), as the
/// program asked for it but for the timeout.
pub fn run<W: WaitSet>(
    api: &'static str,
    now: u64,
    prog_deadline: u64,
    set: &W,
    real_wait: &mut dyn FnMut(u64) -> c_int,
) -> c_int {
    let b = Bounds::from_config();
    let mut ours = NEVER;
    set.each(&mut |fd, ev| ours = ours.min(begin(fd, ev, now, &b)));
    if ours == NEVER {
        return real_wait(remaining(prog_deadline, now));
    }
    let start = now;
    let mut now = now;
    let r = loop {
        let r = real_wait(remaining(ours.min(prog_deadline), now));
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
        let (mut expired, mut next) = (false, NEVER);
        set.each(&mut |fd, ev| {
            expire_due(api, fd, check(fd, ev, now, None), &mut expired, &mut next)
        });
        ours = next;
        if expired {
            break real_wait(0);
        }
    };
    // Record the end of a long wait: the next one carries the periods on
    // if it comes within T of this end (not of this start). A short wait
    // needs no second pass: its start is close enough.
    let saved = SavedErrno::save();
    let t = now_ns();
    if t.saturating_sub(start) > b.longest() / 16 {
        set.each(&mut |fd, ev| end(fd, ev, t));
    }
    saved.restore();
    r
}

/// Runs one epoll wait of the program on set `epfd`.
///
/// The set lives in the kernel and may hold thousands of sockets, most of
/// them idle: touching each one on every wait would cost more than the
/// wait. So the set keeps a lower bound of its members' earliest deadline
/// (`ep_next`); a wait before it touches no member at all. A member's idle
/// period starts no earlier than the set's wait period (the program waiting
/// on the set), its registration (epoll_ctl) and the peer's last progress
/// (TCP_INFO, read only for members whose estimated deadline passed).
pub fn run_epoll(
    api: &'static str,
    epfd: c_int,
    now: u64,
    prog_deadline: u64,
    real_wait: &mut dyn FnMut(u64) -> c_int,
) -> c_int {
    let Some(e) = fdtable::slot(epfd) else {
        return real_wait(remaining(prog_deadline, now));
    };
    let b = Bounds::from_config();
    let clock = e.set_clock();
    let set_since = clock.begin_wait(now, b.longest());
    let mut ours = e.ep_next.load(Relaxed);
    if ours == 0 {
        ours = scan_epoll(api, epfd, set_since, now, &b, false).1;
        e.ep_next.store(ours, Relaxed);
    }
    let mut now = now;
    let r = loop {
        let r = real_wait(remaining(ours.min(prog_deadline), now));
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
        let (expired, next) = scan_epoll(api, epfd, set_since, now, &b, true);
        e.ep_next.store(next, Relaxed);
        ours = next;
        if expired {
            break real_wait(0);
        }
    };
    clock.end_wait(now_ns());
    r
}

/// Goes over the members of `epfd`: their estimated deadlines from what is
/// known without a system call, and, with `act`, a real check (and the
/// abort) for those whose estimate passed. Returns (any expired, earliest
/// pending deadline).
fn scan_epoll(
    api: &'static str,
    epfd: c_int,
    set_since: u64,
    now: u64,
    b: &Bounds,
    act: bool,
) -> (bool, u64) {
    let (mut expired, mut next) = (false, NEVER);
    fdtable::ep_members(epfd, &mut |fd, events| {
        let ev = epoll_ev(events);
        let (lo, _) = b.get(ev);
        let Some(s) = fdtable::slot(fd).filter(|s| lo != 0 && s.class() == TCP) else {
            return;
        };
        let floor = set_since.max(s.ep_joined.load(Relaxed));
        let estimate = floor.max(s.last_progress()).saturating_add(lo);
        if estimate > now || !act {
            next = next.min(estimate);
            return;
        }
        expire_due(
            api,
            fd,
            check(fd, ev, now, Some(floor)),
            &mut expired,
            &mut next,
        );
    });
    (expired, next)
}

/// What an epoll registration waits for, in watch terms.
pub fn epoll_ev(events: u32) -> u8 {
    let mut ev = 0;
    if events & (libc::EPOLLIN | libc::EPOLLRDNORM) as u32 != 0 {
        ev |= IN;
    }
    if events & (libc::EPOLLOUT | libc::EPOLLWRNORM) as u32 != 0 {
        ev |= OUT;
    }
    ev
}

/// epoll_ctl added (or modified) TCP socket `fd` in `epfd`. A new
/// registration, or one that now waits for another direction, starts the
/// socket's idle period no earlier than now; re-arming with the same
/// directions (a loop that MODs before every wait) changes nothing. Keeps
/// the set's bound of the earliest deadline true (it can only be lowered
/// here: a shorter T for the new events).
pub fn epoll_joined(epfd: c_int, fd: c_int, events: u32) {
    let now = now_ns();
    let (lo, _) = Bounds::from_config().get(epoll_ev(events));
    let same = fdtable::slot(fd).is_some_and(|s| {
        s.ep_fd.load(Relaxed) == epfd + 1 && epoll_ev(s.ep_events.load(Relaxed)) == epoll_ev(events)
    });
    fdtable::ep_join(epfd, fd, events);
    if same {
        return;
    }
    if let (Some(s), Some(e)) = (fdtable::slot(fd), fdtable::slot(epfd)) {
        s.ep_joined.store(now, Relaxed);
        if lo != 0 {
            let next = e.ep_next.load(Relaxed);
            // 0 is "unknown": the next wait scans anyway.
            if next != 0 {
                e.ep_next
                    .fetch_min(now.saturating_add(lo).min(next), Relaxed);
            }
        }
    }
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
