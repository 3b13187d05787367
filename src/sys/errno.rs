//! errno, and `-1`/errno turned into a `Result` (as std's `cvt`).

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

/// A system call's `-1` as `Err(errno)`, anything else as `Ok`.
#[inline(always)]
pub fn cvt(r: c_int) -> Result<c_int, c_int> {
    if r < 0 { Err(errno()) } else { Ok(r) }
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

/// Runs `f` and puts errno back as it was: for probes the program must
/// not notice.
#[inline(always)]
pub fn keeping_errno<R>(f: impl FnOnce() -> R) -> R {
    let saved = SavedErrno::save();
    let r = f();
    saved.restore();
    r
}
