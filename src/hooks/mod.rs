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

/// Defines a hook that tail-calls libc unless the library is on and `pass`
/// does not hold, and otherwise jumps to `$tracked` (defined with `body`),
/// out of line so that the hook stays a tail call.
macro_rules! tracked_hook {
    (
        $(#[$doc:meta])*
        fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;
        pass if $pass:expr;
        $(#[$tdoc:meta])*
        via $tracked:ident $body:block
    ) => {
        $(#[$doc])*
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> $ret {
            if !$crate::config::ENABLED.load(core::sync::atomic::Ordering::Relaxed) || $pass {
                // SAFETY: the caller's arguments, passed on unchanged.
                return unsafe { $crate::real::$name($($arg),*) };
            }
            // SAFETY: as above.
            unsafe { $tracked($($arg),*) }
        }

        $(#[$tdoc])*
        #[inline(never)]
        unsafe fn $tracked($($arg: $ty),*) -> $ret $body
    };
}

mod epoll_waits;
mod fds;
mod fdsets;
mod io;
mod net;
mod procs;
mod waits;

use crate::classify::{self, hint};
use crate::config::ENABLED;
use crate::fdtable::{ABORTED, BORROWED, LISTEN, OTHER, TCP};
use crate::sock::{Fail, Sock};
use crate::sys::Nanos;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use libc::{MSG_DONTWAIT, c_int};

/// Flags with which a call never blocks: the caller's non-blocking call,
/// the error queue, out-of-band data. Such calls go straight to libc.
const NEVER_BLOCKS: c_int = MSG_DONTWAIT | libc::MSG_ERRQUEUE | libc::MSG_OOB;

/// The hook's filter: may a call on `fd` be ours to time? Only table
/// loads: an unknown descriptor is classified on the out-of-line path, so
/// the hook itself holds nothing but tail calls (no stack frame when
/// passing through). A socket aborted in a wait always goes there, to fail
/// with ETIMEDOUT whatever the call's flags, and so does one whose flags a
/// connect of ours still holds (`BORROWED`), to get them back.
#[inline(always)]
fn may_time(fd: c_int, t: &AtomicU64, flags: c_int) -> bool {
    if !ENABLED.load(Relaxed) {
        return false;
    }
    match hint(fd) {
        OTHER => false,
        // ABORTED, BORROWED: the out-of-line path deals with them.
        c if c >= ABORTED => true,
        _ => t.load(Relaxed) != 0 && flags & NEVER_BLOCKS == 0,
    }
}

/// The out-of-line decision: the socket resolved once, with the timeout
/// that applies; `Err(Bypass)`: not ours after all; `Err(ETIMEDOUT)`: the
/// socket was aborted in a wait.
#[inline(always)]
fn resolve(fd: c_int, t: &AtomicU64, flags: c_int) -> Result<(Sock, Nanos), Fail> {
    let class = match classify::class(fd) {
        ABORTED if classify::confirm_aborted(fd) => return Err(Fail::IDLE),
        ABORTED => classify::class(fd), // a stale mark, now forgotten
        BORROWED => {
            // A connect of ours was left abnormally: the program's flags
            // back first.
            crate::blocking::give_back(fd);
            classify::class(fd)
        }
        c => c,
    };
    match class {
        TCP | LISTEN if flags & NEVER_BLOCKS == 0 => match crate::config::get(t) {
            Some(t) => Ok((Sock::of(fd), t)),
            None => Err(Fail::Bypass),
        },
        _ => Err(Fail::Bypass),
    }
}
