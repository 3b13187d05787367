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

use crate::config::{self, CONNECT_NS, READ_NS, WRITE_NS};
use crate::fdtable::{self, ABORTED, EPOLL, LISTEN, Slot, TCP, epoll, memo};
use crate::sys::sockopt::{abort, queued_in, tcp_info, tcp_state};
use crate::sys::{Deadline, Instant, Nanos, keeping_errno};
use core::sync::atomic::Ordering::Relaxed;
use libc::c_int;

/// The program waits for the socket to become readable / writable.
pub const IN: u8 = 1;
pub const OUT: u8 = 2;

/// The timeouts that may apply to a wait for each `ev` (1..=3) before the
/// socket's state is known: the smallest (for the first deadline) and the
/// largest (for the rule that a period carries on across waits). Computed
/// once per wait from the configuration. `None`: not timed.
struct Bounds([(u64, u64); 4]);

impl Bounds {
    #[inline(always)]
    fn from_config() -> Bounds {
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
    fn get(&self, ev: u8) -> Option<(Nanos, Nanos)> {
        let (lo, hi) = self.0[(ev & 3) as usize];
        (hi != 0).then_some((Nanos(lo), Nanos(hi)))
    }

    /// The longest timeout of all: how long a wait must have lasted before
    /// its end is worth recording.
    fn longest(&self) -> Nanos {
        Nanos(self.0[3].1)
    }

    /// The shortest timeout of all (u64::MAX: none).
    fn shortest(&self) -> u64 {
        self.0[3].0
    }
}

/// The slot of `fd` if it is a TCP socket we may time in a wait.
#[inline(always)]
fn tcp_slot(fd: c_int) -> Option<&'static Slot> {
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

/// The program starts a wait on `fd` for `ev`: starts or continues the
/// socket's idle periods; returns a first estimate of the deadline
/// (NEVER: not timed).
#[inline(always)]
fn begin(fd: c_int, ev: u8, now: Instant, b: &Bounds) -> Deadline {
    let Some((lo, hi)) = b.get(ev) else {
        return Deadline::NEVER;
    };
    let Some(s) = tcp_slot(fd) else {
        return begin_nested(fd, now, b);
    };
    let mut since = Instant::NEVER_HAPPENED;
    if ev & IN != 0 {
        since = s.clock(crate::sys::Dir::In).begin_wait(now, hi);
    }
    if ev & OUT != 0 {
        since = since.max(s.clock(crate::sys::Dir::Out).begin_wait(now, hi));
    }
    Deadline::at(since.plus(lo))
}

/// An epoll set in a poll array or select set (libuv's fd in glib's
/// loop): the wait waits on its members. Starts or continues the set's
/// wait period (their floor, as in `run_epoll`) and returns the set's
/// bound of their earliest deadline (scanned if unknown).
#[cold]
#[inline(never)]
fn begin_nested(fd: c_int, now: Instant, b: &Bounds) -> Deadline {
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

/// The wait is over: a later wait within T carries the periods on.
fn end(fd: c_int, ev: u8, now: Instant) {
    if let Some(e) = fdtable::slot(fd).filter(|e| e.class() == EPOLL) {
        e.set_clock().end_wait(now);
        return;
    }
    if let Some(s) = fdtable::slot(fd) {
        if ev & IN != 0 {
            s.clock(crate::sys::Dir::In).end_wait(now);
        }
        if ev & OUT != 0 {
            s.clock(crate::sys::Dir::Out).end_wait(now);
        }
    }
}

/// Where a socket's idle deadline stands, looked at for real.
enum Due {
    /// Not a socket this wait times (any more).
    Untimed,
    /// Not yet: the deadline.
    At(Deadline),
    /// Passed: the timeout that applied.
    Passed(Nanos),
}

/// The directions of `ev`, with their clocks.
fn dirs(ev: u8) -> impl Iterator<Item = crate::sys::Dir> {
    [(IN, crate::sys::Dir::In), (OUT, crate::sys::Dir::Out)]
        .into_iter()
        .filter(move |(bit, _)| ev & bit != 0)
        .map(|(_, d)| d)
}

/// Where the idle period of `s` for `ev` starts, from what is known
/// without a system call: the later of the directions' clocks (a
/// direction whose bytes moved since starts now), `floor` (epoll: the
/// set's wait period, the registration) and the peer's last progress seen.
fn idle_start(s: &Slot, ev: u8, now: Instant, floor: Option<Instant>) -> Instant {
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
fn same_socket(fd: c_int, seq: u64) -> bool {
    !fdtable::changed_since(fd, seq)
}

/// An estimated deadline may have passed: decide from what is known
/// without a system call, and look at the socket's real state and the
/// peer's progress only if the estimate passed. `floor`: where the idle
/// period starts at the earliest (epoll: the set's wait, the
/// registration); None for poll and select.
fn check(fd: c_int, ev: u8, now: Instant, floor: Option<Instant>, b: &Bounds, seq: u64) -> Due {
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

/// The descriptors a program's wait covers.
pub trait WaitSet {
    /// Calls `f(fd, ev)` for each descriptor waited on for IN and/or OUT.
    fn each(&self, f: &mut impl FnMut(c_int, u8));
    /// The key of the wait's memo (the array's address and size); None:
    /// not worth one.
    fn memo_key(&self) -> Option<[usize; 3]> {
        None
    }
    /// Does `snap` (from `snapshot`) still describe this wait? Loads only.
    fn same(&self, _snap: &[u64]) -> bool {
        false
    }
    /// What the wait covers, into `out`; its length (None: too large).
    fn snapshot(&self, _out: &mut [u64]) -> Option<usize> {
        None
    }
    /// Calls `f(fd)` for each descriptor of a snapshot.
    fn snap_fds(_snap: &[u64], _f: &mut impl FnMut(c_int)) {}
}

/// Starts the wait on every descriptor of `set`; returns the earliest
/// deadline (a lower bound) and the memo used, if any (its index and
/// version, to store the checks' deadline in after the real call).
///
/// The memo (`fdtable::memo`) spares the pass over every socket when the
/// program waits on the same array as last time. Invariant: the memo's
/// deadline is a lower bound of every deadline a full pass would find now.
/// It was the earliest one at the pass, and with the array unchanged
/// (compared entry by entry) a deadline only ever moves later: progress
/// moves a period's start later, a spent period starts afresh later, a
/// refresh or a blocking call's begin only restart periods. What a full
/// pass would also do, and the memo must not skip, is start again the
/// periods that ended (bytes moved: the next wait starts a new one) or
/// were spent: those clocks are queued to the memo (`Clock::watch`) and
/// started here, one by one. Any other change falls back to a full pass:
/// a descriptor created, closed or dup2'd over anywhere (`sequence`), a lost
/// queue entry, an epoll set in the array (its bound may be lowered by an
/// epoll_ctl), and, so that the periods' last-wait marks stay fresh (the
/// rule that a period carries on across waits within T), a pass older than
/// a sixteenth of the shortest timeout. Due sockets are still checked on
/// every return: the bound decides when, as before.
fn begin_all<W: WaitSet>(set: &W, now: Instant, b: &Bounds) -> (Deadline, Option<(usize, u64)>) {
    let Some(key) = set.memo_key() else {
        return (begin_plain(set, now, b), None);
    };
    let claim = match memo::find(key) {
        Some(c) => {
            if let Some(d) = memo_hit(&c, set, now, b) {
                return (d, Some((c.index(), c.version())));
            }
            Some(c)
        }
        None => memo::victim(now.0, b.shortest() / 16),
    };
    let Some(mut c) = claim else {
        return (begin_plain(set, now, b), None);
    };
    // The clocks the memo watched: no longer (the array may have changed).
    let bit = c.bit();
    W::snap_fds(c.snap(), &mut |fd| {
        if let Some(s) = fdtable::slot(fd) {
            s.clock(crate::sys::Dir::In).watch(bit, false);
            s.clock(crate::sys::Dir::Out).watch(bit, false);
        }
    });
    c.clear();
    c.skip_queued();
    let seq = fdtable::sequence();
    let len = set.snapshot(c.snap_mut());
    let (mut ours, mut nested) = (Deadline::NEVER, false);
    set.each(&mut |fd, ev| {
        // Watched before the period is read, so that bytes moving right
        // after are queued.
        let watch = |on| {
            if let Some(s) = fdtable::slot(fd).filter(|s| s.class() == TCP) {
                for d in dirs(ev) {
                    s.clock(d).watch(bit, on);
                }
            }
        };
        watch(true);
        ours = ours.min(begin(fd, ev, now, b));
        watch(true);
        nested |= fdtable::hint(fd) == EPOLL;
    });
    match len {
        Some(len) if !nested => {
            c.store(key, len, seq, now.0, ours.raw());
            (ours, Some((c.index(), c.version())))
        }
        _ => (ours, None),
    }
}

fn begin_plain<W: WaitSet>(set: &W, now: Instant, b: &Bounds) -> Deadline {
    let mut ours = Deadline::NEVER;
    set.each(&mut |fd, ev| ours = ours.min(begin(fd, ev, now, b)));
    ours
}

/// The memo's deadline if it still holds for this wait (see `begin_all`),
/// the periods that ended since started now.
#[inline(always)]
fn memo_hit<W: WaitSet>(c: &memo::Claim, set: &W, now: Instant, b: &Bounds) -> Option<Deadline> {
    let (seq, at, due) = c.state();
    if due == 0 || seq != fdtable::sequence() || now.0.saturating_sub(at) > b.shortest() / 16 {
        return None;
    }
    if !set.same(c.snap()) {
        return None;
    }
    let t = b.longest();
    fdtable::memo_drain(c, &mut |clock| {
        clock.begin_wait(now, t);
    })
    .then_some(Deadline::from_raw(due))
}

/// Acts on one verdict: a passed deadline is logged and the connection
/// aborted (`expired` set); a pending one lowers `next`.
fn act(api: &'static str, fd: c_int, d: Due, expired: &mut bool, next: &mut Deadline) {
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

/// Runs one poll or select of the program (`api` names it in the timeout
/// log). `prog`: when its own timeout ends. `real_wait(timeout)` makes the
/// real call (`None`: no timeout), as the program asked for it but for the
/// timeout.
pub fn run<W: WaitSet>(
    api: &'static str,
    now: Instant,
    prog: Deadline,
    set: &W,
    real_wait: &mut dyn FnMut(Option<Nanos>) -> c_int,
) -> c_int {
    let b = Bounds::from_config();
    let (mut ours, mut kept) = begin_all(set, now, &b);
    if ours.is_never() {
        return real_wait(prog.remaining(now));
    }
    let start = now;
    let seq = fdtable::sequence();
    let mut now = now;
    let r = loop {
        let r = real_wait(ours.min(prog).remaining(now));
        if r < 0 {
            break r;
        }
        now = Instant::now();
        if r == 0 && prog.passed(now) {
            break 0;
        }
        // Due sockets are looked at on every return, events or not: a
        // socket busy at every wake-up must not hide an idle one.
        if !ours.passed(now) {
            if r > 0 {
                break r;
            }
            continue;
        }
        let (mut expired, mut next) = (false, Deadline::NEVER);
        set.each(&mut |fd, ev| {
            if fdtable::hint(fd) == EPOLL {
                check_nested(api, fd, now, &b, seq, &mut expired, &mut next);
                return;
            }
            act(
                api,
                fd,
                check(fd, ev, now, None, &b, seq),
                &mut expired,
                &mut next,
            )
        });
        ours = next;
        // The memo's bound follows (a later one: see `begin_all`).
        if let Some((k, v)) = kept {
            kept = memo::again(k, v).map(|mut c| {
                c.set_due(next.raw());
                (k, c.version())
            });
        }
        if expired {
            // Level-triggered: the repeated call reports the events of the
            // first one again, with the aborted sockets.
            break real_wait(Some(Nanos::ZERO));
        }
        if r > 0 {
            break r;
        }
    };
    // Record the end of a long wait: the next one carries the periods on
    // if it comes within T of this end (not of this start). A short wait
    // needs no second pass: its start is close enough.
    keeping_errno(|| {
        let t = Instant::now();
        if t.since(start).0 > b.longest().0 / 16 {
            set.each(&mut |fd, ev| end(fd, ev, t));
        }
    });
    r
}

/// An epoll set in a poll or select whose bound passed: its members are
/// checked (and aborted) as in an epoll wait on it; the kernel then reports
/// the set readable.
fn check_nested(
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
    let mut ours = match epoll::next_due(e) {
        Some(d) => d,
        None => {
            let d = scan_epoll(api, epfd, set_since, now, &b, None, 0).1;
            epoll::set_next_due(e, d);
            d
        }
    };
    let seq = fdtable::sequence();
    let mut now = now;
    let r = loop {
        let r = real_wait(ours.min(prog).remaining(now));
        if r < 0 {
            break r;
        }
        now = Instant::now();
        if r == 0 && prog.passed(now) {
            break 0;
        }
        // Due members are looked at on every return (see `run`).
        if !ours.passed(now) {
            if r > 0 {
                break r;
            }
            continue;
        }
        let (expired, next) = scan_epoll(api, epfd, set_since, now, &b, Some(seq), 0);
        epoll::set_next_due(e, next);
        ours = next;
        if r > 0 {
            // The events returned stay the program's (edge-triggered ones
            // would not come again): an aborted member is reported by the
            // next wait.
            break r;
        }
        if expired {
            break real_wait(Some(Nanos::ZERO));
        }
    };
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
