//! Socket addresses: the `Peer` type, sockaddr decoding, the peer and
//! local address of a socket, and printing one into a `Line`.

use crate::fmt::Line;
use libc::c_int;

/// A peer: IPv6 (IPv4 mapped) address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    pub addr: [u8; 16],
    pub port: u16,
}

impl Peer {
    pub fn v4(a: [u8; 4], port: u16) -> Peer {
        let mut addr = [0u8; 16];
        addr[10] = 0xff;
        addr[11] = 0xff;
        addr[12..].copy_from_slice(&a);
        Peer { addr, port }
    }

    pub fn is_v4(&self) -> bool {
        self.addr[..10] == [0; 10] && self.addr[10] == 0xff && self.addr[11] == 0xff
    }

    /// From a sockaddr (AF_INET or AF_INET6), if it is one.
    ///
    /// # Safety
    /// `sa` is null or points to `len` readable bytes.
    pub unsafe fn from_sockaddr(sa: *const libc::sockaddr, len: usize) -> Option<Peer> {
        if sa.is_null() || len < 2 {
            return None;
        }
        // SAFETY: per the contract, with the length checked per family.
        unsafe {
            match (*sa).sa_family as i32 {
                libc::AF_INET if len >= core::mem::size_of::<libc::sockaddr_in>() => {
                    let s = sa.cast::<libc::sockaddr_in>().read_unaligned();
                    Some(Peer::v4(
                        s.sin_addr.s_addr.to_ne_bytes(),
                        u16::from_be(s.sin_port),
                    ))
                }
                libc::AF_INET6 if len >= core::mem::size_of::<libc::sockaddr_in6>() => {
                    let s = sa.cast::<libc::sockaddr_in6>().read_unaligned();
                    Some(Peer {
                        addr: s.sin6_addr.s6_addr,
                        port: u16::from_be(s.sin6_port),
                    })
                }
                _ => None,
            }
        }
    }

    /// `a.b.c.d:port` or `[v6]:port`.
    pub fn print(&self, out: &mut Line) {
        if self.is_v4() {
            for (i, b) in self.addr[12..].iter().enumerate() {
                if i > 0 {
                    out.push(b".");
                }
                out.push_u64(*b as u64);
            }
        } else {
            out.push(b"[");
            print_v6(&self.addr, out);
            out.push(b"]");
        }
        out.push(b":");
        out.push_u64(self.port as u64);
    }
}

/// RFC 5952 text: lowercase hex, the longest run (2+) of zero groups as `::`.
fn print_v6(a: &[u8; 16], out: &mut Line) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let g = |i: usize| (a[2 * i] as u16) << 8 | a[2 * i + 1] as u16;
    let (mut best, mut best_len, mut i) = (8, 0, 0);
    while i < 8 {
        let start = i;
        while i < 8 && g(i) == 0 {
            i += 1;
        }
        if i - start > best_len && i - start >= 2 {
            best = start;
            best_len = i - start;
        }
        i += 1;
    }
    let mut i = 0;
    while i < 8 {
        if i == best {
            out.push(b"::");
            i += best_len;
            continue;
        }
        if i > 0 && i != best + best_len {
            out.push(b":");
        }
        let v = g(i);
        let mut started = false;
        for shift in [12, 8, 4, 0] {
            let d = (v >> shift) & 15;
            if d != 0 || started || shift == 0 {
                out.push(&[HEX[d as usize]]);
                started = true;
            }
        }
        i += 1;
    }
}

/// The peer of a connected socket (getpeername; errno kept).
pub fn peer_of(fd: c_int) -> Option<Peer> {
    // SAFETY: getpeername is given a valid buffer and length by `name_of`;
    // it is not interposed by us.
    name_of(fd, |fd, sa, len| unsafe {
        crate::real::getpeername(fd, sa, len)
    })
}

/// The local address of a socket (getsockname; errno kept).
pub fn local_of(fd: c_int) -> Option<Peer> {
    // SAFETY: as in peer_of.
    name_of(fd, |fd, sa, len| unsafe {
        crate::real::getsockname(fd, sa, len)
    })
}

fn name_of(
    fd: c_int,
    call: impl FnOnce(c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> c_int,
) -> Option<Peer> {
    // SAFETY: sockaddr_storage is plain data, valid zeroed.
    let mut ss: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
    let mut len = core::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let r = crate::sys::keeping_errno(|| call(fd, (&raw mut ss).cast(), &mut len));
    if r != 0 {
        return None;
    }
    // SAFETY: the kernel wrote len bytes (at most the buffer's size).
    unsafe { Peer::from_sockaddr((&raw const ss).cast(), len as usize) }
}
