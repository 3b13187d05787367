//! The handle a hook resolves once and hands down, and the one outcome
//! type of the engine.

use crate::fdtable::{self, Slot};
use crate::sys::set_errno;
use libc::{c_int, ssize_t};

/// A descriptor resolved by a hook: its number and its slot (none past
/// `fdtable::MAX_FDS` or before one is needed).
///
/// Identity seam (issue 10, item 2): a socket's identity taken at call
/// start (`SO_COOKIE`) belongs here as a field, checked before every retry,
/// attempt and abort. Taking it costs a getsockopt, which the data-ready
/// path must not pay: take it lazily in the waiting path (`blocking`'s
/// slow path, `block::wait`), where a system call is already being made.
#[derive(Clone, Copy)]
pub struct Sock {
    pub fd: c_int,
    slot: Option<&'static Slot>,
    // TODO(issue 10 item 2): `cookie: Option<u64>`, filled on the slow path.
}

impl Sock {
    /// The descriptor with the slot it already has (a load, no mapping).
    #[inline(always)]
    pub fn of(fd: c_int) -> Sock {
        Sock {
            fd,
            slot: fdtable::slot(fd),
        }
    }

    #[inline(always)]
    pub fn slot(&self) -> Option<&'static Slot> {
        self.slot
    }

    /// The slot, mapping it if needed; `local` past MAX_FDS (a clock per
    /// call instead of per socket).
    pub fn slot_or<'a>(&self, local: &'a Slot) -> &'a Slot {
        self.slot
            .or_else(|| fdtable::slot_alloc(self.fd))
            .unwrap_or(local)
    }
}

/// Why a call does not succeed here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fail {
    /// Not ours after all (a stale hint, nothing to time): libc's own
    /// function makes the call.
    Bypass,
    /// The call fails with this errno. `Fail::IDLE` is our idle timeout.
    Errno(c_int),
}

impl Fail {
    /// Our idle timeout expired: ETIMEDOUT.
    pub const IDLE: Fail = Fail::Errno(libc::ETIMEDOUT);
}

/// What the engine answers a hook.
pub type Outcome<T = usize> = Result<T, Fail>;

/// The FFI edge (as std's `cvt`, the other way): a count, or -1 with
/// errno; `real()` for a bypass. With `status`, the only places an outcome
/// becomes errno.
#[inline(always)]
pub fn count(o: Outcome, real: impl FnOnce() -> ssize_t) -> ssize_t {
    match o {
        Ok(n) => n as ssize_t,
        Err(Fail::Errno(e)) => {
            set_errno(e);
            -1
        }
        Err(Fail::Bypass) => real(),
    }
}

/// The FFI edge for calls that return 0 or -1 (connect).
#[inline(always)]
pub fn status(o: Outcome<()>, real: impl FnOnce() -> c_int) -> c_int {
    match o {
        Ok(()) => 0,
        Err(Fail::Errno(e)) => {
            set_errno(e);
            -1
        }
        Err(Fail::Bypass) => real(),
    }
}
