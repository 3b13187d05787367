//! A blocking `connect` with a timeout, on the socket's flags lent for the
//! call.

use crate::block::{own_deadline, wait};
use crate::fdtable::{self, Slot};
use crate::real;
use crate::sock::{Fail, Outcome, Sock};
use crate::sys::sockopt::{set_status_flags, status_flags};
use crate::sys::{Dir, Nanos, SavedErrno, errno, keeping_errno};
use core::cell::Cell;
use libc::{c_int, sockaddr, socklen_t};

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
    if slot.known(Dir::Out).is_some_and(|k| k.nonblocking) {
        // Non-blocking, as the trust cache knows: the program waits itself
        // (no fcntl(F_GETFL) to learn it).
        saved.restore();
        return Err(Fail::Bypass);
    }
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
