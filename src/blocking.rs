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
use crate::sys::{Dir, Nanos, SavedErrno, errno, keeping_errno};
use core::cell::Cell;
use libc::{c_int, iovec, msghdr, sockaddr, socklen_t, ssize_t};

/// What a transfer must move before it returns, as the blocking kernel
/// call decides (`sock_rcvlowat`: MSG_WAITALL asks for everything, else
/// the low-water mark, at most the length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Reads: at least SO_RCVLOWAT bytes (1 unless the program set it).
    Some,
    /// Everything (blocking sends, MSG_WAITALL).
    All,
    /// MSG_PEEK: a look at at least SO_RCVLOWAT queued bytes.
    Peek,
    /// MSG_PEEK|MSG_WAITALL: a look at all `total` bytes at once.
    PeekAll,
}

impl Want {
    /// Sending: everything (a blocking send sends all or fails).
    /// Receiving: MSG_WAITALL asks for everything; with MSG_PEEK the same
    /// bytes come back each time, so all of them must be queued at once.
    #[inline(always)]
    pub fn of(dir: Dir, flags: c_int) -> Want {
        match (
            dir,
            flags & libc::MSG_WAITALL != 0,
            flags & libc::MSG_PEEK != 0,
        ) {
            (Dir::Out, _, _) => Want::All,
            (Dir::In, false, false) => Want::Some,
            (Dir::In, true, false) => Want::All,
            (Dir::In, false, true) => Want::Peek,
            (Dir::In, true, true) => Want::PeekAll,
        }
    }

    #[inline(always)]
    fn peek(self) -> bool {
        matches!(self, Want::Peek | Want::PeekAll)
    }

    /// The count the call may return with, for a transfer of `total` with
    /// the low-water mark `lowat`.
    #[inline(always)]
    fn target(self, total: usize, lowat: usize) -> usize {
        match self {
            Want::All | Want::PeekAll => total,
            Want::Some | Want::Peek => lowat.min(total),
        }
    }
}

/// How often a MSG_PEEK|MSG_WAITALL that already sees some bytes looks
/// again (poll cannot wait for "more than what is queued").
const PEEK_RECHECK_MS: i32 = 10;

/// Runs a transfer of `total()` bytes on TCP socket `sock` with idle
/// timeout `t` (`op` names the call in the timeout log). `attempt(done)`
/// makes one non-blocking try at moving the bytes from offset `done` on and
/// returns what the system call returned. The call returns when the
/// blocking kernel call would (see `Want`, from `dir` and the call's
/// `flags`). `total` is asked only after the first attempt: the kernel
/// checks the caller's iovec or msghdr first.
#[inline(always)]
pub fn transfer<F: FnMut(usize) -> ssize_t>(
    op: &'static str,
    sock: Sock,
    dir: Dir,
    t: Nanos,
    total: impl Fn() -> usize,
    flags: c_int,
    mut attempt: F,
) -> Outcome {
    if sock.slot().is_some_and(|s| s.needs_attention()) {
        return transfer_attentive(op, sock, dir, t, total, flags, attempt);
    }
    first_attempt(op, sock, dir, t, total, flags, 1, &mut attempt)
}

/// A transfer on a socket with an error kept for this call, or a
/// low-water mark (SO_RCVLOWAT > 1) the call must wait for.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn transfer_attentive<F: FnMut(usize) -> ssize_t>(
    op: &'static str,
    sock: Sock,
    dir: Dir,
    t: Nanos,
    total: impl Fn() -> usize,
    flags: c_int,
    mut attempt: F,
) -> Outcome {
    let slot = sock.slot();
    if let Some(e) = slot.and_then(|s| s.take_pending()) {
        return Err(Fail::Errno(e));
    }
    let lowat = match dir {
        Dir::In => slot.map_or(1, |s| s.lowat()),
        Dir::Out => 1,
    };
    first_attempt(op, sock, dir, t, total, flags, lowat, &mut attempt)
}

/// The first, non-blocking attempt of a transfer, and what follows from
/// it. `lowat` is the receive low-water mark (1: none; a constant on the
/// plain path, where the checks for it fold away).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn first_attempt<F: FnMut(usize) -> ssize_t>(
    op: &'static str,
    sock: Sock,
    dir: Dir,
    t: Nanos,
    total: impl Fn() -> usize,
    flags: c_int,
    lowat: usize,
    attempt: &mut F,
) -> Outcome {
    let saved = SavedErrno::save();
    // The first attempt comes before anything of the caller's is read: the
    // kernel checks the buffers, iovec and msghdr (EFAULT as without us).
    let r = attempt(0);
    if r >= 0 {
        if r > 0 && dir == Dir::In {
            // Bytes arrived (taken or peeked at): the receive clock's idle
            // period ends. (Sending has no such shortcut: its progress is
            // the peer's acks, see `Slot::peer_progress`.)
            if let Some(s) = sock.slot() {
                s.clock(Dir::In).progress();
            }
        }
        // What came is the answer, unless the call waits for more (all of
        // it, or the low-water mark).
        let all = dir == Dir::Out || flags & libc::MSG_WAITALL != 0;
        if r == 0 || (!all && lowat <= 1) {
            return Ok(r as usize);
        }
        let total = total();
        if r as usize >= Want::of(dir, flags).target(total, lowat) {
            return Ok(r as usize);
        }
    } else {
        let e = errno();
        if e != libc::EAGAIN {
            if e == libc::ENOTSOCK {
                fdtable::forget(sock.fd);
                return Err(Fail::Bypass);
            }
            // An error about the socket (the kernel has read the
            // arguments): a call for 0 bytes gets the kernel's own answer
            // (read and readv of nothing return 0 before looking at the
            // socket).
            if !matches!(
                e,
                libc::EFAULT | libc::EINVAL | libc::EMSGSIZE | libc::EBADF
            ) && total() == 0
            {
                saved.restore();
                return Err(Fail::Bypass);
            }
            return Err(Fail::Errno(e));
        }
        if total() == 0 {
            // Nothing to move, and it would block: the kernel's own call
            // answers (read of 0 bytes returns 0 at once, recv of 0 waits).
            saved.restore();
            return Err(Fail::Bypass);
        }
    }
    transfer_slow(
        op,
        sock,
        dir,
        t,
        total(),
        Want::of(dir, flags),
        lowat,
        r.max(0) as usize,
        saved,
        attempt,
    )
}

/// The part of a transfer that has to wait. `done` bytes already moved
/// (or, peeking, are seen queued).
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn transfer_slow(
    op: &'static str,
    sock: Sock,
    dir: Dir,
    t: Nanos,
    total: usize,
    want: Want,
    lowat: usize,
    mut done: usize,
    saved: SavedErrno,
    attempt: &mut dyn FnMut(usize) -> ssize_t,
) -> Outcome {
    // From here on the call acts on this socket only (see `Sock::same`).
    let sock = sock.bound();
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
    let target = want.target(total, lowat);
    let own = own_deadline(&sock, dir);
    let local = Slot::new();
    let slot = sock.slot_or(&local);
    let clock = slot.clock(dir);
    let peek = want.peek();
    loop {
        // Peeking at bytes already queued, poll would answer at once: wait
        // for an error or the peer's end only, and look again now and then.
        let (events, cap) = if peek && done > 0 {
            (libc::POLLRDHUP, PEEK_RECHECK_MS)
        } else if peek {
            (dir.poll_events() | libc::POLLRDHUP, -1)
        } else {
            (dir.poll_events(), -1)
        };
        let mut last = false;
        match wait(&sock, events, cap, t, own, slot, clock) {
            Ok(rev) if peek && rev & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0 => {
                // The peer ended (or the connection failed): what is queued
                // now is all a blocking peek would see.
                last = true;
            }
            Ok(rev) if !peek && done > 0 && error_pending(sock.fd, dir, rev) => {
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
                done = drain(&sock, slot, done, total, want, attempt);
                if done == 0 {
                    clock.expire();
                    // Logged only when the program is told ETIMEDOUT: a
                    // count returned is data, not a timeout (the next call
                    // fails at once, and is logged then).
                    crate::log::timeout(op, sock.fd, t);
                } else if dir == Dir::In && done > before {
                    clock.progress();
                }
                return finish(done, libc::ETIMEDOUT);
            }
            Err(Fail::Errno(e)) => return finish(done, e),
            // wait never bypasses.
            Err(Fail::Bypass) => return finish(done, libc::EINVAL),
        }
        let r = attempt(if peek { 0 } else { done });
        if r > 0 {
            if peek {
                // The same bytes seen again, and maybe more.
                if r as usize > done {
                    clock.progress();
                }
                done = r as usize;
            } else {
                done += r as usize;
                if dir == Dir::In {
                    clock.progress();
                }
            }
            if done >= target || last {
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
                if done > 0 && !peek {
                    slot.keep_pending(e);
                }
                return finish(done, e);
            }
            if last {
                return finish(done, libc::EAGAIN);
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

/// Non-blocking attempts from `done` on until one would block (or, unless
/// everything is wanted, the first that moves something); returns the new
/// `done`. Peeking: one more look. Never on a number that no longer refers
/// to `sock`.
fn drain(
    sock: &Sock,
    slot: &Slot,
    mut done: usize,
    total: usize,
    want: Want,
    attempt: &mut dyn FnMut(usize) -> ssize_t,
) -> usize {
    let saved = SavedErrno::save();
    let all = want == Want::All;
    while (!all || done < total) && sock.same() {
        if want.peek() {
            let r = attempt(0);
            if r > 0 {
                done = done.max(r as usize);
            }
            break;
        }
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

/// A blocking `connect` with a timeout. connect has no per-call
/// non-blocking flag, so the socket is switched to O_NONBLOCK for the
/// duration of the call, as a loan recorded in its slot (class
/// `BORROWED`, the program's own flags kept): the flags are put back when
/// the call returns, and, should the program leave the call another way
/// (siglongjmp out of a signal handler, pthread_cancel in the poll), by
/// the next hook that sees the loan (`give_back`). On timeout the attempt
/// is aborted in the kernel (connect to AF_UNSPEC), so the socket is
/// closed-state as after a kernel connect timeout, and SO_ERROR says
/// ETIMEDOUT once. `Err(Fail::Bypass)`: not ours to time, the real
/// connect does the call.
///
/// # Safety
/// `addr`/`len` as for connect(2).
pub unsafe fn connect(sock: Sock, addr: *const sockaddr, len: socklen_t, t: Nanos) -> Outcome<()> {
    let saved = SavedErrno::save();
    let sock = sock.bound();
    // Without a slot (past MAX_FDS) there is nowhere to record a loan.
    let Some(slot) = sock.slot() else {
        return Err(Fail::Bypass);
    };
    let Some(fl) = lend(&sock, slot) else {
        saved.restore();
        return Err(Fail::Bypass);
    };
    let fl = Cell::new(fl);
    // SAFETY: per the contract.
    let r = unsafe { connect_nonblocking(&sock, slot, &fl, addr, len, t) };
    // A number closed or dup2'd over under the call had its flags put
    // back by that hook, before it stopped referring to our socket.
    if sock.same() {
        end_loan(sock.fd, Some(fl.get()));
    }
    if r.is_ok() {
        saved.restore();
    }
    r
}

/// Lends the socket's flags for a connect: marks the loan in the slot,
/// then sets O_NONBLOCK on top of the program's flags, which it returns.
/// `None` (nothing changed) if the socket is non-blocking already (the
/// program waits itself), or the flags cannot be read or set.
fn lend(sock: &Sock, slot: &Slot) -> Option<c_int> {
    match status_flags(sock.fd) {
        Ok(fl) if fl & libc::O_NONBLOCK == 0 => {
            if !slot.lend_flags() {
                return None;
            }
            if set_status_flags(sock.fd, fl | libc::O_NONBLOCK).is_err() {
                let _ = slot.take_lent();
                return None;
            }
            Some(fl)
        }
        _ => None,
    }
}

/// Ends a loan of `fd`'s flags (see `connect`), if there is one: the
/// program's own flags go back on the socket. Called by every hook that
/// finds the class `BORROWED` before it does anything else, so that no
/// call of the program sees our O_NONBLOCK. Should the connect still be
/// running in another thread, it lends them again before its next attempt.
#[cold]
#[inline(never)]
pub fn give_back(fd: c_int) {
    end_loan(fd, None);
}

/// Ends the loan of `fd`'s flags if there is one: `fl` are the program's
/// flags if known, else they are the socket's without O_NONBLOCK (the loan
/// added only that: the program's flags lacked it).
fn end_loan(fd: c_int, fl: Option<c_int>) {
    if fdtable::slot(fd).is_some_and(|s| s.take_lent()) {
        let saved = SavedErrno::save();
        if let Some(fl) = fl.or_else(|| status_flags(fd).ok().map(|f| f & !libc::O_NONBLOCK)) {
            let _ = set_status_flags(fd, fl);
        }
        saved.restore();
    }
}

/// The timed part of `connect`, on the socket made non-blocking.
///
/// # Safety
/// As for `connect`.
unsafe fn connect_nonblocking(
    sock: &Sock,
    slot: &Slot,
    fl: &Cell<c_int>,
    addr: *const sockaddr,
    len: socklen_t,
    t: Nanos,
) -> Outcome<()> {
    let fd = sock.fd;
    // SAFETY: the caller's own arguments.
    let r = unsafe { real::connect(fd, addr, len) };
    let first = errno();
    // The destination is read only once the kernel has read it.
    let ours = !crate::classify::address_taken(r, first)
        // SAFETY: the kernel just read len bytes at addr (address_taken).
        || keeping_errno(|| unsafe { crate::classify::connecting_to(fd, addr, len) });
    if !ours {
        // TIMEOUTSOCK_EXCLUDE/ONLY: not ours. The program's flags back,
        // then the kernel's own blocking connect finishes the attempt (on
        // a socket already connecting it waits for the result).
        end_loan(fd, Some(fl.get()));
        fdtable::set_class(fd, fdtable::OTHER);
        if r == 0 || (first != libc::EINPROGRESS && first != libc::EALREADY) {
            return if r == 0 {
                Ok(())
            } else {
                Err(Fail::Errno(first))
            };
        }
        // SAFETY: the caller's own arguments.
        return match unsafe { real::connect(fd, addr, len) } {
            0 => Ok(()),
            _ => Err(Fail::Errno(errno())),
        };
    }
    if r == 0 {
        return Ok(());
    }
    // EALREADY: an attempt is still on (a retry after EINTR or after the
    // program's own timeout); its clock carries on, and the kernel's answer
    // when the wait ends without a result is EALREADY again.
    // EINPROGRESS: a new attempt, a new clock.
    if first != libc::EINPROGRESS && first != libc::EALREADY {
        return Err(Fail::Errno(first));
    }
    let clock = slot.clock(Dir::Out);
    if first == libc::EINPROGRESS {
        clock.expire();
    }
    let own = own_deadline(sock, Dir::Out);
    loop {
        match wait(sock, Dir::Out.poll_events(), -1, t, own, slot, clock) {
            Ok(_) => {
                // Another hook ended the loan meanwhile (a thread looked at
                // the flags): lend them again, or wait no more.
                if fdtable::hint(fd) != fdtable::BORROWED {
                    match lend(sock, slot) {
                        Some(f) => fl.set(f),
                        None => return Err(Fail::Errno(libc::EINPROGRESS)),
                    }
                }
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
                // The abort left ECONNRESET in SO_ERROR; the kernel's own
                // connect timeout would have consumed its ETIMEDOUT on
                // return. The program was told ETIMEDOUT: SO_ERROR (or the
                // next call) says so once.
                let _ = crate::sys::sockopt::socket_int(fd, libc::SO_ERROR);
                slot.keep_pending(libc::ETIMEDOUT);
                return Err(Fail::IDLE);
            }
            // The kernel's own answer when SO_SNDTIMEO cuts a blocking
            // connect: EINPROGRESS for a new attempt, EALREADY for one that
            // was already on.
            Err(Fail::Errno(libc::EAGAIN)) => {
                return Err(Fail::Errno(if first == libc::EALREADY {
                    libc::EALREADY
                } else {
                    libc::EINPROGRESS
                }));
            }
            Err(f) => return Err(f),
        }
    }
}

/// Waits (with a timeout) for a blocking listening socket to have a client.
/// The flags are never touched (pre-forked workers share the socket), so a
/// client another process takes between our poll and the accept leaves the
/// accept blocking: the residual race, documented in the README.
/// `Ok(())`: go on and accept; errno kept. `Err(EBADF)`: the listener was
/// closed (or its number dup2'd over) under the wait.
pub fn accept_wait(sock: Sock, t: Nanos) -> Outcome<()> {
    let saved = SavedErrno::save();
    let sock = sock.bound();
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
    let r = match wait(&sock, Dir::In.poll_events(), -1, t, own, slot, clock) {
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
