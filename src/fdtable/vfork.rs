//! The vfork guard. A vfork child shares the parent's memory, and with it
//! this table, but not the parent's descriptors: its dup2 or close before
//! exec must not rewrite the parent's hints. The parent's pid is noted
//! before the real vfork; table changes made by another process while it is
//! noted are skipped, and the parent's first change after it resumes clears
//! the note. A `fork` child is a process of its own with its own copy of
//! the table: the note it inherits is cleared there (`forked`), or a parent
//! that vforked and then forked before changing the table would leave every
//! fork child with a frozen table.

use core::sync::atomic::{AtomicI32, Ordering::Relaxed};
use libc::c_int;

/// The pid of a process that called vfork and has not changed the table
/// since (0: none).
static VFORK_PARENT: AtomicI32 = AtomicI32::new(0);
/// The thread of that process that called vfork.
static VFORK_TID: AtomicI32 = AtomicI32::new(0);

/// The calling thread is about to vfork.
pub fn begin() {
    // SAFETY: getpid has no preconditions.
    let (pid, tid) = (unsafe { crate::real::getpid() }, gettid());
    VFORK_TID.store(tid, Relaxed);
    VFORK_PARENT.store(pid, Relaxed);
}

/// May this process change descriptor hints? Not a vfork child: it shares
/// our memory but not the parent's descriptors.
#[inline(always)]
pub(super) fn may_change() -> bool {
    let p = VFORK_PARENT.load(Relaxed);
    p == 0 || check(p)
}

#[cold]
#[inline(never)]
fn check(parent: c_int) -> bool {
    // SAFETY: getpid has no preconditions.
    if unsafe { crate::real::getpid() } != parent {
        return false; // the vfork child
    }
    // The parent: its other threads run on during the vfork; only the
    // calling thread's own change shows that the child has exec'd or exited.
    if gettid() == VFORK_TID.load(Relaxed) {
        VFORK_PARENT.store(0, Relaxed);
    }
    true
}

/// The calling process is a new `fork` child: whatever vfork note it
/// inherited belongs to its parent. Async-signal-safe (one store).
#[inline]
pub fn forked() {
    VFORK_PARENT.store(0, Relaxed);
}

/// The calling thread's id. The system call, not glibc's gettid (2.30):
/// the library then needs no newer glibc than its other imports.
fn gettid() -> c_int {
    // SAFETY: SYS_gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as c_int }
}
