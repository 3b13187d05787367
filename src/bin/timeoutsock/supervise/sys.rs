//! The system calls the supervisor makes, each turned into a `Result` with
//! the errno exactly once, here (std's `cvt` pattern). Descriptors come back
//! as `OwnedFd`, closed on drop.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub(crate) type Errno = i32;

pub(crate) fn errno() -> Errno {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn cvt(r: libc::c_long) -> Result<libc::c_long, Errno> {
    if r < 0 { Err(errno()) } else { Ok(r) }
}

/// `pidfd_open(pid, 0)`: a descriptor that names this very process (never
/// a later one that got the same PID).
pub(crate) fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes two integers and returns a new descriptor.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel just gave us this descriptor; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_getfd(pidfd, fd, 0)`: our own duplicate of the process's `fd`
/// (close-on-exec). Needs the permission to ptrace the process.
pub(crate) fn pidfd_getfd(pidfd: &OwnedFd, fd: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: integers only; the result is a new descriptor or -1.
    let r = cvt(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) })?;
    // SAFETY: the kernel just gave us this descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// Whether the process behind `pidfd` has ended (its pidfd polls readable).
pub(crate) fn pidfd_exited(pidfd: &OwnedFd) -> bool {
    let mut p = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r == 1 && p.revents != 0
}

/// getsockopt for a plain-data option; `None` on any error.
pub(crate) fn getsockopt<T: Copy>(
    fd: &OwnedFd,
    level: i32,
    name: i32,
    zero: T,
) -> Option<(T, usize)> {
    let mut v = zero;
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: v/len describe a writable buffer of len bytes that T can hold
    // whatever the kernel writes (callers use integer or byte-array types).
    let r = unsafe { libc::getsockopt(fd.as_raw_fd(), level, name, (&raw mut v).cast(), &mut len) };
    (r == 0).then_some((v, len as usize))
}

pub(crate) fn setsockopt_int(fd: &OwnedFd, level: i32, name: i32, v: i32) -> Result<(), Errno> {
    // SAFETY: a readable int of the size given.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const v).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    cvt(r as libc::c_long).map(|_| ())
}

/// An ioctl that reports one int (SIOCINQ, SIOCOUTQ).
pub(crate) fn ioctl_int(fd: &OwnedFd, req: libc::c_ulong) -> Option<i32> {
    let mut v: libc::c_int = 0;
    // SAFETY: these requests write one int to the pointer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), req, &mut v) };
    (r == 0).then_some(v)
}

/// `connect(fd, {AF_UNSPEC})`: the kernel aborts the connection (RST) and
/// every waiter on it gets an error.
pub(crate) fn connect_unspec(fd: &OwnedFd) -> Result<(), Errno> {
    // SAFETY: sockaddr is plain data, valid zeroed; AF_UNSPEC is 0.
    let sa: libc::sockaddr = unsafe { std::mem::zeroed() };
    // SAFETY: a readable sockaddr of the size given.
    let r = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            &sa,
            std::mem::size_of::<libc::sockaddr>() as libc::socklen_t,
        )
    };
    cvt(r as libc::c_long).map(|_| ())
}

/// `(dev, ino)` of an open descriptor.
pub(crate) fn fstat_ino(fd: &OwnedFd) -> Option<(u64, u64)> {
    // SAFETY: stat is plain data, valid zeroed.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and a writable stat.
    let r = unsafe { libc::fstat(fd.as_raw_fd(), &mut st) };
    (r == 0).then_some((st.st_dev, st.st_ino))
}

/// Monotonic time in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    // SAFETY: timespec is plain data, valid zeroed.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a writable timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The socket address behind getsockname/getpeername, as std's type.
pub(crate) fn sock_addr(fd: &OwnedFd, peer: bool) -> Option<std::net::SocketAddr> {
    // SAFETY: sockaddr_storage is plain data, valid zeroed.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let f = if peer {
        libc::getpeername
    } else {
        libc::getsockname
    };
    // SAFETY: ss/len describe a writable buffer.
    let r = unsafe { f(fd.as_raw_fd(), (&raw mut ss).cast(), &mut len) };
    if r != 0 {
        return None;
    }
    from_storage(&ss)
}

pub(crate) fn from_storage(ss: &libc::sockaddr_storage) -> Option<std::net::SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    match ss.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let s: libc::sockaddr_in =
                unsafe { std::ptr::read((ss as *const libc::sockaddr_storage).cast()) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(s.sin_addr.s_addr)),
                u16::from_be(s.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let s: libc::sockaddr_in6 =
                unsafe { std::ptr::read((ss as *const libc::sockaddr_storage).cast()) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(s.sin6_addr.s6_addr),
                u16::from_be(s.sin6_port),
                s.sin6_flowinfo,
                s.sin6_scope_id,
            )))
        }
        _ => None,
    }
}
