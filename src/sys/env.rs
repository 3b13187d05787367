//! The environment, read once in the constructor.

/// The value of variable `name` (NUL-terminated), if set.
///
/// Only for the constructor: single-threaded, before main, while nobody
/// modifies the environment.
pub fn var(name: &core::ffi::CStr) -> Option<&'static [u8]> {
    // SAFETY: name is NUL-terminated; getenv is not interposed by us and
    // runs before any other thread exists.
    let p = unsafe { libc::getenv(name.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: getenv returned a NUL-terminated string that stays valid
    // while nobody modifies the environment (nobody does during load).
    Some(unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes())
}
