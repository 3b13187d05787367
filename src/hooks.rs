//! The exported functions: the only symbols this library defines.
//!
//! Each hook is thin: when the call is not ours to time (the timeout for
//! that operation is off, the descriptor is not a TCP socket, the caller
//! asked for MSG_DONTWAIT) it ends in a tail call to libc's function; else
//! it hands a closure that makes one non-blocking attempt to the engine.
//! Nothing here allocates, locks, touches thread-locals or calls a libc
//! function that this library interposes (see `real`).
//!
//! # Safety (for every hook)
//! Each is called by C code with the arguments of the libc function of the
//! same name; it only passes them on to that function (or to the matching
//! socket call on the same buffers), so it is sound under libc's contract.
#![allow(clippy::missing_safety_doc, clippy::too_many_arguments)]

use crate::config::{ACCEPT_NS, CONNECT_NS, ENABLED, READ_NS, WRITE_NS};
use crate::engine::{self, Dir, Outcome, iov_slice, iov_total, msg_attempt};
use crate::fdtable::{self, OTHER, TCP, UNKNOWN};
use crate::real;
use crate::sys::set_errno;
use core::sync::atomic::Ordering::Relaxed;
use libc::{
    MSG_DONTWAIT, MSG_PEEK, MSG_WAITALL, c_int, c_uint, c_void, iovec, msghdr, size_t, sockaddr,
    socklen_t, ssize_t,
};

const CLOSE_RANGE_CLOEXEC: c_int = 4;
const IOV_MAX: c_int = 1024;

/// The read timeout if `fd` is a TCP socket we time, else 0.
#[inline(always)]
fn read_t(fd: c_int, flags: c_int) -> u64 {
    let t = READ_NS.load(Relaxed);
    if t == 0 || flags & MSG_DONTWAIT != 0 || !fdtable::maybe_tcp(fd) {
        0
    } else {
        t
    }
}

#[inline(always)]
fn write_t(fd: c_int, flags: c_int) -> u64 {
    let t = WRITE_NS.load(Relaxed);
    if t == 0 || flags & MSG_DONTWAIT != 0 || !fdtable::maybe_tcp(fd) {
        0
    } else {
        t
    }
}

/// MSG_WAITALL asks for all bytes; with MSG_PEEK the same bytes come back
/// each time, so there is no "rest" to collect.
#[inline(always)]
fn wants_all(flags: c_int) -> bool {
    flags & MSG_WAITALL != 0 && flags & MSG_PEEK == 0
}

/// One non-blocking recv into `buf[done..n]`.
#[inline(always)]
unsafe fn recv_at(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int, done: usize) -> ssize_t {
    // SAFETY: done <= n, inside the caller's buffer.
    unsafe {
        real::recv(
            fd,
            buf.cast::<u8>().add(done).cast(),
            n - done,
            flags | MSG_DONTWAIT,
        )
    }
}

#[inline(always)]
unsafe fn send_at(fd: c_int, buf: *const c_void, n: size_t, flags: c_int, done: usize) -> ssize_t {
    // SAFETY: done <= n, inside the caller's buffer.
    unsafe {
        real::send(
            fd,
            buf.cast::<u8>().add(done).cast(),
            n - done,
            flags | MSG_DONTWAIT,
        )
    }
}

/// A msghdr carrying just an iovec array (for readv/writev).
#[inline(always)]
fn iov_msg(iov: *const iovec, cnt: c_int) -> msghdr {
    // SAFETY: msghdr is a plain C struct; zeroed means no name, no control.
    let mut m: msghdr = unsafe { core::mem::zeroed() };
    m.msg_iov = iov as *mut iovec;
    m.msg_iovlen = cnt as _;
    m
}

// ---------------------------------------------------------------- reads

#[unsafe(no_mangle)]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    let t = read_t(fd, 0);
    if t == 0 {
        return unsafe { real::read(fd, buf, n) };
    }
    unsafe { read_timed(fd, buf, n) }
}

/// The timed path of `read`, out of line so the hook stays a tail call.
#[inline(never)]
unsafe fn read_timed(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    let t = READ_NS.load(Relaxed);
    if !fdtable::is_tcp(fd) {
        return unsafe { real::read(fd, buf, n) };
    }
    match engine::transfer(fd, Dir::In, t, n, false, |d| unsafe {
        recv_at(fd, buf, n, 0, d)
    }) {
        Outcome::Done(r) => r,
        Outcome::Bypass => unsafe { real::read(fd, buf, n) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __read_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
) -> ssize_t {
    let t = read_t(fd, 0);
    if t == 0 || n > buflen {
        // n > buflen: libc's own check reports the overflow and aborts.
        return unsafe { real::__read_chk(fd, buf, n, buflen) };
    }
    unsafe { read_chk_timed(fd, buf, n, buflen) }
}

/// The timed path of `__read_chk`, out of line so the hook stays a tail call.
#[inline(never)]
unsafe fn read_chk_timed(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t) -> ssize_t {
    let t = READ_NS.load(Relaxed);
    if !fdtable::is_tcp(fd) {
        return unsafe { real::__read_chk(fd, buf, n, buflen) };
    }
    match engine::transfer(fd, Dir::In, t, n, false, |d| unsafe {
        recv_at(fd, buf, n, 0, d)
    }) {
        Outcome::Done(r) => r,
        Outcome::Bypass => unsafe { real::__read_chk(fd, buf, n, buflen) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    let t = read_t(fd, 0);
    if t == 0 || !(0..=IOV_MAX).contains(&cnt) {
        return unsafe { real::readv(fd, iov, cnt) };
    }
    unsafe { readv_timed(fd, iov, cnt) }
}

/// The timed path of `readv`, out of line so the hook stays a tail call.
#[inline(never)]
unsafe fn readv_timed(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    let t = READ_NS.load(Relaxed);
    if !fdtable::is_tcp(fd) {
        return unsafe { real::readv(fd, iov, cnt) };
    }
    let mut m = iov_msg(iov, cnt);
    match engine::transfer(fd, Dir::In, t, 0, false, |d| unsafe {
        msg_attempt(fd, &mut m, 0, d, Dir::In)
    }) {
        Outcome::Done(r) => r,
        Outcome::Bypass => unsafe { real::readv(fd, iov, cnt) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t {
    let t = read_t(fd, flags);
    if t == 0 {
        return unsafe { real::recv(fd, buf, n, flags) };
    }
    unsafe { recv_timed(fd, buf, n, flags) }
}

/// The timed path of `recv`, out of line so the hook stays a tail call.
#[inline(never)]
unsafe fn recv_timed(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t {
    let t = READ_NS.load(Relaxed);
    if !fdtable::is_tcp(fd) {
        return unsafe { real::recv(fd, buf, n, flags) };
    }
    match engine::transfer(fd, Dir::In, t, n, wants_all(flags), |d| unsafe {
        recv_at(fd, buf, n, flags, d)
    }) {
        Outcome::Done(r) => r,
        Outcome::Bypass => unsafe { real::recv(fd, buf, n, flags) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __recv_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
) -> ssize_t {
    let t = read_t(fd, flags);
    if t == 0 || n > buflen {
        return unsafe { real::__recv_chk(fd, buf, n, buflen, flags) };
    }
    unsafe { recv_chk_timed(fd, buf, n, buflen, flags) }
}

/// The timed path of `__recv_chk`, out of line so the hook stays a tail call.
#[inline(never)]
unsafe fn recv_chk_timed(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
) -> ssize_t {
    let t = READ_NS.load(Relaxed);
    if !fdtable::is_tcp(fd) {
        return unsafe { real::__recv_chk(fd, buf, n, buflen, flags) };
    }
    match engine::transfer(fd, Dir::In, t, n, wants_all(flags), |d| unsafe {
        recv_at(fd, buf, n, flags, d)
    }) {
        Outcome::Done(r) => r,
        Outcome::Bypass => unsafe { real::__recv_chk(fd, buf, n, buflen, flags) },
    }
}

/// One non-blocking recvfrom into `buf[done..n]`.
#[inline(always)]
unsafe fn recvfrom_at(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    done: usize,
) -> ssize_t {
    // SAFETY: done <= n, inside the caller's buffer; addr/len are theirs.
    unsafe {
        real::recvfrom(
            fd,
            buf.cast::<u8>().add(done).cast(),
            n - done,
            flags | MSG_DONTWAIT,
            addr,
            len,
        )
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    let t = read_t(fd, flags);
    if t == 0 {
        return unsafe { real::recvfrom(fd, buf, n, flags, addr, len) };
    }
    unsafe { recvfrom_timed(fd, buf, n, flags, addr, len) }
}

/// The timed path of `recvfrom`, out of line so the hook stays a tail call.
#[inline(never)]
unsafe fn recvfrom_timed(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    let t = READ_NS.load(Relaxed);
    if !fdtable::is_tcp(fd) {
        return unsafe { real::recvfrom(fd, buf, n, flags, addr, len) };
    }
    match engine::transfer(fd, Dir::In, t, n, wants_all(flags), |d| unsafe {
        recvfrom_at(fd, buf, n, flags, addr, len, d)
    }) {
        Outcome::Done(r) => r,
        Outcome::Bypass => unsafe { real::recvfrom(fd, buf, n, flags, addr, len) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    let t = read_t(fd, flags);
    if t == 0 || n > buflen {
        return unsafe { real::__recvfrom_chk(fd, buf, n, buflen, flags, addr, len) };
    }
    unsafe { recvfrom_chk_timed(fd, buf, n, buflen, flags, addr, len) }
}

/// The timed path of `__recvfrom_chk`, out of line so the hook stays a tail call.
#[inline(never)]
unsafe fn recvfrom_chk_timed(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    let t = READ_NS.load(Relaxed);
    if !fdtable::is_tcp(fd) {
        return unsafe { real::__recvfrom_chk(fd, buf, n, buflen, flags, addr, len) };
    }
    match engine::transfer(fd, Dir::In, t, n, wants_all(flags), |d| unsafe {
        recvfrom_at(fd, buf, n, flags, addr, len, d)
    }) {
        Outcome::Done(r) => r,
        Outcome::Bypass => unsafe { real::__recvfrom_chk(fd, buf, n, buflen, flags, addr, len) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    if !ENABLED.load(Relaxed) {
        return unsafe { real::recvmsg(fd, msg, flags) };
    }
    unsafe { recvmsg_tracked(fd, msg, flags) }
}

/// recvmsg while the library is on: timed on TCP sockets, and on any
/// socket the descriptors received over SCM_RIGHTS are noted.
#[inline(never)]
unsafe fn recvmsg_tracked(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    let t = read_t(fd, flags);
    if t != 0 && !msg.is_null() && fdtable::is_tcp(fd) {
        // SAFETY: msg is the caller's valid msghdr.
        let iov = unsafe { iov_slice((*msg).msg_iov, (*msg).msg_iovlen as c_int) };
        let total = iov_total(iov);
        match engine::transfer(fd, Dir::In, t, total, wants_all(flags), |d| unsafe {
            msg_attempt(fd, msg, flags, d, Dir::In)
        }) {
            Outcome::Done(r) => return r,
            Outcome::Bypass => {}
        }
    }
    let r = unsafe { real::recvmsg(fd, msg, flags) };
    if r >= 0 {
        // SAFETY: recvmsg succeeded, so msg's control area is valid.
        unsafe { note_received_fds(msg) };
    }
    r
}

/// Descriptors that arrive over SCM_RIGHTS take numbers whose slots may be
/// stale: forget them, they are classified when first used.
unsafe fn note_received_fds(msg: *mut msghdr) {
    // SAFETY: per the caller, msg and its control area are valid; the CMSG
    // macros stay inside msg_control/msg_controllen.
    unsafe {
        if msg.is_null() || (*msg).msg_control.is_null() || (*msg).msg_controllen == 0 {
            return;
        }
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c) as *const c_int;
                let bytes = ((*c).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                for i in 0..bytes / core::mem::size_of::<c_int>() {
                    fdtable::set(data.add(i).read_unaligned(), UNKNOWN);
                }
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
}

// --------------------------------------------------------------- writes

#[unsafe(no_mangle)]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    let t = write_t(fd, 0);
    if t == 0 {
        return unsafe { real::write(fd, buf, n) };
    }
    unsafe { write_timed(fd, buf, n) }
}

/// The timed path of `write`, out of line so the hook stays a tail call.
#[inline(never)]
unsafe fn write_timed(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    let t = WRITE_NS.load(Relaxed);
    if !fdtable::is_tcp(fd) {
        return unsafe { real::write(fd, buf, n) };
    }
    // send() without MSG_NOSIGNAL raises SIGPIPE exactly as write() does.
    match engine::transfer(fd, Dir::Out, t, n, true, |d| unsafe {
        send_at(fd, buf, n, 0, d)
    }) {
        Outcome::Done(r) => r,
        Outcome::Bypass => unsafe { real::write(fd, buf, n) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    let t = write_t(fd, 0);
    if t == 0 || !(0..=IOV_MAX).contains(&cnt) {
        return unsafe { real::writev(fd, iov, cnt) };
    }
    unsafe { writev_timed(fd, iov, cnt) }
}

/// The timed path of `writev`, out of line so the hook stays a tail call.
#[inline(never)]
unsafe fn writev_timed(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    let t = WRITE_NS.load(Relaxed);
    if !fdtable::is_tcp(fd) {
        return unsafe { real::writev(fd, iov, cnt) };
    }
    let mut m = iov_msg(iov, cnt);
    // SAFETY: iov/cnt are the caller's valid array.
    let total = iov_total(unsafe { iov_slice(iov, cnt) });
    match engine::transfer(fd, Dir::Out, t, total, true, |d| unsafe {
        msg_attempt(fd, &mut m, 0, d, Dir::Out)
    }) {
        Outcome::Done(r) => r,
        Outcome::Bypass => unsafe { real::writev(fd, iov, cnt) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t {
    let t = write_t(fd, flags);
    if t == 0 {
        return unsafe { real::send(fd, buf, n, flags) };
    }
    unsafe { send_timed(fd, buf, n, flags) }
}

/// The timed path of `send`, out of line so the hook stays a tail call.
#[inline(never)]
unsafe fn send_timed(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t {
    let t = WRITE_NS.load(Relaxed);
    if !fdtable::is_tcp(fd) {
        return unsafe { real::send(fd, buf, n, flags) };
    }
    match engine::transfer(fd, Dir::Out, t, n, true, |d| unsafe {
        send_at(fd, buf, n, flags, d)
    }) {
        Outcome::Done(r) => r,
        Outcome::Bypass => unsafe { real::send(fd, buf, n, flags) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> ssize_t {
    // MSG_FASTOPEN makes sendto a connect: not a plain write, leave it.
    let t = if flags & libc::MSG_FASTOPEN != 0 {
        0
    } else {
        write_t(fd, flags)
    };
    if t == 0 {
        return unsafe { real::sendto(fd, buf, n, flags, addr, len) };
    }
    unsafe { sendto_timed(fd, buf, n, flags, addr, len) }
}

/// The timed path of `sendto`, out of line so the hook stays a tail call.
#[inline(never)]
unsafe fn sendto_timed(
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> ssize_t {
    let t = WRITE_NS.load(Relaxed);
    if !fdtable::is_tcp(fd) {
        return unsafe { real::sendto(fd, buf, n, flags, addr, len) };
    }
    match engine::transfer(fd, Dir::Out, t, n, true, |d| unsafe {
        real::sendto(
            fd,
            buf.cast::<u8>().add(d).cast(),
            n - d,
            flags | MSG_DONTWAIT,
            addr,
            len,
        )
    }) {
        Outcome::Done(r) => r,
        Outcome::Bypass => unsafe { real::sendto(fd, buf, n, flags, addr, len) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    let t = if flags & libc::MSG_FASTOPEN != 0 {
        0
    } else {
        write_t(fd, flags)
    };
    if t == 0 || msg.is_null() {
        return unsafe { real::sendmsg(fd, msg, flags) };
    }
    unsafe { sendmsg_timed(fd, msg, flags) }
}

/// The timed path of `sendmsg`, out of line so the hook stays a tail call.
#[inline(never)]
unsafe fn sendmsg_timed(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    let t = WRITE_NS.load(Relaxed);
    if !fdtable::is_tcp(fd) {
        return unsafe { real::sendmsg(fd, msg, flags) };
    }
    // SAFETY: msg is the caller's valid msghdr.
    let total = iov_total(unsafe { iov_slice((*msg).msg_iov, (*msg).msg_iovlen as c_int) });
    match engine::transfer(fd, Dir::Out, t, total, true, |d| unsafe {
        msg_attempt(fd, msg as *mut msghdr, flags, d, Dir::Out)
    }) {
        Outcome::Done(r) => r,
        Outcome::Bypass => unsafe { real::sendmsg(fd, msg, flags) },
    }
}

// ------------------------------------------------------ connect, accept

#[unsafe(no_mangle)]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    if CONNECT_NS.load(Relaxed) == 0 || !fdtable::maybe_tcp(fd) {
        return unsafe { real::connect(fd, addr, len) };
    }
    unsafe { connect_timed(fd, addr, len) }
}

#[inline(never)]
unsafe fn connect_timed(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // SAFETY: addr is read only when non-null and long enough for a family.
    let inet = !addr.is_null()
        && len as usize >= core::mem::size_of::<libc::sa_family_t>()
        && matches!(
            unsafe { (*addr).sa_family } as c_int,
            libc::AF_INET | libc::AF_INET6
        );
    if !inet || !fdtable::is_tcp(fd) {
        return unsafe { real::connect(fd, addr, len) };
    }
    unsafe { engine::connect(fd, addr, len, CONNECT_NS.load(Relaxed)) }
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
    let tcp = fdtable::is_tcp(fd);
    let t = ACCEPT_NS.load(Relaxed);
    if let (true, Some(Err(e))) = (tcp, (t != 0).then(|| engine::accept_wait(fd, t))) {
        set_errno(e);
        return -1;
    }
    let r = unsafe {
        match flags {
            None => real::accept(fd, addr, len),
            Some(f) => real::accept4(fd, addr, len, f),
        }
    };
    if r >= 0 {
        fdtable::set(r, if tcp { TCP } else { UNKNOWN });
    }
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    if !ENABLED.load(Relaxed) {
        return unsafe { real::accept(fd, addr, len) };
    }
    unsafe { accept_tracked(fd, addr, len, None) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    if !ENABLED.load(Relaxed) {
        return unsafe { real::accept4(fd, addr, len, flags) };
    }
    unsafe { accept_tracked(fd, addr, len, Some(flags)) }
}

// ------------------------------------------ keeping descriptor hints true

#[unsafe(no_mangle)]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, proto: c_int) -> c_int {
    if !ENABLED.load(Relaxed) {
        return unsafe { real::socket(domain, ty, proto) };
    }
    unsafe { socket_tracked(domain, ty, proto) }
}

#[inline(never)]
unsafe fn socket_tracked(domain: c_int, ty: c_int, proto: c_int) -> c_int {
    let r = unsafe { real::socket(domain, ty, proto) };
    fdtable::set(r, fdtable::class_for(domain, ty, proto));
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn socketpair(
    domain: c_int,
    ty: c_int,
    proto: c_int,
    sv: *mut c_int,
) -> c_int {
    if !ENABLED.load(Relaxed) {
        return unsafe { real::socketpair(domain, ty, proto, sv) };
    }
    unsafe { socketpair_tracked(domain, ty, proto, sv) }
}

#[inline(never)]
unsafe fn socketpair_tracked(domain: c_int, ty: c_int, proto: c_int, sv: *mut c_int) -> c_int {
    let r = unsafe { real::socketpair(domain, ty, proto, sv) };
    if r == 0 && !sv.is_null() {
        // socketpair makes local (AF_UNIX) sockets only.
        // SAFETY: on success the kernel filled sv[0] and sv[1].
        unsafe {
            fdtable::set(*sv, OTHER);
            fdtable::set(*sv.add(1), OTHER);
        }
    }
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if ENABLED.load(Relaxed) {
        fdtable::forget(fd);
    }
    unsafe { real::close(fd) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    if ENABLED.load(Relaxed) && flags & CLOSE_RANGE_CLOEXEC == 0 && first <= last {
        fdtable::forget_range(first, last);
    }
    unsafe { real::close_range(first, last, flags) }
}

/// After a successful duplication `r` refers to what `old` refers to.
#[inline(never)]
fn copied(old: c_int, r: c_int) -> c_int {
    fdtable::copy(old, r);
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    if !ENABLED.load(Relaxed) {
        return unsafe { real::dup(fd) };
    }
    unsafe { dup_tracked(fd) }
}

#[inline(never)]
unsafe fn dup_tracked(fd: c_int) -> c_int {
    copied(fd, unsafe { real::dup(fd) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    if !ENABLED.load(Relaxed) {
        return unsafe { real::dup2(old, new) };
    }
    unsafe { dup2_tracked(old, new) }
}

#[inline(never)]
unsafe fn dup2_tracked(old: c_int, new: c_int) -> c_int {
    copied(old, unsafe { real::dup2(old, new) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    if !ENABLED.load(Relaxed) {
        return unsafe { real::dup3(old, new, flags) };
    }
    unsafe { dup3_tracked(old, new, flags) }
}

#[inline(never)]
unsafe fn dup3_tracked(old: c_int, new: c_int, flags: c_int) -> c_int {
    copied(old, unsafe { real::dup3(old, new, flags) })
}

#[inline(always)]
fn is_dup(cmd: c_int) -> bool {
    cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC
}

/// fcntl is variadic in C; on x86_64 and aarch64 Linux the optional third
/// argument travels in a register as a pointer-sized integer, so taking it
/// as `usize` and passing it on unchanged is ABI-compatible.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    if !ENABLED.load(Relaxed) || !is_dup(cmd) {
        return unsafe { real::fcntl(fd, cmd, arg) };
    }
    unsafe { fcntl_dup(fd, cmd, arg) }
}

#[inline(never)]
unsafe fn fcntl_dup(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    copied(fd, unsafe { real::fcntl(fd, cmd, arg) })
}

/// glibc's large-file name for fcntl; some programs link against it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    if !ENABLED.load(Relaxed) || !is_dup(cmd) {
        return unsafe { real::fcntl64(fd, cmd, arg) };
    }
    unsafe { fcntl64_dup(fd, cmd, arg) }
}

#[inline(never)]
unsafe fn fcntl64_dup(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    copied(fd, unsafe { real::fcntl64(fd, cmd, arg) })
}
