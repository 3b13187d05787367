//! The engine: timed transfers, connect and accept on blocking TCP sockets.
//!
//! Every transfer first makes one attempt with `MSG_DONTWAIT`: when data (or
//! buffer space) is there, that single system call is the whole cost, as it
//! would have been without us. Only when it would block do we look at the
//! descriptor's mode, and wait with a deadline; waiting and retrying with
//! `MSG_DONTWAIT` never blocks past the deadline, even if another thread
//! takes the data that poll announced. The descriptor's file status flags
//! are never touched by transfers.

use crate::block::{Wait, own_timeout, wait};
use crate::fdtable::{self, Slot};
use crate::real;
use crate::sys::{SavedErrno, errno, set_errno};
use libc::{c_int, iovec, msghdr, sockaddr, socklen_t, ssize_t};

/// What a hook does with the engine's answer.
pub enum Outcome {
    /// Return this, errno already set.
    Done(ssize_t),
    /// The descriptor turned out not to be a socket (a stale hint): let
    /// libc's own function handle the call.
    Bypass,
}

/// Direction of a transfer: which readiness, which own timeout.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    In,
    Out,
}

impl Dir {
    fn events(self) -> i16 {
        match self {
            Dir::In => libc::POLLIN,
            Dir::Out => libc::POLLOUT,
        }
    }
    fn own_opt(self) -> c_int {
        match self {
            Dir::In => libc::SO_RCVTIMEO,
            Dir::Out => libc::SO_SNDTIMEO,
        }
    }
}

/// Runs a transfer of `total` bytes on TCP socket `fd` with idle timeout
/// `t` (`op` names the call in the timeout log). `attempt(done)` makes one non-blocking try at moving the bytes from
/// offset `done` on and returns what the system call returned. With `all`
/// (blocking sends, MSG_WAITALL) the call goes on until `total` bytes moved,
/// as the blocking kernel call would.
#[inline(always)]
pub fn transfer<F: FnMut(usize) -> ssize_t>(
    op: &'static str,
    fd: c_int,
    dir: Dir,
    t: u64,
    total: usize,
    all: bool,
    mut attempt: F,
) -> Outcome {
    if total == 0 {
        // Nothing to move: the kernel answers at once, whatever the mode.
        return Outcome::Bypass;
    }
    if let Some(e) = take_pending(fd) {
        set_errno(e);
        return Outcome::Done(-1);
    }
    let saved = SavedErrno::save();
    let r = attempt(0);
    if r >= 0 {
        if r > 0 {
            received(fd, dir);
        }
        if !all || r == 0 || r as usize >= total {
            return Outcome::Done(r);
        }
    } else {
        let e = errno();
        if e != libc::EAGAIN {
            if e == libc::ENOTSOCK {
                fdtable::forget(fd);
                return Outcome::Bypass;
            }
            return Outcome::Done(r);
        }
    }
    Outcome::Done(transfer_slow(
        op,
        fd,
        dir,
        t,
        total,
        all,
        r.max(0) as usize,
        saved,
        &mut attempt,
    ))
}

/// The error kept from a call that returned a partial count, if any.
#[inline(always)]
fn take_pending(fd: c_int) -> Option<c_int> {
    let s = fdtable::slot(fd)?;
    if s.pending.load(core::sync::atomic::Ordering::Relaxed) == 0 {
        return None;
    }
    Some(s.pending.swap(0, core::sync::atomic::Ordering::Relaxed)).filter(|&e| e != 0)
}

/// Bytes arrived: the receive clock's idle period ends. (Sending has no
/// such shortcut: its progress is the peer's acks, see
/// `Slot::peer_progress`.)
#[inline(always)]
fn received(fd: c_int, dir: Dir) {
    if let (Dir::In, Some(s)) = (dir, fdtable::slot(fd)) {
        s.rx.progress();
    }
}

/// The part of a transfer that has to wait. `done` bytes already moved.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn transfer_slow(
    op: &'static str,
    fd: c_int,
    dir: Dir,
    t: u64,
    total: usize,
    all: bool,
    mut done: usize,
    saved: SavedErrno,
    attempt: &mut dyn FnMut(usize) -> ssize_t,
) -> ssize_t {
    let finish = |done: usize, e: c_int| -> ssize_t {
        if done > 0 {
            saved.restore();
            done as ssize_t
        } else {
            set_errno(e);
            -1
        }
    };
    // SAFETY: F_GETFL takes no argument and only reads the status flags.
    let fl = unsafe { real::fcntl(fd, libc::F_GETFL, 0) };
    if fl < 0 {
        return finish(done, errno());
    }
    if fl & libc::O_NONBLOCK != 0 {
        // The program manages this socket itself: its answer is EAGAIN
        // (or the partial count), exactly what the kernel said.
        return finish(done, libc::EAGAIN);
    }
    let own = own_timeout(fd, dir.own_opt());
    let own_deadline = if own == 0 {
        0
    } else {
        crate::sys::now_ns().saturating_add(own)
    };
    let local = Slot::new();
    let slot = fdtable::slot_alloc(fd).unwrap_or(&local);
    let clock = if dir == Dir::In { &slot.rx } else { &slot.tx };
    loop {
        match wait(fd, dir.events(), t, own_deadline, slot, clock) {
            Wait::Ready(rev) if done > 0 && error_pending(fd, dir, rev) => {
                // The connection failed after some bytes moved: return the
                // count, and leave the error pending in the kernel for the
                // program's next call, as a blocking call would have (an
                // attempt now would consume it, and raise SIGPIPE).
                saved.restore();
                return done as ssize_t;
            }
            Wait::Ready(_) => {}
            Wait::TimedOut => {
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
                crate::log::timeout(op, fd, t);
                return finish(done, libc::ETIMEDOUT);
            }
            Wait::OwnTimeout => return finish(done, libc::EAGAIN),
            Wait::Interrupted => return finish(done, libc::EINTR),
            Wait::Failed(e) => return finish(done, e),
        }
        let r = attempt(done);
        if r > 0 {
            done += r as usize;
            if dir == Dir::In {
                clock.progress();
            }
            if !all || done >= total {
                saved.restore();
                return done as ssize_t;
            }
        } else if r == 0 {
            // End of stream (or nothing left to move).
            saved.restore();
            return done as ssize_t;
        } else {
            let e = errno();
            if e != libc::EAGAIN {
                if done > 0 {
                    keep_pending(slot, e);
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
            let mut queued: c_int = 0;
            // SAFETY: FIONREAD writes one int.
            let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued) };
            r == 0 && queued == 0
        }
    }
}

/// The kernel reported `e` (and cleared it) while we return a partial
/// count: keep it for the program's next call, as the kernel would have.
fn keep_pending(slot: &Slot, e: c_int) {
    slot.pending.store(e, core::sync::atomic::Ordering::Relaxed);
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
            keep_pending(slot, errno());
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
///
/// # Safety
/// `addr`/`len` as for connect(2).
pub unsafe fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t, t: u64) -> c_int {
    let saved = SavedErrno::save();
    // SAFETY: F_GETFL/F_SETFL on the caller's descriptor.
    let fl = unsafe { real::fcntl(fd, libc::F_GETFL, 0) };
    if fl < 0 || fl & libc::O_NONBLOCK != 0 {
        // Not ours to time (non-blocking: the program waits itself).
        saved.restore();
        // SAFETY: the caller's own arguments.
        return unsafe { real::connect(fd, addr, len) };
    }
    // SAFETY: as above; sets only O_NONBLOCK on top of the original flags.
    if unsafe { real::fcntl(fd, libc::F_SETFL, (fl | libc::O_NONBLOCK) as usize) } < 0 {
        saved.restore();
        // SAFETY: the caller's own arguments.
        return unsafe { real::connect(fd, addr, len) };
    }
    // Puts the flags back and returns `r` with errno `e` (or the saved one).
    let done = |r: c_int, e: Option<c_int>| -> c_int {
        // SAFETY: restores the exact flags read above.
        unsafe { real::fcntl(fd, libc::F_SETFL, fl as usize) };
        match e {
            Some(e) => set_errno(e),
            None => saved.restore(),
        }
        r
    };
    // SAFETY: the caller's own arguments.
    let r = unsafe { real::connect(fd, addr, len) };
    if r == 0 {
        return done(0, None);
    }
    let e = errno();
    // EALREADY: a retry after EINTR while the first attempt is still on;
    // its clock carries on. EINPROGRESS: a new attempt, a new clock.
    if e != libc::EINPROGRESS && e != libc::EALREADY {
        return done(-1, Some(e));
    }
    let local = Slot::new();
    let slot = fdtable::slot_alloc(fd).unwrap_or(&local);
    if e == libc::EINPROGRESS {
        slot.tx.expire();
    }
    let own = own_timeout(fd, libc::SO_SNDTIMEO);
    let own_deadline = if own == 0 {
        0
    } else {
        crate::sys::now_ns().saturating_add(own)
    };
    loop {
        match wait(fd, libc::POLLOUT, t, own_deadline, slot, &slot.tx) {
            Wait::Ready(_) => {
                // Connecting again learns the result the way the kernel's
                // own blocking connect ends: 0 with the socket marked
                // connected, or the error (consumed, the socket marked
                // unconnected), so later calls see what they would have.
                // SAFETY: the caller's own arguments.
                let r = unsafe { real::connect(fd, addr, len) };
                let e = errno();
                if r == 0 || e == libc::EISCONN {
                    slot.tx.progress();
                    return done(0, None);
                }
                if e != libc::EALREADY && e != libc::EINPROGRESS {
                    return done(-1, Some(e));
                }
                // Woken early: wait on, same clock.
            }
            Wait::TimedOut => {
                slot.tx.expire();
                crate::log::timeout("connect", fd, t);
                abort_connect(fd);
                return done(-1, Some(libc::ETIMEDOUT));
            }
            // The kernel's own answer when SO_SNDTIMEO cuts a blocking connect.
            Wait::OwnTimeout => return done(-1, Some(libc::EINPROGRESS)),
            Wait::Interrupted => return done(-1, Some(libc::EINTR)),
            Wait::Failed(e) => return done(-1, Some(e)),
        }
    }
}

/// Aborts a pending connection: connect() to AF_UNSPEC disconnects a TCP
/// socket (no RST for one still in SYN_SENT).
fn abort_connect(fd: c_int) {
    // SAFETY: a zeroed sockaddr with family AF_UNSPEC is a valid argument.
    unsafe {
        let mut sa: sockaddr = core::mem::zeroed();
        sa.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
        real::connect(fd, &sa, core::mem::size_of::<sockaddr>() as socklen_t);
    }
}

/// Waits (with a timeout) for a blocking listening socket to have a client.
/// The flags are never touched (pre-forked workers share the socket), so a
/// client another process takes between our poll and the accept leaves the
/// accept blocking: the residual race, documented in the README.
/// Returns `Err(errno)` to fail the accept, `Ok(())` to go on and accept.
pub fn accept_wait(fd: c_int, t: u64) -> Result<(), c_int> {
    let saved = SavedErrno::save();
    // SAFETY: F_GETFL only reads flags.
    let fl = unsafe { real::fcntl(fd, libc::F_GETFL, 0) };
    if fl < 0 || fl & libc::O_NONBLOCK != 0 {
        saved.restore();
        return Ok(());
    }
    let own = own_timeout(fd, libc::SO_RCVTIMEO);
    let own_deadline = if own == 0 {
        0
    } else {
        crate::sys::now_ns().saturating_add(own)
    };
    let local = Slot::new();
    let slot = fdtable::slot_alloc(fd).unwrap_or(&local);
    let r = match wait(fd, libc::POLLIN, t, own_deadline, slot, &slot.rx) {
        Wait::Ready(_) => {
            slot.rx.progress();
            Ok(())
        }
        Wait::TimedOut => {
            slot.rx.expire();
            crate::log::timeout("accept", fd, t);
            Err(libc::ETIMEDOUT)
        }
        Wait::OwnTimeout => Err(libc::EAGAIN),
        Wait::Interrupted => Err(libc::EINTR),
        Wait::Failed(e) => Err(e),
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
