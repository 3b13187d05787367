//! Memory the library owns: anonymous zero-filled mappings (a system call,
//! safe in a signal handler; nothing here calls malloc or takes a lock).

use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering::Relaxed};

/// Maps `size` zeroed bytes into `at` unless another thread did first;
/// returns the published pointer (`None` if the kernel refuses). Mappings
/// are never unmapped once published.
pub fn map_once<T>(at: &AtomicPtr<T>, size: usize) -> Option<*mut T> {
    // SAFETY: an anonymous private mapping, zero-filled; no memory of the
    // program is touched.
    let p = unsafe {
        crate::real::mmap(
            ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    match at.compare_exchange(ptr::null_mut(), p.cast(), Relaxed, Relaxed) {
        Ok(_) => Some(p.cast()),
        Err(theirs) => {
            // Another thread published first: use theirs.
            // SAFETY: p is our own mapping of `size` bytes, never published.
            unsafe { crate::real::munmap(p, size) };
            Some(theirs)
        }
    }
}
