//! TCP_INFO: what the kernel knows of a connection, and the peer's progress.

use crate::real;
use libc::c_int;

const NS_PER_MS: u64 = 1_000_000;

/// What the kernel knows of a TCP connection (the parts we use).
pub struct TcpInfo {
    /// TCP_ESTABLISHED, TCP_SYN_SENT, TCP_LISTEN, ... (netinet/tcp.h).
    pub state: u8,
    /// `tcpi_bytes_acked`: bytes of ours the peer has acknowledged.
    pub acked: u64,
    /// When the last ack came (monotonic ns, from `tcpi_last_ack_recv`).
    pub last_ack: u64,
    /// `tcpi_bytes_received`: bytes the peer has sent us.
    pub received: u64,
    /// When the last data came (from `tcpi_last_data_recv`).
    pub last_data: u64,
}

/// getsockopt(TCP_INFO), errno kept. `now` turns the kernel's "ms ago"
/// into times.
pub fn tcp_info(fd: c_int, now: u64) -> Option<TcpInfo> {
    // struct tcp_info (linux/tcp.h), kernel 4.19 or later: tcpi_state is
    // byte 0, tcpi_last_data_recv the u32 at byte 52, tcpi_last_ack_recv
    // at 56, tcpi_bytes_acked the u64 at 120, tcpi_bytes_received at 128.
    let mut info = [0u64; 17];
    let mut len = core::mem::size_of_val(&info) as libc::socklen_t;
    let saved = crate::sys::SavedErrno::save();
    // SAFETY: info/len describe a writable buffer of len bytes.
    let r = unsafe {
        real::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    saved.restore();
    if r != 0 || (len as usize) < 136 {
        return None;
    }
    let ago = |ms: u64| now.saturating_sub(ms * NS_PER_MS);
    Some(TcpInfo {
        state: (info[0] & 0xff) as u8,
        acked: info[15],
        last_ack: ago(info[7] & 0xffff_ffff),
        received: info[16],
        last_data: ago(info[6] >> 32),
    })
}
