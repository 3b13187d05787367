//! Per-descriptor storage: the class hint, the idle clocks and the rest of
//! a descriptor's state, behind accessors. No policy here: what a
//! descriptor is gets decided in `classify`, timing in `block`/`mux`.
//!
//! A two-level table indexed by fd number, lock-free: chunks of 8192 slots
//! are mapped with `mmap` the first time a descriptor in their range needs
//! a slot (a system call, safe in a signal handler; nothing here calls
//! malloc or takes a lock). Nothing is mapped until the library is enabled
//! and a descriptor is used, and the static part is 1 KiB, which keeps the
//! library cheap to load into every process (no extra mapping for .bss).
//! Descriptors past `MAX_FDS` have no slot: they are classified on every
//! call and get a clock per call instead of per socket.
//!
//! - [`clock`]: one direction's idle clock;
//! - [`slot`]: one descriptor's state;
//! - [`epoll`]: epoll membership (per socket, per set, the bitmap);
//! - [`vfork`]: the guard that keeps a vfork child off the table.

pub mod clock;
pub mod epoll;
pub mod memo;
pub mod slot;
pub mod trust;
pub mod vfork;

pub use clock::Clock;
pub use slot::Slot;

use crate::sys::mem::map_once;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering::Relaxed};
use libc::c_int;

/// Not classified yet (or closed): ask the kernel when first used.
pub const UNKNOWN: u8 = 0;
/// A TCP socket (AF_INET/AF_INET6), not listening.
pub const TCP: u8 = 1;
/// Anything else: file, pipe, tty, Unix socket, UDP, ...
pub const OTHER: u8 = 2;
/// A listening TCP socket: accept may be timed, waits on it never are.
pub const LISTEN: u8 = 3;
/// An epoll set with TCP sockets in it (or in a set nested in it): not a
/// socket, but a wait on it (epoll_wait, or the set inside a poll array or
/// another set, as libuv and glib nest them) waits on its members. Below
/// ABORTED: the transfer hooks' `class >= ABORTED` test must not catch it.
pub const EPOLL: u8 = 4;
/// A TCP socket whose connection the library aborted because the program
/// waited on it (poll, select, epoll) for T with nothing happening: every
/// later call on it fails with ETIMEDOUT.
pub const ABORTED: u8 = 5;
/// A TCP socket on which a blocking connect of ours set O_NONBLOCK on top
/// of the program's flags (which lacked it). Like ABORTED, every hook
/// that may time it takes its out-of-line path (`class >= ABORTED`), where
/// the flags are put back first: so a program that left the connect by
/// siglongjmp or pthread_cancel sees its own flags at its next call.
pub const BORROWED: u8 = 6;

const CHUNK: usize = 8192;
const CHUNKS: usize = 128;
pub const MAX_FDS: usize = CHUNK * CHUNKS;

static CHUNK_PTRS: [AtomicPtr<Slot>; CHUNKS] = [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS];

/// The slot of `fd` if it exists already (no allocation).
#[inline(always)]
pub fn slot(fd: c_int) -> Option<&'static Slot> {
    let i = fd as usize; // negative fds become huge and fall out below
    if i >= MAX_FDS {
        return None;
    }
    let p = CHUNK_PTRS[i / CHUNK].load(Relaxed);
    if p.is_null() {
        return None;
    }
    // SAFETY: a published chunk pointer points to CHUNK zero-initialised
    // (valid, all-UNKNOWN) slots that are never unmapped.
    Some(unsafe { &*p.add(i % CHUNK) })
}

/// The slot of `fd`, mapping its chunk if needed. `None` past MAX_FDS or
/// if the kernel refuses the mapping.
pub fn slot_alloc(fd: c_int) -> Option<&'static Slot> {
    if let Some(s) = slot(fd) {
        return Some(s);
    }
    let i = fd as usize;
    if i >= MAX_FDS {
        return None;
    }
    // Zero-filled memory is a valid Slot array (atomics of 0 = UNKNOWN,
    // no clock).
    map_once(&CHUNK_PTRS[i / CHUNK], CHUNK * core::mem::size_of::<Slot>())?;
    slot(fd)
}

/// The class hint of `fd` without asking the kernel: UNKNOWN when there
/// is no slot. A load.
#[inline(always)]
pub fn hint(fd: c_int) -> u8 {
    slot(fd).map_or(UNKNOWN, |s| s.class())
}

/// Fills an UNKNOWN slot with a probe's answer; returns the class now in
/// the slot (a creating hook that ran meanwhile on a reused number knows
/// better than the probe).
pub fn fill_unknown(fd: c_int, class: u8) -> u8 {
    match slot_alloc(fd) {
        Some(s) => match s.class.compare_exchange(UNKNOWN, class, Relaxed, Relaxed) {
            Ok(_) => class,
            Err(known) => known,
        },
        None => class,
    }
}

/// Sets the class of an open descriptor, keeping the rest of its state
/// (listen() on a TCP socket, a wait aborting it).
pub fn set_class(fd: c_int, class: u8) {
    if let Some(s) = slot_alloc(fd) {
        s.class.store(class, Relaxed);
    }
}

/// A descriptor was created (or re-created) as `class`.
pub fn set(fd: c_int, class: u8) {
    if fd < 0 || !vfork::may_change() {
        return;
    }
    if let Some(s) = slot_alloc(fd) {
        epoll::leave(fd, s);
        s.reset(class);
    }
}

/// A descriptor was closed: its number may come back as anything.
#[inline(always)]
pub fn forget(fd: c_int) {
    if !vfork::may_change() {
        return;
    }
    if let Some(s) = slot(fd) {
        epoll::leave(fd, s);
        s.reset(UNKNOWN);
    }
}

/// The sequence `Slot::generation` values come from (0: no change yet).
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn next_generation() -> u64 {
    SEQUENCE.fetch_add(1, Relaxed) + 1
}

/// The latest generation handed out: a wait that reads it at its start
/// knows that a slot with a higher generation changed under it. A load.
#[inline(always)]
pub fn sequence() -> u64 {
    SEQUENCE.load(Relaxed)
}

/// The generation of `fd`'s slot (see `Slot::generation`); 0 when it has
/// no slot yet (the first `set` of the number gives it one, so a call that
/// recorded 0 still sees a later reuse).
#[inline(always)]
pub fn generation(fd: c_int) -> u64 {
    slot(fd).map_or(0, |s| s.generation())
}

/// Does `fd` still refer to the descriptor whose generation was `gen`?
#[inline(always)]
pub fn same(fd: c_int, gen_at_start: u64) -> bool {
    generation(fd) == gen_at_start
}

/// Has `fd` changed since `seq` was read from `sequence()`?
#[inline(always)]
pub fn changed_since(fd: c_int, seq: u64) -> bool {
    generation(fd) > seq
}

/// `fd` is about to be closed by a call that resets its slot only after
/// (fclose): calls waiting on it see the change at once.
pub fn retire(fd: c_int) {
    if let Some(s) = slot(fd) {
        s.retire();
    }
}

/// `fd` may be shared with another process from now on (sent over
/// SCM_RIGHTS): nothing is cached about it any more (see `trust`).
pub fn untrust(fd: c_int) {
    if let Some(s) = slot(fd) {
        s.untrust();
    }
}

/// `new` now refers to what `old` refers to.
pub fn copy(old: c_int, new: c_int) {
    if old == new || new < 0 {
        return;
    }
    // A loan of the flags is the old number's to end (see BORROWED).
    let class = match hint(old) {
        BORROWED => TCP,
        c => c,
    };
    // Both numbers refer to one file now: nothing cached (see trust).
    if let Some(o) = slot(old) {
        o.untrust();
    }
    set(new, class);
    if let (Some(o), Some(n)) = (slot(old), slot(new)) {
        n.copy_flags(o);
    }
}

/// Calls `f` with each clock queued in memo `c` since its last drain
/// (false: some were lost, see `memo::Claim::drain`).
pub fn memo_drain(c: &memo::Claim, f: &mut dyn FnMut(&'static Clock)) -> bool {
    c.drain(&mut |addr| {
        // SAFETY: only `Clock::notify` queues addresses, of clocks in slots
        // (chunks are never unmapped), so the address is a live Clock.
        f(unsafe { &*(addr as *const Clock) })
    })
}

/// Forgets every slot in `first..=last` that exists.
pub fn forget_range(first: u32, last: u32) {
    if !vfork::may_change() {
        return;
    }
    let last = (last as usize).min(MAX_FDS - 1);
    let mut i = first as usize;
    while i <= last {
        if slot(i as c_int).is_none() {
            // Whole chunk unmapped: nothing to forget in it.
            i = (i / CHUNK + 1) * CHUNK;
            continue;
        }
        forget(i as c_int);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_descriptors_get_mapped_slots() {
        let fd = 5 * CHUNK as c_int + 7;
        assert!(slot(fd).is_none());
        set(fd, TCP);
        assert_eq!(hint(fd), TCP);
        forget_range(0, u32::MAX);
        assert_eq!(slot(fd).unwrap().class(), UNKNOWN);
        assert!(slot(-1).is_none());
        assert!(slot_alloc(MAX_FDS as c_int).is_none());
    }

    #[test]
    fn every_change_of_what_a_number_refers_to_bumps_its_generation() {
        let fd = 3 * CHUNK as c_int + 1;
        let g0 = generation(fd);
        set(fd, TCP);
        let g1 = generation(fd);
        assert_ne!(g0, g1);
        set_class(fd, ABORTED); // same socket, new class: same identity
        fill_unknown(fd, TCP);
        assert!(same(fd, g1));
        forget(fd);
        assert!(!same(fd, g1));
        let g2 = generation(fd);
        retire(fd);
        assert!(!same(fd, g2));
        let g3 = generation(fd);
        let seq = sequence();
        assert!(!changed_since(fd, seq));
        copy(fd - 1, fd); // dup2 over it
        assert!(!same(fd, g3));
        assert!(changed_since(fd, seq));
    }
}
