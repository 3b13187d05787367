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
/// (usually one for all of them), with a call that reads 4 bytes and has
/// no effect: `futex(FUTEX_WAIT_PRIVATE)` on the aligned word, with a value
/// it almost surely does not hold and a zero timeout, answers EFAULT if it
/// cannot read the word, else EAGAIN (or ETIMEDOUT at once, should the word
/// hold that value). Every seccomp filter that lets a threaded program run
/// allows it, and valgrind passes it on without a word. If the kernel
/// refuses the check itself (ENOSYS, EPERM under a filter), the answer is
/// yes, as before the check existed.
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

/// One granule's check: the 4-byte word holding the byte at `at` (aligned
/// down: the same granule).
fn kernel_reads(at: usize) -> bool {
    /// A value a word of an fd_set or a timespec is unlikely to hold.
    const UNLIKELY: u32 = 0x7ead_bad1;
    const ZERO: libc::timespec = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    crate::sys::keeping_errno(|| {
        // SAFETY: the kernel reads the aligned word at `at & !3` with its own
        // fault handling (EFAULT); with the value unequal it returns EAGAIN,
        // else it waits for the zero timeout: ETIMEDOUT at once. No wake-up
        // is consumed (FUTEX_WAIT only queues this thread, for no time).
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex,
                (at & !3) as *const u32,
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                UNLIKELY,
                &ZERO as *const libc::timespec,
            )
        };
        r == 0 || crate::sys::errno() != libc::EFAULT
    })
}
