//! A blocking `accept` with a timeout (TIMEOUTSOCK_ACCEPT_SECS).

use crate::block::{own_deadline, wait};
use crate::fdtable::Slot;
use crate::sock::{Fail, Outcome, Sock};
use crate::sys::sockopt::status_flags;
use crate::sys::{Dir, Nanos, SavedErrno};

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
