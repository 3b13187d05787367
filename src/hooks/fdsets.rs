//! select/pselect's fd_sets as the program passed them.
//!
//! Seam for issue 10 item 1: today a whole `fd_set` (FD_SETSIZE bits) is
//! copied and written back; programs allocate `howmany(nfds, NFDBITS)`
//! words only. The fix belongs here alone: save, restore and walk exactly
//! `ceil(n/64)` words of each set.

use crate::classify::maybe_tcp;
use crate::mux::{self, IN, OUT};
use libc::{c_int, fd_set};

/// The sets as the program passed them (the real select overwrites them
/// with its results, and a wait may take several real calls).
pub struct Sets {
    n: c_int,
    sets: [Option<fd_set>; 3],
}

impl Sets {
    /// # Safety
    /// Each pointer is null or a valid fd_set.
    pub unsafe fn save(n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set) -> Sets {
        // SAFETY: per the contract; fd_set is plain data.
        let copy = |p: *mut fd_set| (!p.is_null()).then(|| unsafe { *p });
        Sets {
            n,
            sets: [copy(r), copy(w), copy(e)],
        }
    }

    /// Puts the program's sets back before a real call.
    ///
    /// # Safety
    /// As for `save`, the same pointers.
    pub unsafe fn restore(&self, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set) {
        for (p, s) in [r, w, e].into_iter().zip(&self.sets) {
            if let Some(s) = s {
                // SAFETY: per the contract.
                unsafe { *p = *s };
            }
        }
    }

    /// Calls `f(fd, ev)` for each descriptor in the read or write set.
    fn each_fd(&self, f: &mut impl FnMut(c_int, u8)) {
        // An fd_set is FD_SETSIZE bits in 64-bit words (glibc, 64-bit
        // Linux): walk the set bits of each word, not every descriptor.
        const WORDS: usize = libc::FD_SETSIZE / 64;
        const _: () = assert!(core::mem::size_of::<fd_set>() == WORDS * 8);
        let words = |s: &Option<fd_set>| -> [u64; WORDS] {
            // SAFETY: same size (checked above), plain bits.
            s.map_or([0; WORDS], |s| unsafe {
                core::mem::transmute::<fd_set, [u64; WORDS]>(s)
            })
        };
        let (r, w) = (words(&self.sets[0]), words(&self.sets[1]));
        let n = self.n as usize;
        for i in 0..n.div_ceil(64) {
            // Only descriptors below n count.
            let mask = if (i + 1) * 64 <= n {
                !0
            } else {
                (1u64 << (n % 64)) - 1
            };
            let mut any = (r[i] | w[i]) & mask;
            while any != 0 {
                let b = any.trailing_zeros() as usize;
                any &= any - 1;
                let bit = 1u64 << b;
                let ev =
                    if r[i] & bit != 0 { IN } else { 0 } | if w[i] & bit != 0 { OUT } else { 0 };
                f((i * 64 + b) as c_int, ev);
            }
        }
    }

    pub fn has_tcp(&self) -> bool {
        let mut any = false;
        self.each_fd(&mut |fd, _| any |= maybe_tcp(fd));
        any
    }
}

impl mux::WaitSet for Sets {
    fn each(&self, f: &mut impl FnMut(c_int, u8)) {
        self.each_fd(f)
    }
}
