//! The engine: timed transfers, connect and accept on blocking TCP sockets.
//!
//! Every transfer first makes one attempt with `MSG_DONTWAIT`: when data (or
//! buffer space) is there, that single system call is the whole cost, as it
//! would have been without us. Only when it would block do we look at the
//! descriptor's mode, and wait with a deadline; waiting and retrying with
//! `MSG_DONTWAIT` never blocks past the deadline, even if another thread
//! takes the data that poll announced. The descriptor's file status flags
//! are never touched by transfers.

use crate::block::{own_deadline, wait};
use crate::fdtable::{self, Slot};
use crate::real;
use crate::sock::{Fail, Outcome, Sock};
use crate::sys::sockopt::{queued_in, set_status_flags, status_flags};
use crate::sys::{Dir, Nanos, SavedErrno, errno};
use libc::{c_int, iovec, msghdr, sockaddr, socklen_t, ssize_t};

/// Runs a transfer of `total` bytes on TCP socket `sock` with idle timeout
/// `t` (`op` names the call in the timeout log). `attempt(done)` makes one
/// non-blocking try at moving the bytes from offset `done` on and returns
/// what the system call returned. With `all` (blocking sends, MSG_WAITALL)
/// the call goes on until `total` bytes moved, as the blocking kernel call
/// would.
#[inline(always)]
pub fn transfer<F: FnMut(usize) -> ssize_t>(
    op: &'static str,
    sock: Sock,
    dir: Dir,
    t: Nanos,
    total: usize,
    all: bool,
    mut attempt: F,
) -> Outcome {
    if total == 0 {
        // Nothing to move: the kernel answers at once, whatever the mode.
        return Err(Fail::Bypass);
    }
    if let Some(e) = sock.slot().and_then(|s| s.take_pending()) {
        return Err(Fail::Errno(e));
    }
    let saved = SavedErrno::save();
    let r = attempt(0);
    if r >= 0 {
        if r > 0 && dir == Dir::In {
            // Bytes arrived: the receive clock's idle period ends. (Sending
            // has no such shortcut: its progress is the peer's acks, see
            // `Slot::peer_progress`.)
            if let Some(s) = sock.slot() {
                s.clock(Dir::In).progress();
            }
        }
        if !all || r == 0 || r as usize >= total {
            return Ok(r as usize);
        }
    } else {
        let e = errno();
        if e != libc::EAGAIN {
            if e == libc::ENOTSOCK {
                fdtable::forget(sock.fd);
                return Err(Fail::Bypass);
            }
            return Err(Fail::Errno(e));
        }
    }
    transfer_slow(
        op,
        sock,
        dir,
        t,
        total,
        all,
        r.max(0) as usize,
        saved,
        &mut attempt,
    )
}

/// The part of a transfer that has to wait. `done` bytes already moved.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn transfer_slow(
    op: &'static str,
    sock: Sock,
    dir: Dir,
    t: Nanos,
    total: usize,
    all: bool,
    mut done: usize,
    saved: SavedErrno,
    attempt: &mut dyn FnMut(usize) -> ssize_t,
) -> Outcome {
    // A partial count is a success (errno as the program left it); an
    // error only when nothing moved.
    let finish = |done: usize, e: c_int| -> Outcome {
        if done > 0 {
            saved.restore();
            Ok(done)
        } else {
            Err(Fail::Errno(e))
        }
    };
    let fl = match status_flags(sock.fd) {
        Ok(fl) => fl,
        Err(e) => return finish(done, e),
    };
    if fl & libc::O_NONBLOCK != 0 {
        // The program manages this socket itself: its answer is EAGAIN
        // (or the partial count), exactly what the kernel said.
        return finish(done, libc::EAGAIN);
    }
    let own = own_deadline(&sock, dir);
    let local = Slot::new();
    let slot = sock.slot_or(&local);
    let clock = slot.clock(dir);
    loop {
        match wait(&sock, dir, t, own, slot, clock) {
            Ok(rev) if done > 0 && error_pending(sock.fd, dir, rev) => {
                // The connection failed after some bytes moved: return the
                // count, and leave the error pending in the kernel for the
                // program's next call, as a blocking call would have (an
                // attempt now would consume it, and raise SIGPIPE).
                saved.restore();
                return Ok(done);
            }
            Ok(_) => {}
            Err(Fail::IDLE) => {
                // Last non-blocking attempts: poll announces send space only
                // once a third of the buffer is free, and data may have come
                // at the last moment. What still fits now is what a blocking
                // call would have moved; the retry then fails at once.
                let before = done;
                done = drain(slot, done, total, all, attempt);
                if done == 0 {
                    clock.expire();
                } else if dir == Dir::In && done > before {
                    clock.progress();
                }
                crate::log::timeout(op, sock.fd, t);
                return finish(done, libc::ETIMEDOUT);
            }
            Err(Fail::Errno(e)) => return finish(done, e),
            // wait never bypasses.
            Err(Fail::Bypass) => return finish(done, libc::EINVAL),
        }
        let r = attempt(done);
        if r > 0 {
            done += r as usize;
            if dir == Dir::In {
                clock.progress();
            }
            if !all || done >= total {
                saved.restore();
                return Ok(done);
            }
        } else if r == 0 {
            // End of stream (or nothing left to move).
            saved.restore();
            return Ok(done);
        } else {
            let e = errno();
            if e != libc::EAGAIN {
                if done > 0 {
                    slot.keep_pending(e);
                }
                return finish(done, e);
            }
            // Someone else took what poll announced: wait again, same clock.
        }
    }
}

/// After a partial transfer, does poll's answer mean the connection has
/// failed with nothing left to move? Sending: an error or hang-up. Receiving:
/// an error and nothing queued to read (after a reset poll also says POLLIN).
fn error_pending(fd: c_int, dir: Dir, rev: i16) -> bool {
    match dir {
        Dir::Out => rev & (libc::POLLERR | libc::POLLHUP) != 0,
        Dir::In => {
            if rev & libc::POLLERR == 0 {
                return false;
            }
            queued_in(fd) == Some(0)
        }
    }
}

/// Non-blocking attempts from `done` on until one would block (or, without
/// `all`, the first that moves something); returns the new `done`.
fn drain(
    slot: &Slot,
    mut done: usize,
    total: usize,
    all: bool,
    attempt: &mut dyn FnMut(usize) -> ssize_t,
) -> usize {
    let saved = SavedErrno::save();
    while !all || done < total {
        let r = attempt(done);
        if r < 0 && done > 0 && errno() != libc::EAGAIN {
            slot.keep_pending(errno());
        }
        if r <= 0 {
            break;
        }
        done += r as usize;
        if !all {
            break;
        }
    }
    saved.restore();
    done
}

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

/// A blocking `connect` with a timeout. The socket is switched to
/// non-blocking for the duration of the call (connect has no per-call
/// flag) and its exact original flags are put back before returning. On
/// timeout the attempt is aborted in the kernel (connect to AF_UNSPEC), so
/// the socket is closed-state as after a kernel connect timeout.
/// `Err(Fail::Bypass)`: not ours to time, the real connect does the call.
///
/// # Safety
/// `addr`/`len` as for connect(2).
pub unsafe fn connect(sock: Sock, addr: *const sockaddr, len: socklen_t, t: Nanos) -> Outcome<()> {
    let saved = SavedErrno::save();
    let fl = match status_flags(sock.fd) {
        // Non-blocking: the program waits itself.
        Ok(fl) if fl & libc::O_NONBLOCK == 0 => fl,
        _ => {
            saved.restore();
            return Err(Fail::Bypass);
        }
    };
    // Sets only O_NONBLOCK on top of the original flags.
    if set_status_flags(sock.fd, fl | libc::O_NONBLOCK).is_err() {
        saved.restore();
        return Err(Fail::Bypass);
    }
    // SAFETY: per the contract.
    let r = unsafe { connect_nonblocking(&sock, addr, len, t) };
    // Puts the exact flags read above back.
    let _ = set_status_flags(sock.fd, fl);
    if r.is_ok() {
        saved.restore();
    }
    r
}

/// The timed part of `connect`, on the socket made non-blocking.
///
/// # Safety
/// As for `connect`.
unsafe fn connect_nonblocking(
    sock: &Sock,
    addr: *const sockaddr,
    len: socklen_t,
    t: Nanos,
) -> Outcome<()> {
    let fd = sock.fd;
    // SAFETY: the caller's own arguments.
    if unsafe { real::connect(fd, addr, len) } == 0 {
        return Ok(());
    }
    let e = errno();
    // EALREADY: a retry after EINTR while the first attempt is still on;
    // its clock carries on. EINPROGRESS: a new attempt, a new clock.
    if e != libc::EINPROGRESS && e != libc::EALREADY {
        return Err(Fail::Errno(e));
    }
    let local = Slot::new();
    let slot = sock.slot_or(&local);
    let clock = slot.clock(Dir::Out);
    if e == libc::EINPROGRESS {
        clock.expire();
    }
    let own = own_deadline(sock, Dir::Out);
    loop {
        match wait(sock, Dir::Out, t, own, slot, clock) {
            Ok(_) => {
                // Connecting again learns the result the way the kernel's
                // own blocking connect ends: 0 with the socket marked
                // connected, or the error (consumed, the socket marked
                // unconnected), so later calls see what they would have.
                // SAFETY: the caller's own arguments.
                let r = unsafe { real::connect(fd, addr, len) };
                let e = errno();
                if r == 0 || e == libc::EISCONN {
                    clock.progress();
                    return Ok(());
                }
                if e != libc::EALREADY && e != libc::EINPROGRESS {
                    return Err(Fail::Errno(e));
                }
                // Woken early: wait on, same clock.
            }
            Err(Fail::IDLE) => {
                clock.expire();
                crate::log::timeout("connect", fd, t);
                crate::sys::sockopt::abort(fd);
                return Err(Fail::IDLE);
            }
            // The kernel's own answer when SO_SNDTIMEO cuts a blocking connect.
            Err(Fail::Errno(libc::EAGAIN)) => return Err(Fail::Errno(libc::EINPROGRESS)),
            Err(f) => return Err(f),
        }
    }
}

/// Waits (with a timeout) for a blocking listening socket to have a client.
/// The flags are never touched (pre-forked workers share the socket), so a
/// client another process takes between our poll and the accept leaves the
/// accept blocking: the residual race, documented in the README.
/// `Ok(())`: go on and accept; errno kept.
pub fn accept_wait(sock: Sock, t: Nanos) -> Outcome<()> {
    let saved = SavedErrno::save();
    match status_flags(sock.fd) {
        Ok(fl) if fl & libc::O_NONBLOCK == 0 => {}
        _ => {
            saved.restore();
            return Ok(());
        }
    }
    let own = own_deadline(&sock, Dir::In);
    let local = Slot::new();
    let slot = sock.slot_or(&local);
    let clock = slot.clock(Dir::In);
    let r = match wait(&sock, Dir::In, t, own, slot, clock) {
        Ok(_) => {
            clock.progress();
            Ok(())
        }
        Err(Fail::IDLE) => {
            clock.expire();
            crate::log::timeout("accept", sock.fd, t);
            Err(Fail::IDLE)
        }
        Err(f) => Err(f),
    };
    saved.restore();
    r
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
