//! Small, async-signal-safe helpers: errno and the monotonic clock.

use libc::c_int;

/// The calling thread's errno.
#[inline(always)]
pub fn errno() -> c_int {
    // SAFETY: __errno_location() always returns a valid pointer to this
    // thread's errno; glibc never interposes it and we do not either.
    unsafe { *libc::__errno_location() }
}

#[inline(always)]
pub fn set_errno(e: c_int) {
    // SAFETY: as in errno().
    unsafe { *libc::__errno_location() = e }
}

/// Nanoseconds on CLOCK_MONOTONIC (never 0 in practice: the clock starts
/// at boot and we add 1 so 0 can mean "unset" in the fd table).
#[inline]
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec; clock_gettime is async-signal-safe
    // (vDSO) and not interposed by this library.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
        .wrapping_add(1)
}

/// Saves errno on creation and puts it back on demand: a hook that
/// succeeds after internal probes failed leaves errno as it found it.
pub struct SavedErrno(c_int);

impl SavedErrno {
    #[inline(always)]
    pub fn save() -> Self {
        SavedErrno(errno())
    }
    #[inline(always)]
    pub fn restore(&self) {
        set_errno(self.0)
    }
}
