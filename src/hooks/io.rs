//! Reads and writes: read, write, readv, writev, recv, send, recvfrom,
//! sendto, recvmsg, sendmsg and glibc's fortified __read_chk, __recv_chk,
//! __recvfrom_chk.
#![allow(clippy::missing_safety_doc, clippy::too_many_arguments)]

use super::{may_time, resolve};
use crate::blocking::{self, iov_slice, iov_total, msg_attempt};
use crate::config::{ENABLED, READ_NS, WRITE_NS};
use crate::fdtable::{self, UNKNOWN};
use crate::real;
use crate::sock::{Fail, count};
use crate::sys::Dir;
use core::sync::atomic::Ordering::Relaxed;
use libc::{MSG_FASTOPEN, c_int, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

const IOV_MAX: c_int = 1024;

/// `buf + done`, for an attempt that goes on from offset `done`.
#[inline(always)]
fn at<T>(buf: *const T, done: usize) -> *mut c_void {
    buf.cast::<u8>().wrapping_add(done) as *mut c_void
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

/// Defines a hook and its out-of-line timed path.
///
/// `pass`: extra conditions under which the call goes straight to libc
/// (argument checks libc must make itself). `flags`: the call's flags.
/// `transfer`: direction, total length, whether all of it must move, and
/// one non-blocking attempt from offset `done` (MSG_DONTWAIT added).
macro_rules! timed_hook {
    (
        fn $name:ident($fd:ident: c_int $(, $arg:ident: $ty:ty)*) via $timed_fn:ident as $op:literal;
        timeout $ns:ident, flags $flags:expr, pass if $pass:expr;
        transfer $dir:expr, $total:expr, flags $tflags:expr, len $len:expr, |$done:ident| $attempt:expr
    ) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($fd: c_int $(, $arg: $ty)*) -> ssize_t {
            if $pass || !may_time($fd, &$ns, $flags) {
                // SAFETY: the caller's arguments, passed on unchanged.
                return unsafe { real::$name($fd $(, $arg)*) };
            }
            // SAFETY: as above.
            unsafe { $timed_fn($fd $(, $arg)*) }
        }

        /// The timed path of the hook of the same name, out of line so that
        /// the hook stays a tail call.
        #[inline(never)]
        unsafe fn $timed_fn($fd: c_int $(, $arg: $ty)*) -> ssize_t {
            // SAFETY: the caller's arguments, passed on unchanged.
            let real = || unsafe { real::$name($fd $(, $arg)*) };
            let (sock, t) = match resolve($fd, &$ns, $flags) {
                Ok(st) => st,
                Err(f) => return count(Err(f), real),
            };
            // SAFETY: the total is read from the caller's arguments only
            // after the first attempt, once the kernel accepted them (a bad
            // iovec or msghdr pointer gets the kernel's EFAULT, as without
            // the library).
            #[allow(unused_unsafe)]
            let total = move || unsafe { $total };
            // SAFETY: each attempt stays within the caller's buffers.
            let attempt = move |$done: usize| unsafe { $attempt };
            count(blocking::transfer($op, sock, $dir, t, total, $tflags, $len, attempt), real)
        }
    };
}

// ---------------------------------------------------------------- reads

timed_hook! {
    fn read(fd: c_int, buf: *mut c_void, n: size_t) via read_timed as "read";
    timeout READ_NS, flags 0, pass if false;
    transfer Dir::In, n, flags 0, len Some(n),
        |d| real::recv(fd, at(buf, d), n - d, libc::MSG_DONTWAIT)
}

// n > buflen: libc's own check reports the overflow and aborts.
timed_hook! {
    fn __read_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t) via read_chk_timed as "read";
    timeout READ_NS, flags 0, pass if n > buflen;
    transfer Dir::In, n, flags 0, len Some(n),
        |d| real::recv(fd, at(buf, d), n - d, libc::MSG_DONTWAIT)
}

timed_hook! {
    fn readv(fd: c_int, iov: *const iovec, cnt: c_int) via readv_timed as "readv";
    timeout READ_NS, flags 0, pass if !(0..=IOV_MAX).contains(&cnt);
    transfer Dir::In, iov_total(iov_slice(iov, cnt)), flags 0, len None,
        |d| msg_attempt(fd, &mut iov_msg(iov, cnt), 0, d, Dir::In)
}

timed_hook! {
    fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) via recv_timed as "recv";
    timeout READ_NS, flags flags, pass if false;
    transfer Dir::In, n, flags flags, len Some(n),
        |d| real::recv(fd, at(buf, d), n - d, flags | libc::MSG_DONTWAIT)
}

timed_hook! {
    fn __recv_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int)
        via recv_chk_timed as "recv";
    timeout READ_NS, flags flags, pass if n > buflen;
    transfer Dir::In, n, flags flags, len Some(n),
        |d| real::recv(fd, at(buf, d), n - d, flags | libc::MSG_DONTWAIT)
}

timed_hook! {
    fn recvfrom(
        fd: c_int, buf: *mut c_void, n: size_t, flags: c_int,
        addr: *mut sockaddr, len: *mut socklen_t
    ) via recvfrom_timed as "recvfrom";
    timeout READ_NS, flags flags, pass if false;
    transfer Dir::In, n, flags flags, len Some(n),
        |d| real::recvfrom(fd, at(buf, d), n - d, flags | libc::MSG_DONTWAIT, addr, len)
}

timed_hook! {
    fn __recvfrom_chk(
        fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int,
        addr: *mut sockaddr, len: *mut socklen_t
    ) via recvfrom_chk_timed as "recvfrom";
    timeout READ_NS, flags flags, pass if n > buflen;
    transfer Dir::In, n, flags flags, len Some(n),
        |d| real::recvfrom(fd, at(buf, d), n - d, flags | libc::MSG_DONTWAIT, addr, len)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    if !ENABLED.load(Relaxed) {
        // SAFETY: the caller's arguments, passed on unchanged.
        return unsafe { real::recvmsg(fd, msg, flags) };
    }
    // SAFETY: as above.
    unsafe { recvmsg_tracked(fd, msg, flags) }
}

/// recvmsg while the library is on: timed on TCP sockets, and on any
/// socket the descriptors received over SCM_RIGHTS are noted.
#[inline(never)]
unsafe fn recvmsg_tracked(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    if may_time(fd, &READ_NS, flags) && !msg.is_null() {
        let outcome = resolve(fd, &READ_NS, flags).and_then(|(sock, t)| {
            // SAFETY: read only after the first attempt succeeded or would
            // block: the kernel read this msghdr and its iov array then.
            let total =
                || unsafe { iov_total(iov_slice((*msg).msg_iov, (*msg).msg_iovlen as c_int)) };
            // SAFETY: each attempt stays within the caller's buffers.
            let attempt = |d| unsafe { msg_attempt(fd, msg, flags, d, Dir::In) };
            blocking::transfer("recvmsg", sock, Dir::In, t, total, flags, None, attempt)
        });
        if outcome != Err(Fail::Bypass) {
            return count(outcome, || -1);
        }
    }
    // SAFETY: the caller's arguments, passed on unchanged.
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
    // SAFETY: per the caller.
    unsafe { each_sent_fd(msg, &mut |fd| fdtable::set(fd, UNKNOWN)) }
}

/// Calls `f` with each descriptor carried by `msg`'s SCM_RIGHTS messages.
///
/// # Safety
/// `msg` and its control area must be valid (a successful call read them).
unsafe fn each_sent_fd(msg: *mut msghdr, f: &mut dyn FnMut(c_int)) {
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
                    f(data.add(i).read_unaligned());
                }
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
}

// --------------------------------------------------------------- writes
// A blocking write sends everything (or fails): `all` is true. send()
// without MSG_NOSIGNAL raises SIGPIPE exactly as write() does.

timed_hook! {
    fn write(fd: c_int, buf: *const c_void, n: size_t) via write_timed as "write";
    timeout WRITE_NS, flags 0, pass if false;
    transfer Dir::Out, n, flags 0, len None,
        |d| real::send(fd, at(buf, d), n - d, libc::MSG_DONTWAIT)
}

timed_hook! {
    fn writev(fd: c_int, iov: *const iovec, cnt: c_int) via writev_timed as "writev";
    timeout WRITE_NS, flags 0, pass if !(0..=IOV_MAX).contains(&cnt);
    transfer Dir::Out, iov_total(iov_slice(iov, cnt)), flags 0, len None,
        |d| msg_attempt(fd, &mut iov_msg(iov, cnt), 0, d, Dir::Out)
}

timed_hook! {
    fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) via send_timed as "send";
    timeout WRITE_NS, flags flags, pass if false;
    transfer Dir::Out, n, flags 0, len None,
        |d| real::send(fd, at(buf, d), n - d, flags | libc::MSG_DONTWAIT)
}

// MSG_FASTOPEN makes sendto/sendmsg a connect: not a plain write, leave it.
timed_hook! {
    fn sendto(
        fd: c_int, buf: *const c_void, n: size_t, flags: c_int,
        addr: *const sockaddr, len: socklen_t
    ) via sendto_timed as "sendto";
    timeout WRITE_NS, flags flags, pass if flags & MSG_FASTOPEN != 0;
    transfer Dir::Out, n, flags 0, len None,
        |d| real::sendto(fd, at(buf, d), n - d, flags | libc::MSG_DONTWAIT, addr, len)
}

/// sendmsg: timed on TCP sockets; on any other socket, once some socket
/// is trusted (`fdtable::trust`), the descriptors it sends over SCM_RIGHTS
/// stop being trusted (another process may change their mode).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    let timed = flags & MSG_FASTOPEN == 0 && !msg.is_null() && may_time(fd, &WRITE_NS, flags);
    if !timed && !fdtable::trust::ANY.load(Relaxed) {
        // SAFETY: the caller's arguments, passed on unchanged.
        return unsafe { real::sendmsg(fd, msg, flags) };
    }
    // SAFETY: as above.
    unsafe { sendmsg_tracked(fd, msg, flags, timed) }
}

#[inline(never)]
unsafe fn sendmsg_tracked(fd: c_int, msg: *const msghdr, flags: c_int, timed: bool) -> ssize_t {
    if timed {
        let outcome = resolve(fd, &WRITE_NS, flags).and_then(|(sock, t)| {
            // SAFETY: read only after the first attempt: the kernel read
            // this msghdr and its iov array then.
            let total =
                || unsafe { iov_total(iov_slice((*msg).msg_iov, (*msg).msg_iovlen as c_int)) };
            // SAFETY: each attempt stays within the caller's buffers.
            let attempt = |d| unsafe { msg_attempt(fd, msg as *mut msghdr, flags, d, Dir::Out) };
            blocking::transfer("sendmsg", sock, Dir::Out, t, total, 0, None, attempt)
        });
        if outcome != Err(Fail::Bypass) {
            return count(outcome, || -1);
        }
    }
    // SAFETY: the caller's arguments, passed on unchanged.
    let r = unsafe { real::sendmsg(fd, msg, flags) };
    if r >= 0 {
        // SAFETY: sendmsg succeeded, so msg and its control area are valid.
        unsafe { each_sent_fd(msg as *mut msghdr, &mut |sent| fdtable::untrust(sent)) };
    }
    r
}
