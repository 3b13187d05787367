//! Timed transfers: every transfer first makes one attempt with
//! `MSG_DONTWAIT`: when data (or buffer space) is there, that single system
//! call is the whole cost, as it would have been without us. Only when it
//! would block do we look at the descriptor's mode, and wait with a
//! deadline; waiting and retrying with `MSG_DONTWAIT` never blocks past the
//! deadline, even if another thread takes the data that poll announced. The
//! descriptor's file status flags are never touched by transfers.

use crate::block::{own_deadline, wait};
use crate::fdtable::{self, Slot};
use crate::sock::{Fail, Outcome, Sock};
use crate::sys::sockopt::{queued_in, status_flags};
use crate::sys::{Dir, Nanos, SavedErrno, errno};
use libc::{c_int, ssize_t};

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
