//! Epoll membership, in one owner: per TCP socket the set it was added to
//! and its events, a bitmap of members, the highest member, and per set a
//! member count and a lower bound of the members' earliest deadline.
//!
//! epoll_wait returns the program's data, not descriptors, and the set
//! lives in the kernel: the epoll_ctl hook records membership here, so that
//! epoll_wait can find its sockets with a scan of the bitmap (and skip
//! everything when a set has no TCP socket). A socket in more than one
//! epoll set is watched in the last one it was added to only. Membership
//! ends with the set: a member records the set's generation, and a set
//! closed (close, close_range, closefrom, dup2 over it) or a new set that
//! got its number has a new one.
//!
//! Nested sets (libuv, glib): a set with TCP members gets the class
//! `EPOLL`, and is itself a counted member of the set it was added to, so
//! the outer set has members too. Any other descriptor added to a set is
//! recorded without counting (it may be a set whose TCP members come
//! later); it counts once it has some (`activate`), up to `MAX_NEST` sets
//! up, as deep as the kernel lets sets nest.

use super::{EPOLL, MAX_FDS, Slot, slot, slot_alloc};
use crate::sys::mem::map_once;
use crate::sys::{Deadline, Instant};
use core::ptr;
use core::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, Ordering::Relaxed};

/// How deep sets nest, at most (the kernel's EP_MAX_NESTS): walks up and
/// down the nesting stop there whatever stale records say.
pub const MAX_NEST: usize = 4;
use libc::c_int;

const WORDS: usize = MAX_FDS / 64;
/// WORDS words, mapped at the first epoll_ctl of a TCP socket.
static EP_BITS: AtomicPtr<AtomicU64> = AtomicPtr::new(ptr::null_mut());
/// Highest descriptor ever registered, +1 (0: none).
static EP_END: AtomicI32 = AtomicI32::new(0);

fn bits() -> Option<&'static [AtomicU64]> {
    let p = EP_BITS.load(Relaxed);
    // SAFETY: a published pointer is a mapping of WORDS zeroed words,
    // never unmapped.
    (!p.is_null()).then(|| unsafe { core::slice::from_raw_parts(p, WORDS) })
}

fn bits_alloc() -> Option<&'static [AtomicU64]> {
    if EP_BITS.load(Relaxed).is_null() {
        map_once(&EP_BITS, WORDS * 8)?;
    }
    bits()
}

/// Is `s` a member of the live set `epfd`?
#[inline(always)]
fn member_of(s: &Slot, epfd: c_int) -> bool {
    s.ep_fd.load(Relaxed) == epfd + 1
        && slot(epfd).is_some_and(|e| e.generation() == s.ep_gen.load(Relaxed))
}

/// The events `fd` is registered with in `epfd`, if it is a member there.
pub fn registered(epfd: c_int, fd: c_int) -> Option<u32> {
    slot(fd)
        .filter(|s| member_of(s, epfd))
        .map(|s| s.ep_events.load(Relaxed))
}

/// epoll_ctl(ADD/MOD) of TCP socket `fd` into `epfd` with `events`.
pub fn join(epfd: c_int, fd: c_int, events: u32) {
    let (Some(s), Some(e)) = (slot_alloc(fd), slot_alloc(epfd)) else {
        return;
    };
    link(fd, s, epfd, e, events);
    if s.ep_counted.swap(1, Relaxed) == 0 {
        count_in(fd, e);
        activate(epfd, e);
    }
}

/// epoll_ctl(ADD/MOD) of a descriptor that is not a TCP socket: recorded,
/// counted only if it is a set with TCP members (see the module's doc).
pub fn join_other(epfd: c_int, fd: c_int, events: u32) {
    let (Some(s), Some(e)) = (slot_alloc(fd), slot_alloc(epfd)) else {
        return;
    };
    link(fd, s, epfd, e, events);
    if s.class() == EPOLL && s.ep_count.load(Relaxed) != 0 {
        activate(fd, s);
    }
}

/// Makes `s` (descriptor `fd`) a member of `e` (`epfd`), not counted yet
/// if it was not one already.
fn link(fd: c_int, s: &Slot, epfd: c_int, e: &Slot, events: u32) {
    if !member_of(s, epfd) {
        leave(fd, s);
        s.ep_fd.store(epfd + 1, Relaxed);
        s.ep_gen.store(e.generation(), Relaxed);
    }
    s.ep_events.store(events, Relaxed);
}

/// `fd`'s membership in `e` now counts: `e` has members, and `fd` is in
/// the bitmap the scans go over.
fn count_in(fd: c_int, e: &Slot) {
    e.ep_count.fetch_add(1, Relaxed);
    e.class.store(EPOLL, Relaxed);
    if let Some(bits) = bits_alloc() {
        bits[fd as usize / 64].fetch_or(1 << (fd % 64), Relaxed);
    }
    EP_END.fetch_max(fd + 1, Relaxed);
}

/// The live set `s` is a member of, if any.
fn parent(s: &Slot) -> Option<(c_int, &'static Slot)> {
    let ep = s.ep_fd.load(Relaxed);
    let p = slot(ep - 1).filter(|p| ep != 0 && p.generation() == s.ep_gen.load(Relaxed))?;
    Some((ep - 1, p))
}

/// Set `set` (descriptor `fd`) has TCP members: it counts in the set it
/// is recorded in, and that one in its own, up to MAX_NEST sets up. A
/// newly counted set's members were not in its parent's bound: the
/// parent's bound becomes unknown (its next wait scans).
fn activate(fd: c_int, set: &Slot) {
    let (mut fd, mut s) = (fd, set);
    for _ in 0..MAX_NEST {
        let Some((pfd, p)) = parent(s) else {
            return;
        };
        p.ep_next.store(0, Relaxed);
        if s.ep_counted.swap(1, Relaxed) != 0 {
            return;
        }
        count_in(fd, p);
        (fd, s) = (pfd, p);
    }
}

/// epoll_ctl(DEL) of `fd` from `epfd`.
pub fn del(epfd: c_int, fd: c_int) {
    if let Some(s) = slot(fd).filter(|s| member_of(s, epfd)) {
        leave(fd, s);
    }
}

/// `fd` leaves whatever set it is in (its slot is being reset).
pub(super) fn leave(fd: c_int, s: &Slot) {
    let ep = s.ep_fd.swap(0, Relaxed);
    if ep == 0 || s.ep_counted.swap(0, Relaxed) == 0 {
        return;
    }
    if let Some(e) = slot(ep - 1).filter(|e| e.generation() == s.ep_gen.load(Relaxed)) {
        let _ = e
            .ep_count
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
    }
    if let Some(bits) = bits() {
        bits[fd as usize / 64].fetch_and(!(1 << (fd % 64)), Relaxed);
    }
}

/// Does the epoll set `epfd` have TCP sockets in it? A load.
#[inline(always)]
pub fn has_members(epfd: c_int) -> bool {
    slot(epfd).is_some_and(|e| e.ep_count.load(Relaxed) != 0)
}

/// Calls `f(fd, slot, events)` for every TCP socket registered in `epfd`.
pub fn members(epfd: c_int, f: &mut dyn FnMut(c_int, &'static Slot, u32)) {
    let end = EP_END.load(Relaxed).max(0) as usize;
    let Some(bits) = bits() else {
        return;
    };
    for (w, word) in bits.iter().enumerate().take(end.div_ceil(64)) {
        let mut bits = word.load(Relaxed);
        while bits != 0 {
            let fd = (w * 64 + bits.trailing_zeros() as usize) as c_int;
            bits &= bits - 1;
            if let Some(s) = slot(fd).filter(|s| member_of(s, epfd)) {
                f(fd, s, s.ep_events.load(Relaxed));
            }
        }
    }
}

/// When `s` was added to (or changed in) its set.
pub fn joined_at(s: &Slot) -> Instant {
    Instant(s.ep_joined.load(Relaxed))
}

pub fn set_joined_at(s: &Slot, at: Instant) {
    s.ep_joined.store(at.0, Relaxed);
}

/// The set's lower bound of its members' earliest deadline (`None`:
/// unknown, the next wait scans).
pub fn next_due(set: &Slot) -> Option<Deadline> {
    Some(set.ep_next.load(Relaxed))
        .filter(|&d| d != 0)
        .map(Deadline::from_raw)
}

/// Publishes the bound found by a scan.
pub fn set_next_due(set: &Slot, d: Deadline) {
    set.ep_next.store(d.raw().max(1), Relaxed);
}

/// Lowers a known bound to `d` (a new member with a shorter timeout), and
/// those of the sets `set` is nested in; an unknown bound stays unknown.
pub fn lower_next_due(set: &Slot, d: Deadline) {
    let mut s = set;
    for _ in 0..=MAX_NEST {
        let next = s.ep_next.load(Relaxed);
        if next != 0 {
            s.ep_next.fetch_min(d.raw().max(1).min(next), Relaxed);
        }
        match parent(s).filter(|_| s.ep_counted.load(Relaxed) != 0) {
            Some((_, p)) => s = p,
            None => return,
        }
    }
}

/// How many members of `set` count (TCP sockets and sets with some).
pub fn count(set: &Slot) -> u32 {
    set.ep_count.load(Relaxed)
}

#[cfg(test)]
mod tests {
    use super::super::{CHUNK, EPOLL, TCP, set};
    use super::*;

    fn members_of(epfd: c_int) -> std::vec::Vec<c_int> {
        let mut v = std::vec::Vec::new();
        members(epfd, &mut |fd, _, _| v.push(fd));
        v
    }

    #[test]
    fn a_set_counts_in_its_parent_once_it_has_tcp_members_in_either_order() {
        let base = 7 * CHUNK as c_int;
        let (outer, inner, sock, pipe) = (base, base + 1, base + 2, base + 3);
        let (outer2, inner2, sock2) = (base + 4, base + 5, base + 6);
        for fd in base..base + 7 {
            set(fd, if fd == sock || fd == sock2 { TCP } else { 0 });
        }
        // A pipe in a set: recorded, never counted.
        join_other(outer, pipe, 1);
        assert!(!has_members(outer));
        // libuv's order: the (empty) inner set joins first, its sockets later.
        join_other(outer, inner, 1);
        assert!(!has_members(outer));
        join(inner, sock, 1);
        assert_eq!(slot(inner).unwrap().class(), EPOLL);
        assert!(has_members(outer));
        assert_eq!(members_of(outer), [inner]);
        assert_eq!(members_of(inner), [sock]);
        // The other order: a set with members joins.
        join(inner2, sock2, 1);
        join_other(outer2, inner2, 1);
        assert!(has_members(outer2));
        assert_eq!(members_of(outer2), [inner2]);
        // Leaving (DEL, close of the inner set) uncounts it.
        del(outer, inner);
        assert!(!has_members(outer));
        crate::fdtable::forget(inner2);
        assert!(!has_members(outer2));
    }
}
