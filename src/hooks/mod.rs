//! The exported functions: the only symbols this library defines.
//!
//! Each hook is thin: when the call is not ours to time (the timeout for
//! that operation is off, the descriptor is not a TCP socket, the caller
//! asked for MSG_DONTWAIT) it ends in a tail call to libc's function; else
//! it jumps to an out-of-line function that hands the engine a closure
//! making one non-blocking attempt. Nothing here allocates, locks, touches
//! thread-locals or calls a libc function that this library interposes
//! (see `real`).
//!
//! # Safety (for every hook)
//! Each is called by C code with the arguments of the libc function of the
//! same name; it only passes them on to that function (or to the matching
//! socket call on the same buffers), so it is sound under libc's contract.

mod fds;
mod io;
mod waits;

use crate::config::ENABLED;
use crate::fdtable::{self, LISTEN, OTHER, TCP, TIMED_OUT};
use crate::sys::set_errno;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use libc::{MSG_DONTWAIT, c_int};

/// Flags with which a call never blocks: the caller's non-blocking call,
/// the error queue, out-of-band data. Such calls go straight to libc.
const NEVER_BLOCKS: c_int = MSG_DONTWAIT | libc::MSG_ERRQUEUE | libc::MSG_OOB;

/// Should a call on `fd` leave the tail-call path? Only table loads: an
/// unknown descriptor is classified on the out-of-line path, so the hook
/// itself holds nothing but tail calls (no stack frame when passing
/// through). A socket that timed out in a wait always goes there, to fail
/// with ETIMEDOUT whatever the call's flags.
#[inline(always)]
fn route(fd: c_int, t: &AtomicU64, flags: c_int) -> bool {
    if !ENABLED.load(Relaxed) {
        return false;
    }
    match fdtable::hint(fd) {
        OTHER => false,
        TIMED_OUT => true,
        _ => t.load(Relaxed) != 0 && flags & NEVER_BLOCKS == 0,
    }
}

/// What the out-of-line path does with a call.
enum Route {
    /// Not ours after all: libc's function.
    Real,
    /// The socket timed out while the program waited on it: ETIMEDOUT.
    Fail,
    /// Time it with this timeout (ns).
    Timed(u64),
}

#[inline(always)]
fn timed(fd: c_int, t: &AtomicU64, flags: c_int) -> Route {
    let mut class = fdtable::class(fd);
    if class == TIMED_OUT {
        if fdtable::confirm_timed_out(fd) {
            return Route::Fail;
        }
        class = fdtable::class(fd); // a stale mark, now forgotten
    }
    match class {
        TCP | LISTEN => match t.load(Relaxed) {
            0 => Route::Real,
            _ if flags & NEVER_BLOCKS != 0 => Route::Real,
            t => Route::Timed(t),
        },
        _ => Route::Real,
    }
}

/// -1 with ETIMEDOUT, for every call on a socket that timed out in a wait.
#[cold]
fn timed_out<T: From<i8>>() -> T {
    set_errno(libc::ETIMEDOUT);
    T::from(-1)
}
