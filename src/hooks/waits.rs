//! The waiting calls: poll, ppoll, select, pselect and glibc's fortified
//! __poll_chk, __ppoll_chk (the epoll waits: `epoll_waits`). Each passes
//! straight through (a tail call) when the library is off, when the wait is
//! a zero-timeout probe or has no descriptor, and, once the program's
//! memory is known good, when no descriptor in it may be a TCP socket;
//! otherwise `mux::run` makes the real call with the deadline applied.
//! The program's own timeout, signal mask and EINTR are kept: every real
//! call gets the program's mask, and a signal ends the wait as it would
//! have.
//!
//! The program's memory is the kernel's to read first, so that a bad
//! pointer is its EFAULT and never our SIGSEGV. A timed poll of up to 64
//! entries starts with a zero-timeout real poll of the program's array
//! (`probe`): it answers EFAULT for a bad array, and its events when some
//! are ready, which then stand as the first return of the wait (no call
//! added where data is ready; one where the wait blocks). select's sets
//! cannot be probed that way (the real call overwrites them, and the
//! library needs them after), so the kernel is asked whether it can read
//! them (`sys::mem::readable`) before they are copied; if not, the real
//! call alone answers. A poll array longer than 64 entries is checked the
//! same way (the probe would be a second pass of the kernel over it
//! whenever the wait blocks).
#![allow(clippy::missing_safety_doc)]

use super::fdsets::Sets;
use crate::classify::maybe_tcp;
use crate::config::ENABLED;
use crate::mux::{self, IN, OUT};
use crate::real;
use crate::sys::mem::readable;
use crate::sys::time::poll_ms;
use crate::sys::{Deadline, Instant, Nanos};
use core::sync::atomic::Ordering::Relaxed;
use libc::{c_int, fd_set, nfds_t, pollfd, sigset_t, size_t, timespec, timeval};

// ------------------------------------------------------------------ poll

/// What a pollfd waits for, in watch terms.
fn poll_ev(p: &pollfd) -> u8 {
    let mut ev = 0;
    if p.events & (libc::POLLIN | libc::POLLRDNORM) != 0 {
        ev |= IN;
    }
    if p.events & (libc::POLLOUT | libc::POLLWRNORM) != 0 {
        ev |= OUT;
    }
    ev
}

/// Any descriptor in the array that may be a TCP socket? Loads only.
///
/// # Safety
/// `fds` points to `n` pollfds (or n is 0).
#[inline(always)]
unsafe fn poll_has_tcp(fds: *const pollfd, n: nfds_t) -> bool {
    // SAFETY: per the contract.
    let fds = unsafe { slice(fds, n) };
    fds.iter().any(|p| p.fd >= 0 && maybe_tcp(p.fd))
}

/// # Safety
/// `p` points to `n` valid items (or n is 0).
unsafe fn slice<'a, T>(p: *const T, n: nfds_t) -> &'a [T] {
    if p.is_null() || n == 0 {
        &[]
    } else {
        // SAFETY: per the contract.
        unsafe { core::slice::from_raw_parts(p, n as usize) }
    }
}

/// A poll array as a mux::WaitSet.
struct PollSet {
    fds: *const pollfd,
    n: nfds_t,
}

/// A pollfd as one word: fd and events (revents, the kernel's, masked out).
const POLL_KEY: u64 = (1 << 48) - 1;
const _: () = assert!(core::mem::size_of::<pollfd>() == 8);

impl PollSet {
    /// The array as words (fd | events << 32 | revents << 48), if aligned.
    fn words(&self) -> Option<&[u64]> {
        if !(self.fds as usize).is_multiple_of(8) || self.fds.is_null() {
            return None;
        }
        // SAFETY: the caller's array of n pollfds, 8 bytes each (asserted),
        // aligned for u64 (checked); read only, while no real call runs.
        Some(unsafe { core::slice::from_raw_parts(self.fds as *const u64, self.n as usize) })
    }
}

impl mux::WaitSet for PollSet {
    fn memo_key(&self) -> Option<[usize; 3]> {
        // A short array costs less than the memo.
        (self.n >= 8 && self.n as usize <= crate::fdtable::memo::CAP).then_some([
            self.fds as usize,
            self.n as usize,
            0,
        ])
    }

    fn same(&self, snap: &[u64]) -> bool {
        let Some(w) = self.words().filter(|w| w.len() == snap.len()) else {
            return false;
        };
        // Branch-free, so that it vectorises (SSE2: about 2.5 instructions
        // a pollfd); revents masked once at the end (AND distributes over OR).
        let mut acc = [0u64; 8];
        let (wc, sc) = (w.chunks_exact(8), snap.chunks_exact(8));
        let tail = wc.remainder().iter().zip(sc.remainder());
        let mut rest = tail.fold(0, |acc, (a, b)| acc | (a ^ b));
        for (a, b) in wc.zip(sc) {
            for i in 0..8 {
                acc[i] |= a[i] ^ b[i];
            }
        }
        rest |= acc.iter().fold(0, |x, y| x | y);
        rest & POLL_KEY == 0
    }

    fn snapshot(&self, out: &mut [u64]) -> Option<usize> {
        let w = self.words().filter(|w| w.len() <= out.len())?;
        for (o, a) in out.iter_mut().zip(w) {
            *o = a & POLL_KEY;
        }
        Some(w.len())
    }

    fn snap_fds(snap: &[u64], f: &mut impl FnMut(c_int)) {
        for &v in snap {
            let fd = v as u32 as c_int;
            if fd >= 0 {
                f(fd);
            }
        }
    }

    fn each(&self, f: &mut impl FnMut(c_int, u8)) {
        // SAFETY: the caller's array (checked by the hook's contract); we
        // only read fd and events, which the real poll never changes.
        // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
        for p in unsafe { slice(self.fds, self.n) } {
            let ev = poll_ev(p);
            if p.fd >= 0 && ev != 0 {
                f(p.fd, ev);
            }
        }
    }
}

/// What the first look at a timed poll's array (`probe`) decided.
enum Probe {
    /// The probe's answer is the program's: an error (EFAULT for a bad
    /// array, errno set by the real call), or events on an array with no
    /// TCP socket.
    Done(c_int),
    /// Nothing ready and no TCP socket: the real wait alone.
    Plain,
    /// TCP sockets in the array (now known readable); the probe's count of
    /// ready entries (0: none), to stand as the first return of the wait.
    Watch(c_int),
}

/// The longest array that gets the zero-timeout probe. The probe is a
/// pass of the kernel over the whole array (about 0.1 µs an entry), paid
/// again by the real wait when that blocks: 1,000 idle sockets cost ~25 %
/// more CPU per blocking wait. A longer array is checked by granule
/// instead (`sys::mem::readable`: one call per 4 KiB, blocking or not).
const PROBE_MAX: nfds_t = 64;

/// Lets the kernel read a timed poll's array before the library does:
/// a short one with the zero-timeout probe (`zero_wait`), whose events,
/// if any, are the wait's first return (nothing added where data is
/// ready); a long one with the granule check.
///
/// # Safety
/// `fds`, `n` are the program's arguments, as `zero_wait` passes them on.
#[inline(always)]
unsafe fn probe(fds: *const pollfd, n: nfds_t, zero_wait: impl FnOnce() -> c_int) -> Probe {
    if n > PROBE_MAX {
        let len = (n as usize).saturating_mul(core::mem::size_of::<pollfd>());
        // SAFETY: after the kernel said it can read the n pollfds at fds.
        return if readable(&[(fds.cast(), len)]) && unsafe { poll_has_tcp(fds, n) } {
            Probe::Watch(0)
        } else {
            // Not readable: the real call answers (EFAULT).
            Probe::Plain
        };
    }
    let first = zero_wait();
    if first < 0 {
        return Probe::Done(first);
    }
    // SAFETY: the kernel has just read the n pollfds at fds.
    match (unsafe { poll_has_tcp(fds, n) }, first) {
        (true, _) => Probe::Watch(first),
        (false, 0) => Probe::Plain,
        (false, r) => Probe::Done(r),
    }
}

/// The watched poll: `real_wait(timeout_ns)` makes the real call; `first`,
/// if positive, the probe's events, given as the first call's return.
///
/// # Safety
/// `fds` points to `n` pollfds.
unsafe fn poll_watched(
    api: &'static str,
    fds: *mut pollfd,
    n: nfds_t,
    first: c_int,
    deadline: impl FnOnce(Instant) -> Deadline,
    real_wait: &mut dyn FnMut(Option<Nanos>) -> c_int,
) -> c_int {
    let now = Instant::now();
    // Events ready a moment ago: what the first real wait would return at
    // once (wait_until_due makes its first call before anything else).
    let mut first = (first > 0).then_some(first);
    mux::run(api, now, deadline(now), &PollSet { fds, n }, &mut |ns| {
        first.take().unwrap_or_else(|| real_wait(ns))
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn poll(fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int {
    if !ENABLED.load(Relaxed) || timeout == 0 || n == 0 {
        // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
        return unsafe { real::poll(fds, n, timeout) };
    }
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    unsafe { poll_timed(fds, n, timeout) }
}

#[inline(never)]
unsafe fn poll_timed(fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int {
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    let first = match unsafe { probe(fds, n, || real::poll(fds, n, 0)) } {
        Probe::Done(r) => return r,
        // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
        Probe::Plain => return unsafe { real::poll(fds, n, timeout) },
        Probe::Watch(first) => first,
    };
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    unsafe {
        poll_watched(
            "poll",
            fds,
            n,
            first,
            |now| Deadline::from_ms(now, timeout),
            &mut |ns| real::poll(fds, n, poll_ms(ns)),
        )
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __poll_chk(
    fds: *mut pollfd,
    n: nfds_t,
    timeout: c_int,
    fdslen: size_t,
) -> c_int {
    let too_long = (fdslen / core::mem::size_of::<pollfd>()) < n as usize;
    if too_long || !ENABLED.load(Relaxed) || timeout == 0 || n == 0 {
        // too_long: libc's own check reports the overflow and aborts.
        // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
        return unsafe { real::__poll_chk(fds, n, timeout, fdslen) };
    }
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    unsafe { poll_timed(fds, n, timeout) }
}

/// Is a ppoll/pselect/epoll_pwait2 timeout a zero (a probe), or one the
/// kernel refuses (EINVAL at once: negative, or tv_nsec not below 1e9)?
/// Either way the real call alone answers.
///
/// # Safety
/// `ts` is null or valid.
#[inline(always)]
pub(super) unsafe fn is_zero(ts: *const timespec) -> bool {
    // SAFETY: per the contract.
    !ts.is_null()
        && unsafe {
            let (s, ns) = ((*ts).tv_sec, (*ts).tv_nsec);
            (s == 0 && ns == 0) || s < 0 || !(0..1_000_000_000).contains(&ns)
        }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn ppoll(
    fds: *mut pollfd,
    n: nfds_t,
    ts: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    if !ENABLED.load(Relaxed) || n == 0 || unsafe { is_zero(ts) } {
        // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
        return unsafe { real::ppoll(fds, n, ts, mask) };
    }
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    unsafe { ppoll_timed(fds, n, ts, mask) }
}

#[inline(never)]
unsafe fn ppoll_timed(
    fds: *mut pollfd,
    n: nfds_t,
    ts: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    const ZERO: timespec = timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    let first = match unsafe { probe(fds, n, || real::ppoll(fds, n, &ZERO, mask)) } {
        Probe::Done(r) => return r,
        // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
        Probe::Plain => return unsafe { real::ppoll(fds, n, ts, mask) },
        Probe::Watch(first) => first,
    };
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    unsafe {
        poll_watched(
            "ppoll",
            fds,
            n,
            first,
            // ts: null or the caller's timespec (read by the hook already).
            |now| Deadline::from_timespec(now, ts),
            &mut |ns| {
                let t = ns.map(Nanos::timespec);
                let tp = t
                    .as_ref()
                    .map_or(core::ptr::null(), |t| t as *const timespec);
                real::ppoll(fds, n, tp, mask)
            },
        )
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __ppoll_chk(
    fds: *mut pollfd,
    n: nfds_t,
    ts: *const timespec,
    mask: *const sigset_t,
    fdslen: size_t,
) -> c_int {
    let too_long = (fdslen / core::mem::size_of::<pollfd>()) < n as usize;
    if too_long
        || !ENABLED.load(Relaxed)
        || n == 0
        // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
        || unsafe { is_zero(ts) }
    {
        // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
        return unsafe { real::__ppoll_chk(fds, n, ts, mask, fdslen) };
    }
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    unsafe { ppoll_timed(fds, n, ts, mask) }
}

// ---------------------------------------------------------------- select

/// Not ours: off, sets larger than FD_SETSIZE (we copy fixed-size sets),
/// or a zero-timeout probe.
#[inline(always)]
fn select_passes(n: c_int, zero: bool) -> bool {
    !ENABLED.load(Relaxed) || zero || !(1..=libc::FD_SETSIZE as c_int).contains(&n)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn select(
    n: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    tv: *mut timeval,
) -> c_int {
    // SAFETY: tv is null or the caller's valid timeval.
    let zero = !tv.is_null() && unsafe { (*tv).tv_sec == 0 && (*tv).tv_usec == 0 };
    if select_passes(n, zero) {
        // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
        return unsafe { real::select(n, r, w, e, tv) };
    }
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    unsafe { select_timed(n, r, w, e, tv) }
}

#[inline(never)]
unsafe fn select_timed(
    n: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    tv: *mut timeval,
) -> c_int {
    // SAFETY: the caller's sets, once the kernel says it can read them.
    let Some(sets) = (unsafe { Sets::save(n, r, w, e) }).filter(Sets::has_tcp) else {
        // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
        return unsafe { real::select(n, r, w, e, tv) };
    };
    let now = Instant::now();
    let deadline = if tv.is_null() {
        Deadline::NEVER
    } else {
        // SAFETY: the caller's timeval.
        match Nanos::from_timeval(&unsafe { *tv }) {
            Some(t) => Deadline::after(now, Some(t)),
            // SAFETY: the caller's arguments; the kernel says EINVAL.
            None => return unsafe { real::select(n, r, w, e, tv) },
        }
    };
    let res = mux::run("select", now, deadline, &sets, &mut |ns| {
        let mut t = ns.map(Nanos::timeval_ceil);
        let tp = t
            .as_mut()
            .map_or(core::ptr::null_mut(), |t| t as *mut timeval);
        // SAFETY: the caller's sets and a timeval of our own.
        unsafe {
            sets.restore(r, w, e);
            real::select(n, r, w, e, tp)
        }
    });
    // glibc's select reports the time not slept in the timeval, as the
    // Linux system call does; musl's passes a copy and leaves it alone.
    if cfg!(target_env = "gnu")
        && !tv.is_null()
        && let Some(left) = deadline.remaining(Instant::now())
    {
        // SAFETY: the caller's timeval.
        unsafe { *tv = left.timeval_floor() };
    }
    res
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pselect(
    n: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    ts: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    if select_passes(n, unsafe { is_zero(ts) }) {
        // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
        return unsafe { real::pselect(n, r, w, e, ts, mask) };
    }
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    unsafe { pselect_timed(n, r, w, e, ts, mask) }
}

#[inline(never)]
unsafe fn pselect_timed(
    n: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    ts: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    // SAFETY: the caller's sets, once the kernel says it can read them.
    let Some(sets) = (unsafe { Sets::save(n, r, w, e) }).filter(Sets::has_tcp) else {
        // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
        return unsafe { real::pselect(n, r, w, e, ts, mask) };
    };
    let now = Instant::now();
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    let deadline = unsafe { Deadline::from_timespec(now, ts) };
    mux::run("pselect", now, deadline, &sets, &mut |ns| {
        // SAFETY: the caller's sets and a timespec of our own.
        unsafe {
            sets.restore(r, w, e);
            let t = ns.map(Nanos::timespec);
            let tp = t
                .as_ref()
                .map_or(core::ptr::null(), |t| t as *const timespec);
            real::pselect(n, r, w, e, tp, mask)
        }
    })
}
