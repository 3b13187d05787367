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
/// the real call (select's sets, long poll arrays, epoll_pwait2's
/// timespec): a pointer the kernel would answer with EFAULT must not
/// become a SIGSEGV in the library. The kernel is asked, once per 4 KiB
/// granule the objects touch (usually one for all of them), to read one
/// word of it with a call that has no effect: `futex(FUTEX_CMP_REQUEUE)`
/// waking and moving no waiter, which reads the word, compares it (EFAULT
/// if it cannot read it, else EAGAIN, or 0 should it hold the value) and
/// returns at once, queueing nothing. Every seccomp filter that lets a
/// threaded program run allows futex (one that filters it by operation may
/// not allow this one), and valgrind passes it on without a word. If the
/// kernel refuses the check itself (ENOSYS, EPERM under a filter), the
/// answer is yes, as before the check existed.
#[inline(never)]
pub fn readable(objs: &[(*const u8, usize)]) -> bool {
    // Granules already checked, across objects (a set or a timespec
    // touches at most two; one object's granules come in order, once each).
    let mut seen = [usize::MAX; 6];
    let mut n = 0;
    for &(p, len) in objs.iter().filter(|o| !o.0.is_null()) {
        debug_assert!(len >= 8);
        let (start, end) = (p as usize, (p as usize).saturating_add(len));
        let mut at = start;
        while at < end {
            let g = at / GRANULE;
            if !seen[..n].contains(&g) {
                if !kernel_reads(word_in(start, end, at, (g + 1) * GRANULE)) {
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

/// The word to read of the object `start..end` in the granule that begins
/// at `at` (or holds `start`) and ends at `g_end`: the first one at a
/// multiple of 8 bytes from the object's start, where the fields of its
/// 8-byte entries begin (a pollfd's fd, an fd_set word, a timespec field:
/// bytes the program wrote, where a granule's first word could be a
/// pollfd's revents, which valgrind would report as uninitialised); else
/// the granule's first word, or the object's aligned down.
fn word_in(start: usize, end: usize, at: usize, g_end: usize) -> usize {
    let w = start + (at - start).next_multiple_of(8);
    if w.is_multiple_of(4) && w + 4 <= end.min(g_end) {
        w
    } else {
        at & !3
    }
}

/// One granule's check: the aligned 4-byte word at `at`.
fn kernel_reads(at: usize) -> bool {
    /// A value the compare is unlikely to match (harmless if it does).
    const UNLIKELY: u32 = 0x7ead_bad1;
    crate::sys::keeping_errno(|| {
        // SAFETY: the kernel reads the aligned word at `at` with its own
        // fault handling (EFAULT), compares it with UNLIKELY (EAGAIN) and,
        // equal or not, wakes and requeues nobody (0 and 0): nothing is
        // queued or changed. The fourth argument is a count here, not a
        // pointer.
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex,
                at as *const u32,
                libc::FUTEX_CMP_REQUEUE | libc::FUTEX_PRIVATE_FLAG,
                0,
                0usize,
                at as *const u32,
                UNLIKELY,
            )
        };
        r >= 0 || crate::sys::errno() != libc::EFAULT
    })
}
