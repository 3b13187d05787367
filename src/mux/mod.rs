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
//!
//! Files: this one runs poll and select (`run`, the memo pass); `check`
//! holds the verdict on a due socket and the wait loop; `epoll` runs epoll
//! waits and the sets nested in a wait. `check` imports nothing from the
//! other two, `epoll` only from `check`.

mod check;
mod epoll;

pub use check::{IN, OUT};
pub use epoll::{epoll_ev, epoll_joined, epoll_joined_other, run_epoll};

use crate::fdtable::{self, EPOLL, TCP, memo};
use crate::sys::{Deadline, Instant, Nanos, keeping_errno};
use check::{Bounds, Events, act, check, dirs, tcp_slot, wait_until_due};
use epoll::{begin_nested, check_nested};
use libc::c_int;

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
    let (ours, mut kept) = begin_all(set, now, &b);
    if ours.is_never() {
        return real_wait(prog.remaining(now));
    }
    let start = now;
    let seq = fdtable::sequence();
    let r = wait_until_due(now, prog, ours, Events::Repeat, real_wait, |now| {
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
        // The memo's bound follows (a later one: see `begin_all`).
        if let Some((k, v)) = kept {
            kept = memo::again(k, v).map(|mut c| {
                c.set_due(next.raw());
                (k, c.version())
            });
        }
        (expired, next)
    });
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
