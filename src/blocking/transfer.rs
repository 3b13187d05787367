//! Timed transfers: every transfer first makes one attempt with
//! `MSG_DONTWAIT`: when data (or buffer space) is there, that single system
//! call is the whole cost, as it would have been without us. Only when it
//! would block do we look at the descriptor's mode, and wait with a
//! deadline; waiting and retrying with `MSG_DONTWAIT` never blocks past the
//! deadline, even if another thread takes the data that poll announced. The
//! descriptor's file status flags are never touched by transfers.

use crate::block::{own_deadline, own_deadline_known, wait};
use crate::fdtable::trust::RECHECK_MS;
use crate::fdtable::{self, Slot};
use crate::sock::{Fail, Outcome, Sock};
use crate::sys::sockopt::{own_timeout, queued_in, status_flags};
use crate::sys::{Dir, Instant, Nanos, SavedErrno, errno};
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
/// checks the caller's iovec or msghdr first. `len`: the total when it is
/// the call's length argument (no memory read), which allows a read to
/// poll before its first attempt (see `transfer_attentive`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn transfer<F: FnMut(usize) -> ssize_t>(
    op: &'static str,
    sock: Sock,
    dir: Dir,
    t: Nanos,
    total: impl Fn() -> usize,
    flags: c_int,
    len: Option<usize>,
    mut attempt: F,
) -> Outcome {
    if dir == Dir::Out
        && let Some(s) = sock.slot()
    {
        // A write after a read that waited: a request/response turn.
        s.wrote();
    }
    if sock.slot().is_some_and(|s| s.needs_attention()) {
        return transfer_attentive(op, sock, dir, t, total, flags, len, attempt);
    }
    first_attempt(op, sock, dir, t, total, flags, 1, &mut attempt)
}

/// A transfer on a socket with an error kept for this call, a low-water
/// mark (SO_RCVLOWAT > 1) the call must wait for, or a read armed to poll
/// first: on a trusted blocking socket (`fdtable::trust`), after a read
/// that had to wait and a write since (a request/response turn), the reply
/// is most likely not there yet: poll, then read (one system call added
/// instead of three; a wrong guess costs the poll).
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
    len: Option<usize>,
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
    if dir == Dir::In
        && let (Some(s), Some(n)) = (slot, len)
        && s.take_poll_first()
        && n > 0
        && lowat <= 1
        && flags & (libc::MSG_PEEK | libc::MSG_WAITALL) == 0
        && s.known(Dir::In).is_some_and(|k| !k.nonblocking)
    {
        let saved = SavedErrno::save();
        return transfer_slow(op, sock, dir, t, n, Want::Some, 1, 0, saved, &mut attempt);
    }
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
    // What the trust cache knows (a socket only this process controls), or
    // the kernel's word: the mode, then the program's own timeout.
    let known = sock.slot().and_then(|s| s.known(dir));
    let start = Instant::now();
    let (mut recheck, mut own) = match known {
        // The program manages this socket itself: its answer is EAGAIN
        // (or the partial count), exactly what the kernel said.
        Some(k) if k.nonblocking => return finish(done, libc::EAGAIN),
        Some(k) => (true, own_deadline_known(&sock, dir, k.own, start)),
        None => {
            match status_flags(sock.fd) {
                Ok(fl) if fl & libc::O_NONBLOCK != 0 => return finish(done, libc::EAGAIN),
                Ok(_) => {}
                Err(e) => return finish(done, e),
            }
            (false, own_deadline(&sock, dir))
        }
    };
    let target = want.target(total, lowat);
    let local = Slot::new();
    let slot = sock.slot_or(&local);
    if dir == Dir::In && known.is_some() {
        slot.note_read_waited();
    }
    let clock = slot.clock(dir);
    let peek = want.peek();
    loop {
        // Peeking at bytes already queued, poll would answer at once: wait
        // for an error or the peer's end only, and look again now and then.
        let (events, mut cap) = if peek && done > 0 {
            (libc::POLLRDHUP, PEEK_RECHECK_MS)
        } else if peek {
            (dir.poll_events() | libc::POLLRDHUP, -1)
        } else {
            (dir.poll_events(), -1)
        };
        if recheck && !(0..=RECHECK_MS).contains(&cap) {
            cap = RECHECK_MS;
        }
        let mut last = false;
        match wait(&sock, events, cap, t, own, slot, clock) {
            Ok(0) if recheck => {
                // Waited RECHECK_MS on cached knowledge: ask the kernel
                // once (a raw system call may have changed the mode or the
                // timeout behind the hooks); from now on as for any socket.
                recheck = false;
                match status_flags(sock.fd) {
                    Ok(fl) if fl & libc::O_NONBLOCK != 0 => {
                        slot.untrust();
                        return finish(done, libc::EAGAIN);
                    }
                    Ok(_) => {}
                    Err(e) => return finish(done, e),
                }
                let kernel = own_deadline_known(&sock, dir, own_timeout(sock.fd, dir), start);
                if kernel != own {
                    slot.untrust();
                    own = kernel;
                }
                continue;
            }
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
