//! SOCK_DESTROY over sock_diag netlink: the abort that every waiter sees as
//! ECONNABORTED, io_uring included. (/proc/net/tcp is not read: with many
//! sockets in the namespace it costs hundreds of milliseconds.)

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DESTROY: u16 = 21;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_ERROR: u16 = 2;

/// A sock_diag netlink socket.
pub(crate) struct Diag(OwnedFd);

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
        Some(Diag(fd))
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
        let mut m = Vec::with_capacity(72);
        m.extend(72u32.to_ne_bytes());
        m.extend(SOCK_DESTROY.to_ne_bytes());
        m.extend((NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        m.extend(1u32.to_ne_bytes()); // seq
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
                self.0.as_raw_fd(),
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
        let mut buf = [0u8; 256];
        // bounded: a few stray messages at most, each read once
        for _ in 0..8 {
            // SAFETY: buf is writable for its length.
            let n =
                unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(super::sys::errno());
            }
            let n = n as usize;
            if n < 20 {
                continue;
            }
            let kind = u16::from_ne_bytes([buf[4], buf[5]]);
            let seq = u32::from_ne_bytes(buf[8..12].try_into().unwrap());
            if kind == NLMSG_ERROR && seq == 1 {
                let e = i32::from_ne_bytes(buf[16..20].try_into().unwrap());
                return if e == 0 { Ok(()) } else { Err(-e) };
            }
        }
        Err(libc::EIO)
    }
}
