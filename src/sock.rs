//! The handle a hook resolves once and hands down, and the one outcome
//! type of the engine.

use crate::fdtable::{self, Slot};
use crate::sys::set_errno;
use libc::{c_int, ssize_t};

/// A descriptor resolved by a hook: its number and its slot (none past
/// `fdtable::MAX_FDS` or before one is needed).
///
/// Identity (issue 10, item 2): a call that has to wait binds the socket
/// (`bound`: the slot's generation, a load) when its waiting path starts,
/// and checks it (`same`) before every retry, attempt and abort: a close,
/// dup2 over the number or a reuse of it that went through a hook changes
/// the generation, and the call then never touches the number again. The
/// data-ready path does not bind (nothing to retry).
#[derive(Clone, Copy)]
pub struct Sock {
    pub fd: c_int,
    slot: Option<&'static Slot>,
    /// The generation when bound (see `fdtable::generation`).
    gen_: u64,
}

impl Sock {
    /// The descriptor with the slot it already has (a load, no mapping).
    #[inline(always)]
    pub fn of(fd: c_int) -> Sock {
        Sock {
            fd,
            slot: fdtable::slot(fd),
            gen_: 0,
        }
    }

    /// The same socket bound to what its number refers to now: from here
    /// on `same` tells whether it still does.
    #[inline(always)]
    pub fn bound(self) -> Sock {
        let slot = self.slot.or_else(|| fdtable::slot(self.fd));
        Sock {
            slot,
            gen_: slot.map_or(0, |s| s.generation()),
            ..self
        }
    }

    /// Does the number still refer to the socket it was bound to? A load
    /// and a compare. (A close by raw syscall, or inside glibc other than
    /// fclose, is not seen: see README, "What the program sees".)
    #[inline(always)]
    pub fn same(&self) -> bool {
        match self.slot {
            Some(s) => s.generation() == self.gen_,
            // No slot when bound: one made since means a new descriptor.
            None => fdtable::same(self.fd, self.gen_),
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
