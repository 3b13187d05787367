//! select/pselect's fd_sets as the program passed them.
//!
//! Programs size their sets for `nfds` only (`howmany(nfds, NFDBITS)`
//! words: OpenSSH, libevent's select backend), and the kernel reads and
//! writes exactly `ceil(nfds/64)` 64-bit words of each set. So do we: the
//! words are copied once, before the first real call, and put back before
//! each later one (the real call writes its results itself; we never write
//! a result, nor a byte past the program's words). The first real call gets
//! the sets untouched, so a set the kernel cannot write fails with its
//! EFAULT before we write anything. Before the copy the kernel is asked
//! whether it can read them (`sys::mem::readable`): a set it cannot read
//! is left to the real call, which answers EFAULT.

use crate::classify::maybe_tcp;
use crate::mux::{self, IN, OUT};
use crate::sys::mem::readable;
use core::cell::Cell;
use libc::{c_int, fd_set};

/// Words of a full fd_set (FD_SETSIZE bits, 64-bit words on 64-bit Linux).
const WORDS: usize = libc::FD_SETSIZE / 64;
const _: () = assert!(core::mem::size_of::<fd_set>() == WORDS * 8);

/// The sets as the program passed them (the real select overwrites them
/// with its results, and a wait may take several real calls).
pub struct Sets {
    n: c_int,
    /// `ceil(n/64)` (n is 1..=FD_SETSIZE: checked by the hook).
    words: usize,
    sets: [Option<[u64; WORDS]>; 3],
    /// The program's words are still in its sets (no real call yet).
    pristine: Cell<bool>,
    /// Where the read and write sets are (the memo's key).
    at: [usize; 2],
}

impl Sets {
    /// The program's sets, or None if the kernel could not read one.
    ///
    /// # Safety
    /// `1 <= n <= FD_SETSIZE`; each pointer is null or the program's.
    pub unsafe fn save(n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set) -> Option<Sets> {
        let words = (n as usize).div_ceil(64).min(WORDS);
        if !readable(&[r, w, e].map(|p| (p as *const u8, words * 8))) {
            return None;
        }
        let copy = |p: *mut fd_set| {
            (!p.is_null()).then(|| {
                let mut s = [0u64; WORDS];
                // SAFETY: `words` words at p, which the kernel can read
                // (checked above); bytes, so any alignment.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        p as *const u8,
                        s.as_mut_ptr() as *mut u8,
                        words * 8,
                    )
                };
                s
            })
        };
        Some(Sets {
            n,
            words,
            sets: [copy(r), copy(w), copy(e)],
            pristine: Cell::new(true),
            at: [r as usize, w as usize],
        })
    }

    /// Puts the program's words back before a real call (nothing before
    /// the first: they are still there).
    ///
    /// # Safety
    /// As for `save`, the same pointers, writable.
    pub unsafe fn restore(&self, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set) {
        if self.pristine.replace(false) {
            return;
        }
        for (p, s) in [r, w, e].into_iter().zip(&self.sets) {
            if let Some(s) = s {
                // SAFETY: per the contract: the words the kernel wrote.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        s.as_ptr() as *const u8,
                        p as *mut u8,
                        self.words * 8,
                    )
                };
            }
        }
    }

    /// Calls `f(fd, ev)` for each descriptor in the read or write set.
    fn each_fd(&self, f: &mut impl FnMut(c_int, u8)) {
        let word = |s: &Option<[u64; WORDS]>, i: usize| s.as_ref().map_or(0, |s| s[i]);
        let n = self.n as usize;
        for i in 0..self.words {
            // Only descriptors below n count.
            let mask = if (i + 1) * 64 <= n {
                !0
            } else {
                (1u64 << (n % 64)) - 1
            };
            let (r, w) = (word(&self.sets[0], i), word(&self.sets[1], i));
            let mut any = (r | w) & mask;
            while any != 0 {
                let b = any.trailing_zeros() as usize;
                any &= any - 1;
                let bit = 1u64 << b;
                let ev = if r & bit != 0 { IN } else { 0 } | if w & bit != 0 { OUT } else { 0 };
                f((i * 64 + b) as c_int, ev);
            }
        }
    }

    /// Any descriptor in the sets that may be TCP? Stops at the first.
    pub fn has_tcp(&self) -> bool {
        let n = self.n as usize;
        let word = |s: &Option<[u64; WORDS]>, i: usize| s.as_ref().map_or(0, |s| s[i]);
        (0..self.words).any(|i| {
            let mask = if (i + 1) * 64 <= n {
                !0
            } else {
                (1u64 << (n % 64)) - 1
            };
            let mut any = (word(&self.sets[0], i) | word(&self.sets[1], i)) & mask;
            while any != 0 {
                if maybe_tcp((i * 64 + any.trailing_zeros() as usize) as c_int) {
                    return true;
                }
                any &= any - 1;
            }
            false
        })
    }
}

impl Sets {
    /// The read then the write words (a missing set as zeros).
    fn words(&self) -> impl Iterator<Item = u64> + '_ {
        let w = self.words;
        let set = |i: usize| (0..w).map(move |j| self.sets[i].as_ref().map_or(0, |s| s[j]));
        set(0).chain(set(1))
    }
}

impl mux::WaitSet for Sets {
    fn each(&self, f: &mut impl FnMut(c_int, u8)) {
        self.each_fd(f)
    }

    fn memo_key(&self) -> Option<[usize; 3]> {
        Some([self.at[0], self.at[1], self.n as usize])
    }

    fn same(&self, snap: &[u64]) -> bool {
        snap.len() == 2 * self.words && self.words().zip(snap).all(|(a, &b)| a == b)
    }

    fn snapshot(&self, out: &mut [u64]) -> Option<usize> {
        let mut n = 0;
        for (o, v) in out.iter_mut().zip(self.words()) {
            *o = v;
            n += 1;
        }
        Some(n)
    }

    fn snap_fds(snap: &[u64], f: &mut impl FnMut(c_int)) {
        let (r, w) = snap.split_at(snap.len() / 2);
        for (i, (a, b)) in r.iter().zip(w).enumerate() {
            let mut any = a | b;
            while any != 0 {
                f((i * 64 + any.trailing_zeros() as usize) as c_int);
                any &= any - 1;
            }
        }
    }
}
