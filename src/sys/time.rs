//! Time: instants on CLOCK_MONOTONIC, durations, deadlines, and the
//! conversions to what poll, select and ppoll take (always rounded up: a
//! wait never ends before its deadline, at most one unit after it).

use libc::c_int;

const NS_PER_US: u64 = 1_000;
const NS_PER_MS: u64 = 1_000_000;
const NS_PER_S: u64 = 1_000_000_000;

/// A duration in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Nanos(pub u64);

impl Nanos {
    pub const ZERO: Nanos = Nanos(0);

    pub const fn from_ms(ms: u64) -> Nanos {
        Nanos(ms.saturating_mul(NS_PER_MS))
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// A timeval as a duration; `None` if it is negative.
    pub fn from_timeval(tv: &libc::timeval) -> Option<Nanos> {
        if tv.tv_sec < 0 || tv.tv_usec < 0 {
            return None;
        }
        Some(Nanos(
            (tv.tv_sec as u64)
                .saturating_mul(NS_PER_S)
                .saturating_add((tv.tv_usec as u64).saturating_mul(NS_PER_US)),
        ))
    }

    /// A timespec as a duration; `None` if it is negative.
    pub fn from_timespec(ts: &libc::timespec) -> Option<Nanos> {
        if ts.tv_sec < 0 || ts.tv_nsec < 0 {
            return None;
        }
        Some(Nanos(
            (ts.tv_sec as u64)
                .saturating_mul(NS_PER_S)
                .saturating_add(ts.tv_nsec as u64),
        ))
    }

    /// Milliseconds for poll/epoll_wait, rounded up, at most i32::MAX.
    pub fn ms_ceil(self) -> c_int {
        self.0.div_ceil(NS_PER_MS).min(i32::MAX as u64) as c_int
    }

    /// Milliseconds, rounded up (for the log).
    pub fn ms_ceil_u64(self) -> u64 {
        self.0.div_ceil(NS_PER_MS)
    }

    /// A timeval rounded up to the microsecond (select, SO_*TIMEO).
    pub fn timeval_ceil(self) -> libc::timeval {
        let us = self.0.div_ceil(NS_PER_US);
        libc::timeval {
            tv_sec: (us / 1_000_000) as libc::time_t,
            tv_usec: (us % 1_000_000) as libc::suseconds_t,
        }
    }

    /// A timeval cut to the microsecond (what select reports as left,
    /// and what setsockopt is given for a configured T).
    pub fn timeval_floor(self) -> libc::timeval {
        let us = self.0 / NS_PER_US;
        libc::timeval {
            tv_sec: (us / 1_000_000) as libc::time_t,
            tv_usec: (us % 1_000_000) as libc::suseconds_t,
        }
    }

    /// An exact timespec (ppoll, pselect, epoll_pwait2).
    pub fn timespec(self) -> libc::timespec {
        libc::timespec {
            tv_sec: (self.0 / NS_PER_S) as libc::time_t,
            tv_nsec: (self.0 % NS_PER_S) as _,
        }
    }
}

/// A point on CLOCK_MONOTONIC, in ns since boot plus one. `Instant(0)` is
/// "before anything" (never happened): it compares earlier than any time
/// the clock gives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(pub u64);

impl Instant {
    pub const NEVER_HAPPENED: Instant = Instant(0);

    /// Now (never 0: the clock starts at boot and we add 1).
    #[inline]
    pub fn now() -> Instant {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid timespec; clock_gettime is async-signal-safe
        // (vDSO) and not interposed by this library.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        Instant(
            (ts.tv_sec as u64)
                .wrapping_mul(NS_PER_S)
                .wrapping_add(ts.tv_nsec as u64)
                .wrapping_add(1),
        )
    }

    pub fn plus(self, d: Nanos) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }

    /// `self - d`, not before `Instant(0)`.
    pub fn minus(self, d: Nanos) -> Instant {
        Instant(self.0.saturating_sub(d.0))
    }

    /// How long after `earlier` this is (0 if it is not after it).
    pub fn since(self, earlier: Instant) -> Nanos {
        Nanos(self.0.saturating_sub(earlier.0))
    }
}

/// When a wait must end: an instant, or never.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(u64);

impl Deadline {
    pub const NEVER: Deadline = Deadline(u64::MAX);

    /// At `i` (an instant that saturated to the end of time is NEVER).
    pub fn at(i: Instant) -> Deadline {
        Deadline(i.0)
    }

    /// `now + d`; `None` (no timeout) gives NEVER.
    pub fn after(now: Instant, d: Option<Nanos>) -> Deadline {
        d.map_or(Deadline::NEVER, |d| Deadline::at(now.plus(d)))
    }

    /// A poll/epoll timeout in ms (negative: none).
    pub fn from_ms(now: Instant, ms: c_int) -> Deadline {
        Deadline::after(now, (ms >= 0).then(|| Nanos::from_ms(ms as u64)))
    }

    /// A program's timespec timeout (null: none; negative: now, so that
    /// the real call reports the kernel's EINVAL at once).
    ///
    /// # Safety
    /// `ts` is null or points to a valid timespec.
    pub unsafe fn from_timespec(now: Instant, ts: *const libc::timespec) -> Deadline {
        if ts.is_null() {
            return Deadline::NEVER;
        }
        // SAFETY: per the contract.
        let ts = unsafe { *ts };
        Deadline::at(now.plus(Nanos::from_timespec(&ts).unwrap_or(Nanos::ZERO)))
    }

    /// The stored form (for atomics), and back.
    pub const fn raw(self) -> u64 {
        self.0
    }
    pub const fn from_raw(v: u64) -> Deadline {
        Deadline(v)
    }

    pub fn is_never(self) -> bool {
        self == Deadline::NEVER
    }

    pub fn min(self, o: Deadline) -> Deadline {
        core::cmp::min(self, o)
    }

    /// Has it passed at `now`?
    /// (The clock never reaches u64::MAX, so NEVER never passes.)
    pub fn passed(self, now: Instant) -> bool {
        now.0 >= self.0
    }

    /// Time left at `now` (`None`: wait forever).
    pub fn remaining(self, now: Instant) -> Option<Nanos> {
        (!self.is_never()).then(|| Nanos(self.0.saturating_sub(now.0)))
    }
}

/// A wait's timeout for poll/epoll_wait: ms rounded up, -1 for none.
pub fn poll_ms(t: Option<Nanos>) -> c_int {
    t.map_or(-1, Nanos::ms_ceil)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_up() {
        assert_eq!(Nanos(1).ms_ceil(), 1);
        assert_eq!(Nanos(1_000_000).ms_ceil(), 1);
        assert_eq!(Nanos(1_000_001).ms_ceil(), 2);
        assert_eq!(Nanos(u64::MAX).ms_ceil(), i32::MAX);
        assert_eq!(poll_ms(None), -1);
        let tv = Nanos(1_500_000_001).timeval_ceil();
        assert_eq!((tv.tv_sec, tv.tv_usec), (1, 500_001));
        let tv = Nanos(1_500_000_999).timeval_floor();
        assert_eq!((tv.tv_sec, tv.tv_usec), (1, 500_000));
        let ts = Nanos(2_000_000_003).timespec();
        assert_eq!((ts.tv_sec, ts.tv_nsec), (2, 3));
        let d = Deadline::from_ms(Instant(10), 5);
        assert_eq!(d.remaining(Instant(11)), Some(Nanos(4_999_999)));
        assert!(Deadline::from_ms(Instant(10), -1).is_never());
        assert!(!Deadline::NEVER.passed(Instant(u64::MAX - 1)));
    }
}
