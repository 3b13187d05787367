//! Memos of poll/select waits: storage only (the policy is in `mux`).
//!
//! A program's poll array is usually the same as on its last call. A memo
//! keeps, for one array (keyed by its address), a copy of what the wait
//! covers (poll: fd and events per entry; select: the read and write
//! words), the earliest deadline the last full pass found, and a ring of
//! the clocks of its sockets whose idle period ended since (bytes moved:
//! `Clock::progress`), so that the next wait starts their periods as a
//! full pass would, without touching the other sockets.
//!
//! `MEMOS` memos, so that several threads polling different arrays do not
//! take each other's; a memo is claimed with a flag for the few
//! instructions that read or write it (never across the real wait, never
//! waited for: a claimed memo is simply not used), mapped at first use.
//! No allocation, no lock, no thread-local.

use crate::sys::mem::map_once;
use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering::Relaxed};
use core::sync::atomic::{Ordering::Acquire, Ordering::Release};

pub const MEMOS: usize = 4;
/// Words of a snapshot: a poll array of up to CAP entries.
pub const CAP: usize = 4096;
const RING: u64 = 64;

pub struct Memo {
    busy: AtomicU8,
    /// Bumped at every store: a wait that read the memo updates it after
    /// its real call only if nobody stored since.
    version: AtomicU64,
    key: [AtomicUsize; 3],
    len: AtomicUsize,
    /// fdtable::sequence() and the time of the full pass, the deadline it
    /// found (raw; 0: no memo).
    seq: AtomicU64,
    at: AtomicU64,
    due: AtomicU64,
    /// Ring of clock addresses (tagged with their index's low 16 bits in
    /// bits 48..64): written by any thread (`notify`), read by the claimer.
    head: AtomicU64,
    tail: AtomicU64,
    ring: [AtomicU64; RING as usize],
    snap: UnsafeCell<[u64; CAP]>,
}

// SAFETY: `snap` is only touched by the holder of `busy` (see `Claim`);
// everything else is atomic.
unsafe impl Sync for Memo {}

static MEMO: AtomicPtr<Memo> = AtomicPtr::new(ptr::null_mut());
static NEXT_VICTIM: AtomicUsize = AtomicUsize::new(0);

fn all() -> Option<&'static [Memo]> {
    let p = MEMO.load(Relaxed);
    // SAFETY: a published pointer is a zero-filled mapping of MEMOS memos
    // (all-zero is a valid Memo: atomics of 0, a zero array), never
    // unmapped.
    (!p.is_null()).then(|| unsafe { core::slice::from_raw_parts(p, MEMOS) })
}

/// A clock whose idle period ended (or was spent), watched by the memos in
/// `mask` (`Clock::watch`): queued for them. Lock-free, a few stores.
pub fn notify(mask: u8, clock: usize) {
    let Some(m) = all() else {
        return;
    };
    for (k, memo) in m.iter().enumerate() {
        if mask & (1 << k) != 0 {
            let i = memo.head.fetch_add(1, Relaxed);
            memo.ring[(i % RING) as usize].store(clock as u64 | (i & 0xffff) << 48, Release);
        }
    }
}

/// A memo held by one wait: released on drop.
pub struct Claim {
    k: usize,
    m: &'static Memo,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.m.busy.store(0, Release);
    }
}

fn claim(k: usize, m: &'static Memo) -> Option<Claim> {
    m.busy
        .compare_exchange(0, 1, Acquire, Relaxed)
        .ok()
        .map(|_| Claim { k, m })
}

/// The memo of `key`, claimed, if there is one and it is free.
pub fn find(key: [usize; 3]) -> Option<Claim> {
    let m = all()?;
    let k = m.iter().position(|m| {
        m.key[0].load(Relaxed) == key[0]
            && m.key[1].load(Relaxed) == key[1]
            && m.key[2].load(Relaxed) == key[2]
    })?;
    claim(k, &m[k])
}

/// A memo to reuse for a new key: a free one that is empty or whose last
/// pass is older than `stale` (ns before `now`), round robin. Memos in use
/// keep their arrays: with more arrays than memos, the others make plain
/// passes instead of evicting each other at every wait.
pub fn victim(now: u64, stale: u64) -> Option<Claim> {
    let m = match all() {
        Some(m) => m,
        None => {
            map_once(&MEMO, MEMOS * core::mem::size_of::<Memo>())?;
            all()?
        }
    };
    let start = NEXT_VICTIM.fetch_add(1, Relaxed);
    (0..MEMOS)
        .map(|i| (start + i) % MEMOS)
        .filter(|&k| {
            let (at, due) = (m[k].at.load(Relaxed), m[k].due.load(Relaxed));
            due == 0 || now.saturating_sub(at) > stale
        })
        .find_map(|k| claim(k, &m[k]))
}

/// Claims memo `k` again if nobody stored into it since `version`.
pub fn again(k: usize, version: u64) -> Option<Claim> {
    let m = &all()?[k];
    let c = claim(k, m)?;
    (m.version.load(Relaxed) == version).then_some(c)
}

impl Claim {
    /// This memo's bit in `Clock::watch` masks.
    pub fn bit(&self) -> u8 {
        1 << self.k
    }
    pub fn index(&self) -> usize {
        self.k
    }
    pub fn version(&self) -> u64 {
        self.m.version.load(Relaxed)
    }
    pub fn key(&self) -> [usize; 3] {
        [0, 1, 2].map(|i| self.m.key[i].load(Relaxed))
    }
    /// (sequence, time of the pass, deadline) as stored; due 0: none.
    pub fn state(&self) -> (u64, u64, u64) {
        (
            self.m.seq.load(Relaxed),
            self.m.at.load(Relaxed),
            self.m.due.load(Relaxed),
        )
    }
    /// The snapshot as stored.
    pub fn snap(&self) -> &[u64] {
        let len = self.m.len.load(Relaxed).min(CAP);
        // SAFETY: the claim gives this wait the snapshot alone.
        unsafe { &(&*self.m.snap.get())[..len] }
    }
    /// The whole snapshot buffer, to fill (then `store`).
    pub fn snap_mut(&mut self) -> &mut [u64; CAP] {
        // SAFETY: as for `snap`.
        unsafe { &mut *self.m.snap.get() }
    }
    /// Forgets the memo (its key stays: it is found again, and refilled).
    pub fn clear(&mut self) {
        self.m.version.fetch_add(1, Relaxed);
        self.m.due.store(0, Relaxed);
        self.m.len.store(0, Relaxed);
    }
    /// Publishes a full pass (the snapshot filled with `len` words).
    pub fn store(&mut self, key: [usize; 3], len: usize, seq: u64, at: u64, due: u64) {
        self.m.version.fetch_add(1, Relaxed);
        for (k, v) in self.m.key.iter().zip(key) {
            k.store(v, Relaxed);
        }
        self.m.len.store(len, Relaxed);
        self.m.seq.store(seq, Relaxed);
        self.m.at.store(at, Relaxed);
        self.m.due.store(due.max(1), Relaxed);
    }
    /// A later deadline found by the checks of a wait that used the memo.
    pub fn set_due(&mut self, due: u64) {
        self.m.version.fetch_add(1, Relaxed);
        self.m.due.store(due.max(1), Relaxed);
    }
    /// Drops what the ring holds (a full pass is about to look at every
    /// clock anyway).
    pub fn skip_queued(&self) {
        self.m.tail.store(self.m.head.load(Relaxed), Relaxed);
    }
    /// Calls `f(clock address)` for each clock queued since the last
    /// drain; false if some were lost (the ring overflowed, or a writer is
    /// between its two steps): the caller then makes a full pass.
    pub fn drain(&self, f: &mut dyn FnMut(usize)) -> bool {
        let (head, mut i) = (self.m.head.load(Relaxed), self.m.tail.load(Relaxed));
        if head.wrapping_sub(i) > RING {
            return false;
        }
        while i != head {
            let v = self.m.ring[(i % RING) as usize].load(Acquire);
            if v >> 48 != i & 0xffff {
                return false;
            }
            f((v & ((1 << 48) - 1)) as usize);
            i += 1;
        }
        self.m.tail.store(head, Relaxed);
        true
    }
}
