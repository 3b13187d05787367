//! What a descriptor is: the class hint (`fdtable`) confirmed or filled in
//! by asking the kernel, and the TIMEOUTSOCK_EXCLUDE/ONLY decision.

use crate::addr::{Peer, peer_of};
use crate::fdtable::{self, ABORTED, LISTEN, OTHER, TCP, UNKNOWN};
use crate::peers;
use crate::sys::sockopt::{socket_int, tcp_info, tcp_state};
use crate::sys::{Instant, keeping_errno};
use libc::c_int;

pub use fdtable::hint;

/// The class of `fd`; an unknown descriptor is classified once with
/// getsockopt (errno kept).
#[inline(always)]
pub fn class(fd: c_int) -> u8 {
    match hint(fd) {
        UNKNOWN => classify_slow(fd),
        c => c,
    }
}

/// Is `fd` a TCP socket (AF_INET/AF_INET6), listening or not, and not
/// aborted?
#[inline(always)]
pub fn is_tcp(fd: c_int) -> bool {
    matches!(class(fd), TCP | LISTEN)
}

/// Could `fd` be a TCP socket? True for TCP and for not-yet-classified
/// descriptors; a load and no system call.
#[inline(always)]
pub fn maybe_tcp(fd: c_int) -> bool {
    hint(fd) != OTHER
}

#[cold]
#[inline(never)]
fn classify_slow(fd: c_int) -> u8 {
    if fd < 0 {
        return OTHER;
    }
    let class = fdtable::fill_unknown(fd, probe(fd));
    if matches!(class, TCP | LISTEN) {
        // A socket made elsewhere (inherited, received) may carry a
        // low-water mark that a timed receive must wait for: once per
        // classification, never on a call's path.
        if let (Some(v), Some(s)) = (
            keeping_errno(|| socket_int(fd, libc::SO_RCVLOWAT)),
            fdtable::slot(fd),
        ) && v > 1
        {
            s.set_lowat(v);
        }
    }
    class
}

/// IPPROTO_MPTCP: stream sockets users see as TCP (`curl --mptcp`,
/// `mptcpize run`). On Linux 6.18 TCP_INFO on one answers with the state
/// and the byte counters the progress check reads, and connect(AF_UNSPEC)
/// aborts it like TCP: timed exactly as TCP.
pub const IPPROTO_MPTCP: c_int = 262;

/// Is `proto` (as given to socket() or read back as SO_PROTOCOL) TCP?
#[inline(always)]
fn is_tcp_proto(proto: c_int) -> bool {
    proto == libc::IPPROTO_TCP || proto == IPPROTO_MPTCP
}

/// Is `fd` still the socket we aborted? An aborted mark must never outlive
/// its socket: glibc-internal closes (closefrom, fclose of a stream opened
/// elsewhere) do not pass through our hooks, and a pipe or file that takes
/// the number must not fail with ETIMEDOUT. An aborted TCP socket stays in
/// TCP_CLOSE; anything else means the mark is stale, and it is forgotten.
/// One getsockopt, on the failing path only.
pub fn confirm_aborted(fd: c_int) -> bool {
    match tcp_info(fd, Instant::NEVER_HAPPENED) {
        Some(info) if info.state == tcp_state::CLOSE => true,
        _ => {
            fdtable::forget(fd);
            false
        }
    }
}

/// The class of `fd` with a stale aborted mark forgotten (and the
/// descriptor classified afresh).
pub fn class_confirmed(fd: c_int) -> u8 {
    match class(fd) {
        ABORTED if !confirm_aborted(fd) => class(fd),
        c => c,
    }
}

/// Asks the kernel what `fd` is: SO_PROTOCOL is IPPROTO_TCP (or
/// IPPROTO_MPTCP) only for TCP (MPTCP) sockets, SO_DOMAIN tells inet from
/// the rest. Fails on non-sockets.
fn probe(fd: c_int) -> u8 {
    keeping_errno(|| match socket_int(fd, libc::SO_PROTOCOL) {
        Some(p) if is_tcp_proto(p) => match socket_int(fd, libc::SO_DOMAIN) {
            Some(libc::AF_INET | libc::AF_INET6) => {
                if socket_int(fd, libc::SO_ACCEPTCONN) == Some(1) {
                    LISTEN
                } else {
                    peer_class(peer_of(fd))
                }
            }
            _ => OTHER,
        },
        _ => OTHER,
    })
}

/// A connected TCP socket is ours unless TIMEOUTSOCK_EXCLUDE/ONLY say
/// otherwise; one with no peer yet is decided at connect.
pub fn peer_class(peer: Option<Peer>) -> u8 {
    match peer {
        Some(p) if peers::filtering() && !peers::wanted(&p) => OTHER,
        _ => TCP,
    }
}

/// After connect(fd, addr, len) returned `r` (errno `e`): did the kernel
/// copy the address (the call got past its checks of the arguments)? Only
/// then may the library read it: a bad pointer gets the kernel's EFAULT,
/// never a SIGSEGV of ours.
pub fn address_taken(r: c_int, e: c_int) -> bool {
    r == 0 || matches!(e, libc::EINPROGRESS | libc::EALREADY | libc::EISCONN)
}

/// A TCP socket is connecting to `addr` (already read by the kernel, see
/// `address_taken`): remembers the destination for the log and applies
/// TIMEOUTSOCK_EXCLUDE/ONLY. False: not ours to time (the class is OTHER).
///
/// # Safety
/// `addr` must point to `len` readable bytes (or be null).
pub unsafe fn connecting_to(fd: c_int, addr: *const libc::sockaddr, len: libc::socklen_t) -> bool {
    // SAFETY: per the contract.
    let Some(peer) = (unsafe { Peer::from_sockaddr(addr, len as usize) }) else {
        return true; // AF_UNSPEC (a disconnect) and the like: nothing to note
    };
    if peers::filtering() && !peers::wanted(&peer) {
        fdtable::set_class(fd, OTHER);
        return false;
    }
    if let Some(s) = fdtable::slot_alloc(fd) {
        s.set_dest(&peer);
    }
    true
}

/// The class a new socket gets from its `socket()` arguments.
pub fn class_for(domain: c_int, ty: c_int, proto: c_int) -> u8 {
    let stream = ty & 0xf == libc::SOCK_STREAM;
    let inet = domain == libc::AF_INET || domain == libc::AF_INET6;
    if inet && stream && (proto == 0 || is_tcp_proto(proto)) {
        TCP
    } else {
        OTHER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_from_socket_arguments() {
        assert_eq!(class_for(libc::AF_INET, libc::SOCK_STREAM, 0), TCP);
        assert_eq!(
            class_for(
                libc::AF_INET6,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::IPPROTO_TCP
            ),
            TCP
        );
        assert_eq!(class_for(libc::AF_INET, libc::SOCK_DGRAM, 0), OTHER);
        assert_eq!(class_for(libc::AF_UNIX, libc::SOCK_STREAM, 0), OTHER);
        assert_eq!(class_for(libc::AF_INET, libc::SOCK_STREAM, 262), TCP);
        assert_eq!(class_for(libc::AF_UNIX, libc::SOCK_STREAM, 262), OTHER);
    }
}
