//! epoll: the program's epoll waits (`run_epoll`), the scan of a set's
//! members against the set's bound of their earliest deadline, epoll sets
//! nested in a set or in a poll array, and the registrations (epoll_ctl).

use super::check::{
    Bounds, Events, IN, OUT, act, check, dirs, idle_start, same_socket, wait_until_due,
};
use crate::fdtable::{self, EPOLL, TCP, epoll};
use crate::sys::{Deadline, Instant, Nanos};
use libc::c_int;

/// An epoll set in a poll array or select set (libuv's fd in glib's
/// loop): the wait waits on its members. Starts or continues the set's
/// wait period (their floor, as in `run_epoll`) and returns the set's
/// bound of their earliest deadline (scanned if unknown).
#[cold]
#[inline(never)]
pub(super) fn begin_nested(fd: c_int, now: Instant, b: &Bounds) -> Deadline {
    let Some(e) = fdtable::slot(fd).filter(|e| e.class() == EPOLL && epoll::count(e) != 0) else {
        return Deadline::NEVER;
    };
    let since = e.set_clock().begin_wait(now, b.longest());
    epoll::next_due(e).unwrap_or_else(|| {
        let d = scan_epoll("", fd, since, now, b, None, 0).1;
        epoll::set_next_due(e, d);
        d
    })
}

/// An epoll set in a poll or select whose bound passed: its members are
/// checked (and aborted) as in an epoll wait on it; the kernel then reports
/// the set readable.
pub(super) fn check_nested(
    api: &'static str,
    fd: c_int,
    now: Instant,
    b: &Bounds,
    seq: u64,
    expired: &mut bool,
    next: &mut Deadline,
) {
    let Some(e) = fdtable::slot(fd).filter(|_| same_socket(fd, seq)) else {
        return;
    };
    let floor = Instant(e.set_clock().since_raw());
    let (x, n) = scan_epoll(api, fd, floor, now, b, Some(seq), 0);
    epoll::set_next_due(e, n);
    *expired |= x;
    *next = (*next).min(n);
}

/// Runs one epoll wait of the program on set `epfd`.
///
/// The set lives in the kernel and may hold thousands of sockets, most of
/// them idle: touching each one on every wait would cost more than the
/// wait. So the set keeps a lower bound of its members' earliest deadline
/// (`epoll::next_due`); a wait before it touches no member at all. A
/// member's idle period starts no earlier than the set's wait period (the
/// program waiting on the set), its registration (epoll_ctl) and the peer's
/// last progress (TCP_INFO, read only for members whose estimated deadline
/// passed).
pub fn run_epoll(
    api: &'static str,
    epfd: c_int,
    now: Instant,
    prog: Deadline,
    real_wait: &mut dyn FnMut(Option<Nanos>) -> c_int,
) -> c_int {
    let Some(e) = fdtable::slot(epfd) else {
        return real_wait(prog.remaining(now));
    };
    let b = Bounds::from_config();
    let clock = e.set_clock();
    let set_since = clock.begin_wait(now, b.longest());
    let ours = match epoll::next_due(e) {
        Some(d) => d,
        None => {
            let d = scan_epoll(api, epfd, set_since, now, &b, None, 0).1;
            epoll::set_next_due(e, d);
            d
        }
    };
    let seq = fdtable::sequence();
    let r = wait_until_due(now, prog, ours, Events::Keep, real_wait, |now| {
        let (expired, next) = scan_epoll(api, epfd, set_since, now, &b, Some(seq), 0);
        epoll::set_next_due(e, next);
        (expired, next)
    });
    clock.end_wait(Instant::now());
    r
}

/// Goes over the members of `epfd`: their estimated deadlines from what is
/// known without a system call, and, with `act_now` (the sequence at the
/// wait's start), a real check (and the abort) for those whose estimate
/// passed: only members due are looked at with a system call. Returns
/// (any expired, earliest pending deadline). A member whose bytes moved
/// since the last scan restarts its period at this scan, at most one scan
/// late: while such busy members are seen, scans come every T/8. A member
/// that is itself a set with TCP members (`depth`: how deep this one is
/// nested) is gone over the same way, its floor no earlier than when it
/// joined this one.
fn scan_epoll(
    api: &'static str,
    epfd: c_int,
    set_since: Instant,
    now: Instant,
    b: &Bounds,
    act_now: Option<u64>,
    depth: usize,
) -> (bool, Deadline) {
    let (mut expired, mut next) = (false, Deadline::NEVER);
    let mut busy_lo: Option<Nanos> = None;
    epoll::members(epfd, &mut |fd, s, events| {
        if s.class() == EPOLL {
            let live = act_now.is_none_or(|seq| same_socket(fd, seq));
            if depth < epoll::MAX_NEST && live && epoll::count(s) != 0 {
                let floor = set_since.max(epoll::joined_at(s));
                let (x, n) = scan_epoll(api, fd, floor, now, b, act_now, depth + 1);
                expired |= x;
                next = next.min(n);
            }
            return;
        }
        let ev = epoll_ev(events);
        let Some((lo, _)) = b.get(ev).filter(|_| s.class() == TCP) else {
            return;
        };
        if dirs(ev).any(|d| s.clock(d).since_raw() == 0) {
            busy_lo = Some(busy_lo.map_or(lo, |b| if b.0 <= lo.0 { b } else { lo }));
        }
        let floor = set_since.max(epoll::joined_at(s));
        let estimate = Deadline::at(idle_start(s, ev, now, Some(floor)).plus(lo));
        let Some(seq) = act_now.filter(|_| estimate.passed(now)) else {
            next = next.min(estimate);
            return;
        };
        act(
            api,
            fd,
            check(fd, ev, now, Some(floor), b, seq),
            &mut expired,
            &mut next,
        );
    });
    if let Some(lo) = busy_lo {
        next = next.min(Deadline::at(now.plus(Nanos(lo.0 / 8))));
    }
    (expired, next)
}

/// What an epoll registration waits for, in mux terms.
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
    let now = Instant::now();
    let lo = Bounds::from_config()
        .get(epoll_ev(events))
        .map(|(lo, _)| lo);
    let same = epoll::registered(epfd, fd).is_some_and(|old| epoll_ev(old) == epoll_ev(events));
    epoll::join(epfd, fd, events);
    if same {
        return;
    }
    if let (Some(s), Some(e)) = (fdtable::slot(fd), fdtable::slot(epfd)) {
        epoll::set_joined_at(s, now);
        // The member is waited on from now: its clocks run (a period
        // already running carries on).
        for d in dirs(epoll_ev(events)) {
            s.clock(d).current(now);
        }
        if let Some(lo) = lo {
            epoll::lower_next_due(e, Deadline::at(now.plus(lo)));
        }
    }
}

/// epoll_ctl added (or modified) `fd`, not a TCP socket, in `epfd`: it
/// may be an epoll set (nested, see `fdtable::epoll`); its members'
/// idle periods start no earlier than now in `epfd`.
pub fn epoll_joined_other(epfd: c_int, fd: c_int, events: u32) {
    epoll::join_other(epfd, fd, events);
    if let Some(s) = fdtable::slot(fd).filter(|s| s.class() == EPOLL) {
        epoll::set_joined_at(s, Instant::now());
    }
}
