//! Socket options and socket calls the library makes on its own behalf:
//! one generic `getsockopt`, typed getters on top, TCP_INFO by field name,
//! and the abort. Every function keeps errno as it found it.

use super::errno::{SavedErrno, errno};
use super::time::{Instant, Nanos};
use crate::real;
use libc::{c_int, socklen_t};

/// Direction of a transfer or wait: which readiness, which own timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Reading and accepting (SO_RCVTIMEO, POLLIN).
    In,
    /// Writing and connecting (SO_SNDTIMEO, POLLOUT).
    Out,
}

impl Dir {
    pub fn poll_events(self) -> i16 {
        match self {
            Dir::In => libc::POLLIN,
            Dir::Out => libc::POLLOUT,
        }
    }

    fn timeo_opt(self) -> c_int {
        match self {
            Dir::In => libc::SO_RCVTIMEO,
            Dir::Out => libc::SO_SNDTIMEO,
        }
    }
}

/// getsockopt of a plain-data `T`: the value and the length the kernel
/// wrote, or its errno. errno itself is left as it was.
#[inline]
pub fn getsockopt<T: Copy>(fd: c_int, level: c_int, name: c_int) -> Result<(T, usize), c_int> {
    let mut v = core::mem::MaybeUninit::<T>::zeroed();
    let mut len = core::mem::size_of::<T>() as socklen_t;
    let saved = SavedErrno::save();
    // SAFETY: v and len describe a writable buffer of size_of::<T>()
    // bytes; the real getsockopt writes at most len bytes there.
    let r = unsafe { real::getsockopt(fd, level, name, v.as_mut_ptr().cast(), &mut len) };
    if r != 0 {
        // A success leaves errno alone; a failure is put back.
        let e = errno();
        saved.restore();
        return Err(e);
    }
    // SAFETY: zeroed then partly written by the kernel; T is a C type
    // (integers, timeval, tcp_info) for which every bit pattern is valid.
    Ok((unsafe { v.assume_init() }, len as usize))
}

/// An int socket option at SOL_SOCKET (SO_PROTOCOL, SO_DOMAIN, ...).
pub fn socket_int(fd: c_int, name: c_int) -> Option<c_int> {
    getsockopt::<c_int>(fd, libc::SOL_SOCKET, name)
        .ok()
        .map(|(v, _)| v)
}

/// The kernel timeout on the socket for this direction (SO_RCVTIMEO /
/// SO_SNDTIMEO); `None` when none is set (or it cannot be read).
#[inline]
pub fn own_timeout(fd: c_int, dir: Dir) -> Option<Nanos> {
    let (tv, _) = getsockopt::<libc::timeval>(fd, libc::SOL_SOCKET, dir.timeo_opt()).ok()?;
    Nanos::from_timeval(&tv).filter(|t| !t.is_zero())
}

/// Sets the kernel timeout for this direction; true on success.
pub fn set_own_timeout(fd: c_int, dir: Dir, t: Nanos) -> bool {
    let tv = t.timeval_floor();
    let saved = SavedErrno::save();
    // SAFETY: a valid timeval of the size given.
    let r = unsafe {
        real::setsockopt(
            fd,
            libc::SOL_SOCKET,
            dir.timeo_opt(),
            (&raw const tv).cast(),
            core::mem::size_of::<libc::timeval>() as socklen_t,
        )
    };
    saved.restore();
    r == 0
}

/// TCP states (linux/tcp.h) the library looks at.
pub mod tcp_state {
    pub const SYN_SENT: u8 = 2;
    pub const SYN_RECV: u8 = 3;
    pub const CLOSE: u8 = 7;
    pub const LISTEN: u8 = 10;
}

/// What the kernel knows of a TCP connection (the parts we use).
pub struct TcpInfo {
    /// `tcpi_state`: see [`tcp_state`].
    pub state: u8,
    /// `tcpi_bytes_acked`: bytes of ours the peer has acknowledged.
    pub acked: u64,
    /// When the last ack came (from `tcpi_last_ack_recv`).
    pub last_ack: Instant,
    /// `tcpi_bytes_received`: bytes the peer has sent us.
    pub received: u64,
    /// When the last data came (from `tcpi_last_data_recv`).
    pub last_data: Instant,
    /// Bytes of ours the peer has not acknowledged yet, or that are not
    /// sent yet (`tcpi_unacked` segments, `tcpi_notsent_bytes`): false only
    /// when both are known to be 0 (nothing to write is waiting).
    pub queued_out: bool,
}

impl TcpInfo {
    /// Does `last_ack` date an ACK of this connection? Not on a listening
    /// socket (the kernel's ack time is unset there: any value) nor before
    /// the connection is set up.
    pub fn acks_mean_something(&self) -> bool {
        !matches!(
            self.state,
            tcp_state::LISTEN | tcp_state::SYN_SENT | tcp_state::SYN_RECV
        )
    }
}

/// getsockopt(TCP_INFO), errno kept. `now` turns the kernel's "ms ago"
/// into instants. `None` on a non-TCP descriptor or a kernel older than
/// 4.19 (no byte counters).
pub fn tcp_info(fd: c_int, now: Instant) -> Option<TcpInfo> {
    const NEEDED: usize = core::mem::offset_of!(libc::tcp_info, tcpi_bytes_received) + 8;
    let (i, len) = getsockopt::<libc::tcp_info>(fd, libc::IPPROTO_TCP, libc::TCP_INFO).ok()?;
    if len < NEEDED {
        return None;
    }
    let ago = |ms: u32| now.minus(Nanos::from_ms(ms as u64));
    const NOTSENT: usize = core::mem::offset_of!(libc::tcp_info, tcpi_notsent_bytes) + 4;
    let queued_out = i.tcpi_unacked != 0 || len < NOTSENT || i.tcpi_notsent_bytes != 0;
    Some(TcpInfo {
        queued_out,
        state: i.tcpi_state,
        acked: i.tcpi_bytes_acked,
        last_ack: ago(i.tcpi_last_ack_recv),
        received: i.tcpi_bytes_received,
        last_data: ago(i.tcpi_last_data_recv),
    })
}

/// Bytes queued for reading (FIONREAD); `None` if it cannot be read.
pub fn queued_in(fd: c_int) -> Option<c_int> {
    let mut queued: c_int = 0;
    let saved = SavedErrno::save();
    // SAFETY: FIONREAD writes one int; ioctl is not interposed by us.
    let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued) };
    saved.restore();
    (r == 0).then_some(queued)
}

/// Aborts a TCP connection: connect() to AF_UNSPEC disconnects it
/// (tcp_disconnect; an RST once established, none in SYN_SENT), and the
/// kernel wakes every waiter with an error. errno kept.
pub fn abort(fd: c_int) {
    // SAFETY: sockaddr is plain data, valid zeroed.
    let mut sa: libc::sockaddr = unsafe { core::mem::zeroed() };
    sa.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
    let saved = SavedErrno::save();
    // SAFETY: a valid sockaddr of the size given.
    unsafe { real::connect(fd, &sa, core::mem::size_of::<libc::sockaddr>() as socklen_t) };
    saved.restore();
}

/// The descriptor's file status flags (F_GETFL), or its errno.
pub fn status_flags(fd: c_int) -> Result<c_int, c_int> {
    // SAFETY: F_GETFL takes no argument and only reads the status flags.
    super::errno::cvt(unsafe { real::fcntl(fd, libc::F_GETFL, 0) })
}

/// Sets the file status flags (F_SETFL) to exactly `fl`.
pub fn set_status_flags(fd: c_int, fl: c_int) -> Result<c_int, c_int> {
    // SAFETY: F_SETFL takes an int, passed as the pointer-sized vararg.
    super::errno::cvt(unsafe { real::fcntl(fd, libc::F_SETFL, fl as usize) })
}
