//! sock_diag netlink, one socket at a time (by addresses and cookie, never a
//! dump): SOCK_DESTROY, the abort that every waiter sees as ECONNABORTED,
//! io_uring included; and SOCK_DIAG_BY_FAMILY for the socket's kernel timer
//! (when a connect in SYN_SENT retransmits next), which TCP_INFO does not
//! give. (/proc/net/tcp is not read: with many sockets in the namespace it
//! costs hundreds of milliseconds.)

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const SOCK_DESTROY: u16 = 21;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_ERROR: u16 = 2;

/// A sock_diag netlink socket.
/// Each request has its own sequence number: a late reply to an earlier
/// one is never taken for the answer to the current one.
pub(crate) struct Diag {
    fd: OwnedFd,
    seq: std::cell::Cell<u32>,
}

/// The kernel timer of one socket (struct inet_diag_msg).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Timer {
    /// idiag_timer: 1 retransmit (SYN or data), 2 keepalive, 4 zero-window
    /// probe, 0 none.
    pub(crate) kind: u8,
    /// idiag_retrans: retransmissions so far (icsk_retransmits).
    pub(crate) retrans: u8,
    /// idiag_expires: ms until the timer fires.
    pub(crate) expires_ms: u32,
}

const TIMER_RETRANSMIT: u8 = 1;

impl Timer {
    /// When the retransmit timer fires next, in ms from now.
    pub(crate) fn retransmit_in_ms(&self) -> Option<u32> {
        (self.kind == TIMER_RETRANSMIT).then_some(self.expires_ms)
    }
}

impl Diag {
    pub(crate) fn open() -> Option<Diag> {
        // SAFETY: plain socket(2) call.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // A reply never takes long; never block the supervisor on one.
        let tv = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        // SAFETY: a readable timeval of the size given.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const tv).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        Some(Diag {
            fd,
            seq: std::cell::Cell::new(0),
        })
    }

    /// SOCK_DESTROY of the TCP socket with this family, addresses and
    /// cookie: `Ok` or the kernel's errno (EPERM without CAP_NET_ADMIN,
    /// EOPNOTSUPP without CONFIG_INET_DIAG_DESTROY, ENOENT if it is gone).
    pub(crate) fn destroy(
        &self,
        family: i32,
        local: SocketAddr,
        peer: SocketAddr,
        cookie: u64,
    ) -> Result<(), i32> {
        let want = self.send(SOCK_DESTROY, NLM_F_ACK, family, local, peer, cookie)?;
        self.answer(&mut [0u8; 256], want, |kind, m| {
            (kind == NLMSG_ERROR).then(|| match nlmsg_errno(m) {
                0 => Ok(()),
                e => Err(-e),
            })
        })
    }

    /// The kernel timer of the TCP socket with this family, addresses and
    /// cookie (no privilege needed); the kernel's errno otherwise (ENOENT
    /// if it is gone).
    pub(crate) fn timer(
        &self,
        family: i32,
        local: SocketAddr,
        peer: SocketAddr,
        cookie: u64,
    ) -> Result<Timer, i32> {
        // No NLM_F_ACK: the answer is the message, or an error.
        let want = self.send(SOCK_DIAG_BY_FAMILY, 0, family, local, peer, cookie)?;
        self.answer(&mut [0u8; 512], want, |kind, msg| {
            if kind == NLMSG_ERROR {
                let e = nlmsg_errno(msg);
                return Some(Err(if e == 0 { libc::EIO } else { -e }));
            }
            if kind == SOCK_DIAG_BY_FAMILY && msg.len() >= 16 + 56 {
                // struct inet_diag_msg after the 16-byte header: family,
                // state, timer, retrans, the 48-byte sockid, expires.
                let m = &msg[16..];
                return Some(Ok(Timer {
                    kind: m[2],
                    retrans: m[3],
                    expires_ms: u32::from_ne_bytes(m[52..56].try_into().unwrap()),
                }));
            }
            None
        })
    }

    /// Reads the replies to request `want` into `buf` until `take(kind,
    /// message)` gives the answer; messages of other requests and too
    /// short ones are skipped. EIO when none came.
    fn answer<T>(
        &self,
        buf: &mut [u8],
        want: u32,
        mut take: impl FnMut(u16, &[u8]) -> Option<Result<T, i32>>,
    ) -> Result<T, i32> {
        // bounded: a few stray messages at most, each read once
        for _ in 0..8 {
            let n = self.recv(buf)?;
            if n < 20 {
                continue;
            }
            let kind = u16::from_ne_bytes([buf[4], buf[5]]);
            let seq = u32::from_ne_bytes(buf[8..12].try_into().unwrap());
            if seq != want {
                continue;
            }
            if let Some(r) = take(kind, &buf[..n]) {
                return r;
            }
        }
        Err(libc::EIO)
    }

    fn recv(&self, buf: &mut [u8]) -> Result<usize, i32> {
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            Err(super::sys::errno())
        } else {
            Ok(n as usize)
        }
    }

    /// Sends one request (`kind`: SOCK_DESTROY or SOCK_DIAG_BY_FAMILY, with
    /// `flags` besides NLM_F_REQUEST) for exactly one socket: struct
    /// inet_diag_req_v2. Returns its sequence number.
    fn send(
        &self,
        kind: u16,
        flags: u16,
        family: i32,
        local: SocketAddr,
        peer: SocketAddr,
        cookie: u64,
    ) -> Result<u32, i32> {
        let mut m = Vec::with_capacity(72);
        m.extend(72u32.to_ne_bytes());
        m.extend(kind.to_ne_bytes());
        let seq = self.seq.get().wrapping_add(1);
        self.seq.set(seq);
        m.extend((NLM_F_REQUEST | flags).to_ne_bytes());
        m.extend(seq.to_ne_bytes());
        m.extend(0u32.to_ne_bytes()); // port id: the kernel's
        // struct inet_diag_req_v2
        m.push(family as u8);
        m.push(libc::IPPROTO_TCP as u8);
        m.push(0); // ext
        m.push(0); // pad
        m.extend(u32::MAX.to_ne_bytes()); // states
        // struct inet_diag_sockid: ports and addresses in network order
        m.extend(local.port().to_be_bytes());
        m.extend(peer.port().to_be_bytes());
        let addr = |a: IpAddr| -> [u8; 16] {
            match (family, a) {
                (libc::AF_INET, IpAddr::V4(v)) => {
                    let mut o = [0u8; 16];
                    o[..4].copy_from_slice(&v.octets());
                    o
                }
                (libc::AF_INET, IpAddr::V6(v)) => {
                    let mut o = [0u8; 16];
                    o[..4].copy_from_slice(
                        &v.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED).octets(),
                    );
                    o
                }
                (_, IpAddr::V4(v)) => v.to_ipv6_mapped().octets(),
                (_, IpAddr::V6(v)) => v.octets(),
            }
        };
        m.extend(addr(local.ip()));
        m.extend(addr(peer.ip()));
        m.extend(0u32.to_ne_bytes()); // interface
        m.extend((cookie as u32).to_ne_bytes());
        m.extend(((cookie >> 32) as u32).to_ne_bytes());
        debug_assert_eq!(m.len(), 72);
        // SAFETY: the netlink kernel address is all zeroes but the family.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: m and sa are readable for the lengths given.
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                m.as_ptr().cast(),
                m.len(),
                0,
                (&raw const sa).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(super::sys::errno());
        }
        Ok(seq)
    }
}

/// The errno of an NLMSG_ERROR message (negative, 0 for an ack).
fn nlmsg_errno(msg: &[u8]) -> i32 {
    i32::from_ne_bytes(msg[16..20].try_into().unwrap())
}
