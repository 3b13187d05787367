//! Vectored transfers: windows over the program's iovec array, and one
//! non-blocking `sendmsg`/`recvmsg` attempt from an offset.

use crate::real;
use crate::sys::Dir;
use libc::{c_int, iovec, msghdr, ssize_t};

/// An iovec array seen from byte offset `done`: fills `out` with the rest
/// (the first entry trimmed), at most `out.len()` entries. Returns how many.
pub fn iov_window(iov: &[iovec], mut done: usize, out: &mut [iovec]) -> usize {
    let mut n = 0;
    for v in iov {
        if n == out.len() {
            break;
        }
        if done >= v.iov_len {
            done -= v.iov_len;
            continue;
        }
        out[n] = iovec {
            // SAFETY: done < iov_len, so the pointer stays inside the
            // caller's buffer.
            iov_base: unsafe { (v.iov_base as *mut u8).add(done) }.cast(),
            iov_len: v.iov_len - done,
        };
        done = 0;
        n += 1;
    }
    n
}

pub fn iov_total(iov: &[iovec]) -> usize {
    iov.iter().fold(0usize, |a, v| a.saturating_add(v.iov_len))
}

/// Entries per retry after a partial vectored transfer (a stack array; a
/// blocking call keeps going until all is moved, so windows are enough).
pub const WINDOW: usize = 64;

/// One non-blocking `sendmsg`/`recvmsg` attempt at offset `done` of `msg`.
/// At offset 0 the caller's own msghdr is used unchanged; later attempts
/// carry only the remaining data (no name, no ancillary data: those went
/// with the first bytes).
///
/// # Safety
/// `msg` must be a valid msghdr whose iov array is valid.
pub unsafe fn msg_attempt(
    fd: c_int,
    msg: *mut msghdr,
    flags: c_int,
    done: usize,
    dir: Dir,
) -> ssize_t {
    let flags = flags | libc::MSG_DONTWAIT;
    if done == 0 {
        // SAFETY: the caller's own arguments.
        return unsafe {
            match dir {
                Dir::In => real::recvmsg(fd, msg, flags),
                Dir::Out => real::sendmsg(fd, msg, flags),
            }
        };
    }
    // SAFETY: caller guarantees msg and its iov array are valid.
    let iov = unsafe { iov_slice((*msg).msg_iov, (*msg).msg_iovlen as c_int) };
    let mut win = [iovec {
        iov_base: core::ptr::null_mut(),
        iov_len: 0,
    }; WINDOW];
    let n = iov_window(iov, done, &mut win);
    // SAFETY: msghdr is a plain C struct; zeroed is "no name, no control".
    let mut m: msghdr = unsafe { core::mem::zeroed() };
    m.msg_iov = win.as_mut_ptr();
    m.msg_iovlen = n as _;
    // SAFETY: m points to our window over the caller's buffers.
    unsafe {
        match dir {
            Dir::In => real::recvmsg(fd, &mut m, flags),
            Dir::Out => real::sendmsg(fd, &m, flags),
        }
    }
}

/// # Safety
/// `iov` must point to `cnt` valid iovecs (or cnt <= 0).
pub unsafe fn iov_slice<'a>(iov: *const iovec, cnt: c_int) -> &'a [iovec] {
    if iov.is_null() || cnt <= 0 {
        &[]
    } else {
        // SAFETY: per the contract.
        unsafe { core::slice::from_raw_parts(iov, cnt as usize) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(buf: &mut [u8]) -> iovec {
        iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        }
    }

    #[test]
    fn iov_window_skips_and_trims() {
        let mut a = [0u8; 4];
        let mut b = [0u8; 6];
        let mut c = [0u8; 2];
        let iov = [v(&mut a), v(&mut b), v(&mut c)];
        assert_eq!(iov_total(&iov), 12);
        let mut out = [iovec {
            iov_base: core::ptr::null_mut(),
            iov_len: 0,
        }; 2];
        assert_eq!(iov_window(&iov, 5, &mut out), 2);
        assert_eq!(out[0].iov_len, 5);
        assert_eq!(out[0].iov_base as usize, b.as_ptr() as usize + 1);
        assert_eq!(out[1].iov_len, 2);
        assert_eq!(iov_window(&iov, 12, &mut out), 0);
        assert_eq!(iov_window(&iov, 0, &mut out[..1]), 1);
        assert_eq!(out[0].iov_len, 4);
    }
}
