//! When a waited-on socket is due: the timeouts that may apply to a wait
//! (`Bounds`), where a socket's idle period starts, the verdict from
//! TCP_INFO when an estimated deadline passes (`Due`), acting on it (log
//! and abort), and the loop that repeats the real wait until then.

use crate::config::{self, CONNECT_NS, READ_NS, WRITE_NS};
use crate::fdtable::{self, ABORTED, LISTEN, Slot, TCP};
use crate::sys::sockopt::{abort, queued_in, tcp_info, tcp_state};
use crate::sys::{Deadline, Instant, Nanos};
use core::sync::atomic::Ordering::Relaxed;
use libc::c_int;

/// The program waits for the socket to become readable / writable.
pub const IN: u8 = 1;
pub const OUT: u8 = 2;

/// The timeouts that may apply to a wait for each `ev` (1..=3) before the
/// socket's state is known: the smallest (for the first deadline) and the
/// largest (for the rule that a period carries on across waits). Computed
/// once per wait from the configuration. `None`: not timed.
pub(super) struct Bounds([(u64, u64); 4]);

impl Bounds {
    #[inline(always)]
    pub(super) fn from_config() -> Bounds {
        let c = CONNECT_NS.load(Relaxed);
        let r = READ_NS.load(Relaxed);
        let w = WRITE_NS.load(Relaxed);
        // Stored raw, (0, 0) for "not timed": this runs on every wait.
        let one = |ev: u8| {
            let (mut lo, mut hi) = (u64::MAX, 0);
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

    /// The smallest and largest timeout for `ev`; `None`: not timed.
    #[inline(always)]
    pub(super) fn get(&self, ev: u8) -> Option<(Nanos, Nanos)> {
        let (lo, hi) = self.0[(ev & 3) as usize];
        (hi != 0).then_some((Nanos(lo), Nanos(hi)))
    }

    /// The longest timeout of all: how long a wait must have lasted before
    /// its end is worth recording.
    pub(super) fn longest(&self) -> Nanos {
        Nanos(self.0[3].1)
    }

    /// The shortest timeout of all (u64::MAX: none).
    pub(super) fn shortest(&self) -> u64 {
        self.0[3].0
    }
}

/// The slot of `fd` if it is a TCP socket we may time in a wait.
#[inline(always)]
pub(super) fn tcp_slot(fd: c_int) -> Option<&'static Slot> {
    match fdtable::slot(fd) {
        Some(s) if s.class() == TCP => Some(s),
        Some(s) if s.class() != fdtable::UNKNOWN => None,
        _ => tcp_slot_slow(fd),
    }
}

#[cold]
#[inline(never)]
fn tcp_slot_slow(fd: c_int) -> Option<&'static Slot> {
    (crate::classify::class(fd) == TCP)
        .then(|| fdtable::slot_alloc(fd))
        .flatten()
}

/// Where a socket's idle deadline stands, looked at for real.
pub(super) enum Due {
    /// Not a socket this wait times (any more).
    Untimed,
    /// Not yet: the deadline.
    At(Deadline),
    /// Passed: the timeout that applied.
    Passed(Nanos),
}

/// The directions of `ev`, with their clocks.
pub(super) fn dirs(ev: u8) -> impl Iterator<Item = crate::sys::Dir> {
    [(IN, crate::sys::Dir::In), (OUT, crate::sys::Dir::Out)]
        .into_iter()
        .filter(move |(bit, _)| ev & bit != 0)
        .map(|(_, d)| d)
}

/// Where the idle period of `s` for `ev` starts, from what is known
/// without a system call: the later of the directions' clocks (a
/// direction whose bytes moved since starts now), `floor` (epoll: the
/// set's wait period, the registration) and the peer's last progress seen.
pub(super) fn idle_start(s: &Slot, ev: u8, now: Instant, floor: Option<Instant>) -> Instant {
    let f = floor.unwrap_or(Instant::NEVER_HAPPENED);
    let mut since = f.max(s.last_progress());
    for d in dirs(ev) {
        since = since.max(s.clock(d).refresh(f, now));
    }
    since
}

/// Does the wait still cover the socket it started with? (`seq`: the
/// fdtable sequence at the wait's start; a close, dup2 or reuse of the
/// number through a hook since then gives the slot a higher generation.)
#[inline(always)]
pub(super) fn same_socket(fd: c_int, seq: u64) -> bool {
    !fdtable::changed_since(fd, seq)
}

/// An estimated deadline may have passed: decide from what is known
/// without a system call, and look at the socket's real state and the
/// peer's progress only if the estimate passed. `floor`: where the idle
/// period starts at the earliest (epoll: the set's wait, the
/// registration); None for poll and select.
pub(super) fn check(
    fd: c_int,
    ev: u8,
    now: Instant,
    floor: Option<Instant>,
    b: &Bounds,
    seq: u64,
) -> Due {
    let Some(s) = fdtable::slot(fd).filter(|s| s.class() == TCP) else {
        return Due::Untimed;
    };
    let Some((lo, _)) = b.get(ev) else {
        return Due::Untimed;
    };
    if !same_socket(fd, seq) {
        return Due::Untimed;
    }
    let estimate = Deadline::at(idle_start(s, ev, now, floor).plus(lo));
    if !estimate.passed(now) {
        return Due::At(estimate);
    }
    let Some(info) = tcp_info(fd, now) else {
        return Due::Untimed;
    };
    let connecting = match info.state {
        tcp_state::LISTEN => {
            fdtable::set_class(fd, LISTEN);
            return Due::Untimed;
        }
        tcp_state::CLOSE => return Due::Untimed,
        tcp_state::SYN_SENT | tcp_state::SYN_RECV => true,
        _ => false,
    };
    // The peer's progress in either direction (curl waits for the reply
    // while it uploads, often as two pollfds for one socket: the upload's
    // acks keep the socket alive) moves the clocks waited on.
    let p = s.note_progress(&info, now);
    for d in dirs(ev) {
        s.clock(d).advance(p);
    }
    let mut ev = ev;
    if !connecting && !info.queued_out {
        // Nothing of ours is waiting to be sent or acknowledged: waiting
        // for room to write is not idle writing (a loop that registers
        // every connection with IN|OUT).
        ev &= !OUT;
    }
    let timeout = |ev: u8| -> Option<Nanos> {
        let (t_in, t_out) = if connecting {
            let c = config::get(&CONNECT_NS);
            (c, c)
        } else {
            (config::get(&READ_NS), config::get(&WRITE_NS))
        };
        let t_in = t_in.filter(|_| ev & IN != 0);
        let t_out = t_out.filter(|_| ev & OUT != 0);
        match (t_in, t_out) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        }
    };
    let verdict = |ev: u8| -> Result<Due, Nanos> {
        match timeout(ev) {
            // Not idle in any direction timed: look again after T.
            None => Ok(Due::At(Deadline::at(now.plus(lo)))),
            Some(t) => {
                let d = Deadline::at(idle_start(s, ev, now, floor).plus(t));
                if d.passed(now) {
                    Err(t)
                } else {
                    Ok(Due::At(d))
                }
            }
        }
    };
    match verdict(ev) {
        Ok(d) => d,
        Err(t) => {
            // Bytes the program has not read yet: the peer delivered, the
            // socket is not idle for reading (an abort would destroy them).
            if !connecting && ev & IN != 0 && queued_in(fd).is_some_and(|n| n > 0) {
                s.clock(crate::sys::Dir::In).advance(now);
                return verdict(ev & !IN).unwrap_or_else(Due::Passed);
            }
            Due::Passed(t)
        }
    }
}

/// Aborts the connection and marks the socket aborted. The kernel wakes
/// every waiter with an error (sk_error_report).
fn abort_waited(fd: c_int) {
    fdtable::set_class(fd, ABORTED);
    abort(fd);
}

/// Acts on one verdict: a passed deadline is logged and the connection
/// aborted (`expired` set); a pending one lowers `next`.
pub(super) fn act(api: &'static str, fd: c_int, d: Due, expired: &mut bool, next: &mut Deadline) {
    match d {
        Due::Passed(t) => {
            // Logged before the abort, while getpeername still answers.
            crate::log::timeout(api, fd, t);
            abort_waited(fd);
            *expired = true;
        }
        Due::At(d) => *next = (*next).min(d),
        Due::Untimed => {}
    }
}

/// What a wait does when it returns with events and sockets aborted.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Events {
    /// Level-triggered (poll, select): the wait is repeated with a zero
    /// timeout, which reports the events of the first call again with the
    /// aborted sockets.
    Repeat,
    /// epoll: the events returned stay the program's (edge-triggered ones
    /// would not come again); an aborted member is reported by the next
    /// wait.
    Keep,
}

/// Makes the real wait until the program's deadline `prog`, an event or
/// an abort. `ours`: the earliest idle deadline (a lower bound); when it
/// passes, `rescan(now)` checks the due sockets (and aborts the idle ones)
/// and returns (any aborted, the next deadline). Due sockets are looked at
/// on every return, events or not: a socket busy at every wake-up must not
/// hide an idle one. After an abort, the wait is made once more with a
/// zero timeout, so that the kernel reports the aborted sockets.
#[inline(always)]
pub(super) fn wait_until_due(
    mut now: Instant,
    prog: Deadline,
    mut ours: Deadline,
    events: Events,
    real_wait: &mut dyn FnMut(Option<Nanos>) -> c_int,
    mut rescan: impl FnMut(Instant) -> (bool, Deadline),
) -> c_int {
    loop {
        let r = real_wait(ours.min(prog).remaining(now));
        if r < 0 {
            return r;
        }
        now = Instant::now();
        if r == 0 && prog.passed(now) {
            return 0;
        }
        if !ours.passed(now) {
            if r > 0 {
                return r;
            }
            continue;
        }
        let (expired, next) = rescan(now);
        ours = next;
        if r > 0 && events == Events::Keep {
            return r;
        }
        if expired {
            return real_wait(Some(Nanos::ZERO));
        }
        if r > 0 {
            return r;
        }
    }
}
