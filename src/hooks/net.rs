//! connect, accept and accept4: the destination filter (EXCLUDE/ONLY),
//! the timed connect and the timed accept.
#![allow(clippy::missing_safety_doc)]

use crate::addr::peer_of;
use crate::blocking;
use crate::classify::{self, class_confirmed, is_tcp, maybe_tcp};
use crate::config::{self, ACCEPT_NS, CONNECT_NS};
use crate::fdtable::{self, ABORTED, BORROWED, OTHER, TCP};
use crate::peers;
use crate::real;
use crate::sock::{Fail, Sock, status};
use crate::sys::{errno, keeping_errno};
use libc::{c_int, sockaddr, socklen_t};

// ------------------------------------------------------ connect, accept

tracked_hook! {
    fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    pass if !maybe_tcp(fd);
    /// connect on a (possibly) TCP socket while the library is on: apply
    /// TIMEOUTSOCK_EXCLUDE/ONLY to the destination, remember it for the
    /// log, and time the connect if it blocks.
    via connect_tracked {
        // The destination is read only once the kernel has taken it (see
        // classify::address_taken): a bad pointer gets EFAULT, as without us.
        let real = || {
            // SAFETY: the caller's arguments, passed on unchanged.
            let r = unsafe { real::connect(fd, addr, len) };
            if classify::address_taken(r, errno()) {
                // SAFETY: the kernel just read len bytes there.
                keeping_errno(|| unsafe { classify::connecting_to(fd, addr, len) });
            }
            r
        };
        match class_confirmed(fd) {
            // A socket aborted in a wait: connecting again is how some
            // programs (hiredis) learn the result of a non-blocking connect.
            ABORTED => return status(Err(Fail::IDLE), || -1),
            TCP => {}
            // Left by siglongjmp out of a connect of ours: flags back first.
            BORROWED => blocking::give_back(fd),
            _ => return real(),
        }
        // The slot, for the loan of the flags and the destination. An
        // error kept from an earlier attempt (SO_ERROR after a connect we
        // timed out) is not this attempt's.
        if let Some(s) = fdtable::slot_alloc(fd) {
            let _ = s.take_pending();
        }
        match config::get(&CONNECT_NS) {
            None => real(),
            // SAFETY: the caller's arguments.
            Some(t) => status(unsafe { blocking::connect(Sock::of(fd), addr, len, t) }, real),
        }
    }
}

/// accept/accept4 while the library is on: the optional wait (only with
/// TIMEOUTSOCK_ACCEPT_SECS), the real call, then the new descriptor's
/// class (a TCP listener gives TCP sockets; anything else is classified
/// when first used).
#[inline(never)]
unsafe fn accept_tracked(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: Option<c_int>,
) -> c_int {
    let tcp = is_tcp(fd);
    if let (true, Some(t)) = (tcp, config::get(&ACCEPT_NS))
        && let Err(f) = blocking::accept_wait(Sock::of(fd), t)
    {
        return status(Err(f), || -1);
    }
    // SAFETY: the caller's arguments, passed on unchanged.
    let r = unsafe {
        match flags {
            None => real::accept(fd, addr, len),
            Some(f) => real::accept4(fd, addr, len, f),
        }
    };
    if r >= 0 {
        // A non-TCP listener gives non-TCP sockets: OTHER at once, so that
        // no probe racing with a close elsewhere can mark one TCP.
        let class = if !tcp {
            OTHER
        } else if peers::filtering() {
            // The peer from the kernel into our own buffer: the program's
            // buffer may be shorter than the address (the kernel then cuts
            // it and sets *len to the full length), so it is never read.
            classify::peer_class(peer_of(r))
        } else {
            TCP
        };
        fdtable::set(r, class);
        // An accepted socket inherits the listener's options.
        if let (Some(l), Some(n)) = (fdtable::slot(fd), fdtable::slot(r)) {
            n.set_lowat(l.lowat_set());
            // Made here, with the listener's own timeouts when they are
            // known (a listener shared with other processes: not trusted).
            if let (TCP, Some(own)) = (class, l.known_timeouts()) {
                let f = flags.unwrap_or(0);
                n.trust_new(
                    f & libc::SOCK_NONBLOCK != 0,
                    f & libc::SOCK_CLOEXEC != 0,
                    own,
                );
            }
        }
    }
    r
}

tracked_hook! {
    fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    pass if false;
    via accept_plain {
        // SAFETY: the caller's arguments.
        unsafe { accept_tracked(fd, addr, len, None) }
    }
}

tracked_hook! {
    fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int;
    pass if false;
    via accept4_tracked {
        // SAFETY: the caller's arguments.
        unsafe { accept_tracked(fd, addr, len, Some(flags)) }
    }
}
