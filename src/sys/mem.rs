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

/// The granule of the checks below: protections are set per page, and no
/// Linux page is smaller than 4 KiB.
const GRANULE: usize = 4096;

/// Would the kernel read the program's objects `objs` (pointer and length,
/// `len >= 8`; null pointers skipped)?
///
/// For the hooks that must read a program's argument themselves before
/// the real call (select's sets, epoll_pwait2's timespec): a pointer the
/// kernel would answer with EFAULT must not become a SIGSEGV in the
/// library. The kernel is asked, once per 4 KiB granule the objects touch
/// (usually one for all of them), with a call that reads 8 bytes and has
/// no effect: `rt_sigprocmask` with an invalid `how` copies the new mask in
/// first (EFAULT) and then refuses the `how` (EINVAL) before it changes
/// anything. Every seccomp filter that lets a program run allows it (libc
/// itself calls it). If the kernel refuses the check itself (ENOSYS, EPERM
/// under a filter), the answer is yes, as before the check existed.
#[inline(never)]
pub fn readable(objs: &[(*const u8, usize)]) -> bool {
    // Granules already checked: at most two per object.
    let mut seen = [usize::MAX; 6];
    let mut n = 0;
    for &(p, len) in objs.iter().filter(|o| !o.0.is_null()) {
        debug_assert!(len >= 8);
        let (start, end) = (p as usize, (p as usize).saturating_add(len));
        let mut at = start;
        while at < end {
            let g = at / GRANULE;
            if !seen[..n].contains(&g) {
                if !kernel_reads(at) {
                    return false;
                }
                if n < seen.len() {
                    seen[n] = g;
                    n += 1;
                }
            }
            at = (g + 1) * GRANULE;
        }
    }
    true
}

/// One granule's check: 8 bytes at `at` (within one granule, or an
/// object's first 8 bytes).
fn kernel_reads(at: usize) -> bool {
    /// Not SIG_BLOCK, SIG_UNBLOCK nor SIG_SETMASK.
    const NO_HOW: libc::c_long = 0x7ead;
    crate::sys::keeping_errno(|| {
        // SAFETY: the kernel copies 8 bytes from `at` with its own fault
        // handling (EFAULT), then returns EINVAL for the `how` before
        // touching the signal mask; no old mask is asked for.
        let r = unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                NO_HOW,
                at as *const libc::c_void,
                core::ptr::null_mut::<libc::c_void>(),
                8usize,
            )
        };
        r == 0 || crate::sys::errno() != libc::EFAULT
    })
}
