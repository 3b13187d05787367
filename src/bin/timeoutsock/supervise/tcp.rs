//! What the supervisor reads of one socket, through its duplicate:
//! TCP_INFO (state, progress counters, idle times), the queues, and the
//! TCP_USER_TIMEOUT the program left.

use super::sys::{getsockopt, ioctl_int};
use std::os::fd::OwnedFd;

// linux/tcp.h states.
pub(crate) const SYN_SENT: u8 = 2;
pub(crate) const ESTABLISHED: u8 = 1;
pub(crate) const LISTEN: u8 = 10;

const SIOCINQ: libc::c_ulong = 0x541B; // FIONREAD
const SIOCOUTQ: libc::c_ulong = 0x5411; // TIOCOUTQ
const SO_COOKIE: i32 = 57;
const IPPROTO_MPTCP: i32 = 262;

/// One look at a connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Look {
    pub(crate) state: u8,
    /// `tcpi_bytes_acked`: bytes of ours the peer has acknowledged.
    pub(crate) acked: u64,
    /// `tcpi_bytes_received`: bytes the peer has sent us.
    pub(crate) received: u64,
    /// ms since the last data sent / received / ack received.
    pub(crate) ago_sent: u64,
    pub(crate) ago_recv: u64,
    pub(crate) ago_ack: u64,
    /// Bytes received that the program has not read yet.
    pub(crate) inq: u64,
    /// Bytes written and not acknowledged yet.
    pub(crate) outq: u64,
    /// `tcpi_retransmits`: retransmissions of the current segment (the
    /// SYN in SYN_SENT); `tcpi_backoff`: how often the RTO was doubled;
    /// `tcpi_rto`: the current retransmission timeout, in µs.
    pub(crate) retransmits: u8,
    pub(crate) backoff: u8,
    pub(crate) rto_us: u64,
}

/// Is this a TCP (or MPTCP) socket of the internet families?
pub(crate) fn is_tcp(fd: &OwnedFd) -> bool {
    let proto = getsockopt(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL, 0i32).map(|v| v.0);
    let dom = getsockopt(fd, libc::SOL_SOCKET, libc::SO_DOMAIN, 0i32).map(|v| v.0);
    matches!(proto, Some(libc::IPPROTO_TCP) | Some(IPPROTO_MPTCP))
        && matches!(dom, Some(libc::AF_INET) | Some(libc::AF_INET6))
}

pub(crate) fn cookie(fd: &OwnedFd) -> Option<u64> {
    getsockopt(fd, libc::SOL_SOCKET, SO_COOKIE, 0u64).map(|v| v.0)
}

pub(crate) fn domain(fd: &OwnedFd) -> Option<i32> {
    getsockopt(fd, libc::SOL_SOCKET, libc::SO_DOMAIN, 0i32).map(|v| v.0)
}

pub(crate) fn user_timeout_ms(fd: &OwnedFd) -> Option<u32> {
    getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, 0u32).map(|v| v.0)
}

/// TCP_INFO plus the queues. struct tcp_info (linux/tcp.h, kernel ≥ 4.19):
/// tcpi_state is byte 0, tcpi_retransmits byte 2, tcpi_backoff byte 4,
/// tcpi_rto the u32 at 8, tcpi_last_data_sent the u32 at 44,
/// tcpi_last_data_recv at 52, tcpi_last_ack_recv at 56, tcpi_bytes_acked the
/// u64 at 120, tcpi_bytes_received at 128.
pub(crate) fn look(fd: &OwnedFd) -> Option<Look> {
    let (b, len) = getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, [0u8; 136])?;
    if len < 136 {
        return None;
    }
    let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().unwrap()) as u64;
    let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap());
    let state = b[0];
    // Listening sockets answer SIOCINQ with EINVAL: their queues are not data.
    let (inq, outq) = if state == LISTEN {
        (0, 0)
    } else {
        (
            ioctl_int(fd, SIOCINQ).unwrap_or(0).max(0) as u64,
            ioctl_int(fd, SIOCOUTQ).unwrap_or(0).max(0) as u64,
        )
    };
    Some(Look {
        state,
        acked: u64_at(120),
        received: u64_at(128),
        ago_sent: u32_at(44),
        ago_recv: u32_at(52),
        ago_ack: u32_at(56),
        inq,
        outq,
        retransmits: b[2],
        backoff: b[4],
        rto_us: u32_at(8),
    })
}

/// The peer, also of a connect still in SYN_SENT: `SO_PEERNAME` asks the
/// kernel for the destination where getpeername says ENOTCONN. (The buffer
/// must not be longer than the family's address, or it is EINVAL.)
pub(crate) fn peer(fd: &OwnedFd) -> Option<std::net::SocketAddr> {
    // SAFETY: sockaddr_storage is plain data, valid zeroed.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let bytes: Vec<u8> = match domain(fd)? {
        libc::AF_INET => getsockopt(fd, libc::SOL_SOCKET, libc::SO_PEERNAME, [0u8; 16])?
            .0
            .to_vec(),
        libc::AF_INET6 => getsockopt(fd, libc::SOL_SOCKET, libc::SO_PEERNAME, [0u8; 28])?
            .0
            .to_vec(),
        _ => return None,
    };
    // SAFETY: ss is at least 128 bytes; bytes is at most 28.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), (&raw mut ss).cast::<u8>(), bytes.len())
    };
    super::sys::from_storage(&ss)
}
