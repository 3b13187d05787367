//! What the library may cache about a socket only this process controls:
//! its blocking mode and the program's own SO_RCVTIMEO/SO_SNDTIMEO.
//!
//! A socket is *trusted* when it was made here by `socket()`/`accept*()`
//! and has not been shared since: never duplicated (dup*, F_DUPFD), never
//! sent over SCM_RIGHTS, no fork since it was made, and no child spawned
//! (vfork, posix_spawn, system, popen) while it was inheritable (no
//! close-on-exec). Only then do the hooks that change the mode
//! (`fcntl(F_SETFL)`, `ioctl(FIONBIO)`) and the timeouts (`setsockopt`)
//! see every change, so the cache can replace `fcntl(F_GETFL)` and
//! `getsockopt(SO_*TIMEO)` on the wait path. A raw system call can still
//! change either behind the hooks: a wait on cached knowledge checks again
//! after `RECHECK_MS` (see `blocking::transfer`).
//!
//! Forks and spawns are counted in two process-wide epochs; a slot's word
//! records the epochs it was trusted in, so one increment untrusts every
//! socket at once, without walking the table.

use super::Slot;
use crate::sys::{Dir, Nanos};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// How long a wait on cached knowledge runs before checking the socket's
/// mode and timeouts with the kernel once (a raw-syscall change costs at
/// most this much lateness).
pub const RECHECK_MS: i32 = 10;

const VALID: u64 = 1;
const NONBLOCK: u64 = 2;
const CLOEXEC: u64 = 4;
/// A read on the socket had to wait (the start of a request/response
/// turn): the next write arms a poll-first read (`Slot::wrote`).
const READ_WAITED: u64 = 8;
const EPOCH_BITS: u32 = 28;
const EPOCH_MASK: u64 = (1 << EPOCH_BITS) - 1;
const FORK_SHIFT: u32 = 8;
const SPAWN_SHIFT: u32 = FORK_SHIFT + EPOCH_BITS;

/// Forks (and spawns that may hand any descriptor to the child).
static FORKS: AtomicU64 = AtomicU64::new(0);
/// Children spawned that inherit the descriptors without close-on-exec.
static SPAWNS: AtomicU64 = AtomicU64::new(0);
/// Has any socket been trusted? Until then sendmsg has nothing to untrust
/// and stays a tail call.
pub static ANY: AtomicBool = AtomicBool::new(false);

/// A fork is about to happen (or a spawn whose file actions may dup any
/// descriptor into the child): every socket is shared from now on.
#[inline(always)]
pub fn forking() {
    FORKS.fetch_add(1, Relaxed);
}

/// A child that inherits the descriptors without close-on-exec is about to
/// be spawned.
#[inline(always)]
pub fn spawning() {
    SPAWNS.fetch_add(1, Relaxed);
}

fn epochs() -> u64 {
    (FORKS.load(Relaxed) & EPOCH_MASK) << FORK_SHIFT
        | (SPAWNS.load(Relaxed) & EPOCH_MASK) << SPAWN_SHIFT
}

/// Is the word `w` still trusted under the current epochs?
#[inline(always)]
fn valid(w: u64) -> bool {
    if w & VALID == 0 {
        return false;
    }
    if (w >> FORK_SHIFT) & EPOCH_MASK != FORKS.load(Relaxed) & EPOCH_MASK {
        return false;
    }
    w & CLOEXEC != 0 || (w >> SPAWN_SHIFT) & EPOCH_MASK == SPAWNS.load(Relaxed) & EPOCH_MASK
}

/// What the cache says about a trusted socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    pub nonblocking: bool,
    /// The program's own timeout for the direction asked (None: none).
    pub own: Option<Nanos>,
}

impl Slot {
    /// The socket was just made here (socket, accept*), with these flags;
    /// `own` are its own timeouts (receive, send), as inherited.
    pub fn trust_new(&self, nonblocking: bool, cloexec: bool, own: (u64, u64)) {
        self.own_rx.store(own.0, Relaxed);
        self.own_tx.store(own.1, Relaxed);
        let mut w = VALID | epochs();
        if nonblocking {
            w |= NONBLOCK;
        }
        if cloexec {
            w |= CLOEXEC;
        }
        self.trust.store(w, Relaxed);
        if !ANY.load(Relaxed) {
            ANY.store(true, Relaxed);
        }
    }

    /// The socket may be shared from now on: nothing is cached any more.
    #[inline(always)]
    pub fn untrust(&self) {
        self.trust.store(0, Relaxed);
    }

    /// The cached knowledge for `dir`, if the socket is trusted.
    #[inline(always)]
    pub fn known(&self, dir: Dir) -> Option<Known> {
        let w = self.trust.load(Relaxed);
        if !valid(w) {
            return None;
        }
        let own = match dir {
            Dir::In => self.own_rx.load(Relaxed),
            Dir::Out => self.own_tx.load(Relaxed),
        };
        Some(Known {
            nonblocking: w & NONBLOCK != 0,
            own: (own != 0).then_some(Nanos(own)),
        })
    }

    /// Both own timeouts as cached (receive, send; 0: none), if trusted:
    /// what an accepted socket inherits.
    pub fn known_timeouts(&self) -> Option<(u64, u64)> {
        valid(self.trust.load(Relaxed))
            .then(|| (self.own_rx.load(Relaxed), self.own_tx.load(Relaxed)))
    }

    /// Changes the trust word with `f` if still trusted; an untrusted
    /// socket stays untrusted (the epochs are refreshed: the socket was
    /// trusted up to now, so no spawn happened while it was inheritable).
    fn update(&self, f: impl Fn(u64) -> u64) {
        let _ = self.trust.fetch_update(Relaxed, Relaxed, |w| {
            Some(if valid(w) {
                f(w) & !(EPOCH_MASK << FORK_SHIFT | EPOCH_MASK << SPAWN_SHIFT) | epochs()
            } else {
                0
            })
        });
    }

    /// The program set (or cleared) O_NONBLOCK through a hook.
    pub fn note_nonblocking(&self, on: bool) {
        self.update(|w| if on { w | NONBLOCK } else { w & !NONBLOCK });
    }

    /// The program set (or cleared) close-on-exec through a hook.
    pub fn note_cloexec(&self, on: bool) {
        self.update(|w| if on { w | CLOEXEC } else { w & !CLOEXEC });
    }

    /// The program set its own timeout for `dir` through a hook (`t`: the
    /// kernel's value read back, 0 for none).
    pub fn note_own_timeout(&self, dir: Dir, t: u64) {
        match dir {
            Dir::In => self.own_rx.store(t, Relaxed),
            Dir::Out => self.own_tx.store(t, Relaxed),
        }
    }

    /// A read had to wait on this trusted blocking socket.
    pub fn note_read_waited(&self) {
        if self.trust.load(Relaxed) & READ_WAITED == 0 {
            self.update(|w| w | READ_WAITED);
        }
    }

    /// A write on the socket: after a read that waited, a request/response
    /// turn; the next read polls first (see `Slot::arm_poll_first`). One
    /// load when no read waited.
    #[inline(always)]
    pub fn wrote(&self) {
        if self.trust.load(Relaxed) & READ_WAITED != 0 {
            self.wrote_after_wait();
        }
    }

    #[cold]
    #[inline(never)]
    fn wrote_after_wait(&self) {
        self.update(|w| w & !READ_WAITED);
        self.arm_poll_first();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_untrust() {
        let s = Slot::new();
        assert_eq!(s.known(Dir::In), None);
        s.trust_new(false, true, (0, 5));
        assert_eq!(
            s.known(Dir::Out),
            Some(Known {
                nonblocking: false,
                own: Some(Nanos(5))
            })
        );
        spawning();
        assert!(s.known(Dir::In).is_some(), "close-on-exec survives a spawn");
        s.note_cloexec(false);
        assert!(s.known(Dir::In).is_some());
        spawning();
        assert_eq!(s.known(Dir::In), None, "inheritable at a spawn");
        s.note_cloexec(true);
        assert_eq!(s.known(Dir::In), None, "untrusted stays untrusted");
        s.trust_new(true, true, (0, 0));
        s.note_nonblocking(false);
        assert!(!s.known(Dir::In).unwrap().nonblocking);
        forking();
        assert_eq!(s.known(Dir::In), None, "fork");
    }
}
