//! connect and accept, and the hooks that keep descriptor hints true:
//! socket, socketpair, listen, close, close_range, dup*, fcntl(F_DUPFD),
//! epoll_ctl, getsockopt/setsockopt (SO_ERROR, own timeouts), fdopen and
//! fclose.
#![allow(clippy::missing_safety_doc)]

use super::timed_out;
use crate::blocking;
use crate::config::{ACCEPT_NS, CONNECT_NS, ENABLED, READ_NS, WRITE_NS};
use crate::fdtable::{self, LISTEN, OTHER, TCP, TIMED_OUT};
use crate::peers::{self, Peer};
use crate::real;
use crate::sys::set_errno;
use core::sync::atomic::Ordering::Relaxed;
use libc::{c_char, c_int, c_uint, c_void, sockaddr, socklen_t};

const CLOSE_RANGE_CLOEXEC: c_int = 4;

// ------------------------------------------------------ connect, accept

#[unsafe(no_mangle)]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    if !ENABLED.load(Relaxed) || !fdtable::maybe_tcp(fd) {
        return unsafe { real::connect(fd, addr, len) };
    }
    unsafe { connect_tracked(fd, addr, len) }
}

/// connect on a (possibly) TCP socket while the library is on: apply
/// TIMEOUTSOCK_EXCLUDE/ONLY to the destination, remember it for the log,
/// and time the connect if it blocks.
#[inline(never)]
unsafe fn connect_tracked(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    match fdtable::class(fd) {
        // A socket that timed out in a wait: connecting again is how some
        // programs (hiredis) learn the result of a non-blocking connect.
        TIMED_OUT if fdtable::confirm_timed_out(fd) => return timed_out(),
        TIMED_OUT => return unsafe { connect_tracked(fd, addr, len) }, // stale mark, forgotten
        TCP => {}
        _ => return unsafe { real::connect(fd, addr, len) },
    }
    // SAFETY: the caller's sockaddr of len bytes.
    let Some(peer) = (unsafe { Peer::from_sockaddr(addr, len as usize) }) else {
        return unsafe { real::connect(fd, addr, len) }; // AF_UNSPEC, bad arguments
    };
    if peers::filtering() && !peers::wanted(&peer) {
        fdtable::set_class(fd, OTHER);
        return unsafe { real::connect(fd, addr, len) };
    }
    if let Some(s) = fdtable::slot_alloc(fd) {
        s.set_dest(&peer);
    }
    match CONNECT_NS.load(Relaxed) {
        0 => unsafe { real::connect(fd, addr, len) },
        t => unsafe { blocking::connect(fd, addr, len, t) },
    }
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
    if let (true, Some(Err(e))) = (tcp, (t != 0).then(|| blocking::accept_wait(fd, t))) {
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
        // A non-TCP listener gives non-TCP sockets: OTHER at once, so that
        // no probe racing with a close elsewhere can mark one TCP.
        let class = if !tcp {
            OTHER
        } else if peers::filtering() {
            // SAFETY: on success the kernel wrote *len bytes of address.
            let given =
                unsafe { (!len.is_null()).then(|| Peer::from_sockaddr(addr, *len as usize)) };
            fdtable::peer_class(given.flatten().or_else(|| Peer::of_socket(r)))
        } else {
            TCP
        };
        fdtable::set(r, class);
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
    if !ENABLED.load(Relaxed) {
        return unsafe { real::close(fd) };
    }
    unsafe { close_tracked(fd) }
}

#[inline(never)]
unsafe fn close_tracked(fd: c_int) -> c_int {
    fdtable::forget(fd);
    unsafe { real::close(fd) }
}

/// A vfork child shares the parent's memory, and with it this library's
/// descriptor table, but not the parent's descriptors: its dup2 or close
/// before exec must not rewrite the parent's hints. The parent's pid is
/// noted before the real vfork (fdtable::vfork_begin); table changes made
/// by another process while it is noted are skipped, and the parent's first
/// change after it resumes clears the note. vfork itself is left exactly as
/// it is (shared memory, the parent waiting for exec or _exit): the real
/// function is reached by a jump, with no frame of ours on the stack the
/// child shares.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vfork() -> libc::pid_t {
    if ENABLED.load(Relaxed) {
        // SAFETY: getpid and gettid have no preconditions.
        fdtable::vfork_begin(unsafe { libc::getpid() }, unsafe { libc::gettid() });
    }
    unsafe { real::vfork() }
}

/// glibc's closefrom closes with the close_range system call directly, not
/// through the close_range function: forget the range here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn closefrom(first: c_int) {
    if ENABLED.load(Relaxed) && first >= 0 {
        fdtable::forget_range(first as c_uint, c_uint::MAX);
    }
    unsafe { real::closefrom(first) }
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

#[unsafe(no_mangle)]
pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    if !ENABLED.load(Relaxed) {
        return unsafe { real::listen(fd, backlog) };
    }
    unsafe { listen_tracked(fd, backlog) }
}

/// A listening socket is never timed out in a wait (accept is timed only
/// with TIMEOUTSOCK_ACCEPT_SECS).
#[inline(never)]
unsafe fn listen_tracked(fd: c_int, backlog: c_int) -> c_int {
    let r = unsafe { real::listen(fd, backlog) };
    if r == 0 && fdtable::is_tcp(fd) {
        fdtable::set_class(fd, LISTEN);
    }
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_ctl(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    ev: *mut libc::epoll_event,
) -> c_int {
    if !ENABLED.load(Relaxed) {
        return unsafe { real::epoll_ctl(epfd, op, fd, ev) };
    }
    unsafe { epoll_ctl_tracked(epfd, op, fd, ev) }
}

/// Records which epoll set each TCP socket is in (see fdtable). A socket
/// added with EPOLLONESHOT is not watched: once its event fired, the
/// program is busy with it, not waiting on it, until it re-arms it.
#[inline(never)]
unsafe fn epoll_ctl_tracked(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    ev: *mut libc::epoll_event,
) -> c_int {
    let r = unsafe { real::epoll_ctl(epfd, op, fd, ev) };
    if r != 0 {
        return r;
    }
    match op {
        libc::EPOLL_CTL_ADD | libc::EPOLL_CTL_MOD if !ev.is_null() => {
            // SAFETY: the kernel just read this event successfully.
            let events = unsafe { (*ev).events };
            if events & libc::EPOLLONESHOT as u32 == 0 && fdtable::class(fd) == TCP {
                crate::mux::epoll_joined(epfd, fd, events);
            } else {
                fdtable::ep_del(epfd, fd);
            }
        }
        libc::EPOLL_CTL_DEL => fdtable::ep_del(epfd, fd),
        _ => {}
    }
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    if !ENABLED.load(Relaxed) || name != libc::SO_ERROR || fdtable::hint(fd) != TIMED_OUT {
        return unsafe { real::getsockopt(fd, level, name, val, len) };
    }
    unsafe { getsockopt_timed_out(fd, level, name, val, len) }
}

/// SO_ERROR on a socket that timed out in a wait: ETIMEDOUT (the kernel
/// would say ECONNRESET, from our abort). How curl, nc and most event
/// loops learn the result of a non-blocking connect.
#[inline(never)]
unsafe fn getsockopt_timed_out(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    let r = unsafe { real::getsockopt(fd, level, name, val, len) };
    if r == 0
        && level == libc::SOL_SOCKET
        && !val.is_null()
        && !len.is_null()
        && fdtable::confirm_timed_out(fd)
    {
        // SAFETY: the kernel just wrote an int of *len bytes there.
        unsafe {
            if *len as usize >= core::mem::size_of::<c_int>() {
                val.cast::<c_int>().write_unaligned(libc::ETIMEDOUT);
            }
        }
    }
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    if !ENABLED.load(Relaxed)
        || level != libc::SOL_SOCKET
        || (name != libc::SO_RCVTIMEO && name != libc::SO_SNDTIMEO)
    {
        return unsafe { real::setsockopt(fd, level, name, val, len) };
    }
    unsafe { setsockopt_timeo(fd, level, name, val, len) }
}

/// The program sets its own kernel timeout: from now on it is the
/// program's, even where fdopen had put ours.
#[inline(never)]
unsafe fn setsockopt_timeo(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    let r = unsafe { real::setsockopt(fd, level, name, val, len) };
    if let (0, Some(s)) = (r, fdtable::slot(fd)) {
        let ours = if name == libc::SO_RCVTIMEO {
            fdtable::OUR_RCVTIMEO
        } else {
            fdtable::OUR_SNDTIMEO
        };
        s.flags.fetch_and(!ours, Relaxed);
    }
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fdopen(fd: c_int, mode: *const c_char) -> *mut libc::FILE {
    if ENABLED.load(Relaxed) && fdtable::maybe_tcp(fd) {
        stdio_timeouts(fd);
    }
    unsafe { real::fdopen(fd, mode) }
}

/// A stdio stream on a TCP socket reads and writes inside glibc, where no
/// hook sees it. The kernel can still time it: give the socket receive and
/// send timeouts of T (unless the program set its own). A stalled fgets
/// then fails after T with EAGAIN — each read timed on its own, and never
/// restarted after a signal (the kernel's rules for socket timeouts).
#[inline(never)]
fn stdio_timeouts(fd: c_int) {
    if !fdtable::is_tcp(fd) {
        return;
    }
    let saved = crate::sys::SavedErrno::save();
    for (opt, ns, ours) in [
        (
            libc::SO_RCVTIMEO,
            READ_NS.load(Relaxed),
            fdtable::OUR_RCVTIMEO,
        ),
        (
            libc::SO_SNDTIMEO,
            WRITE_NS.load(Relaxed),
            fdtable::OUR_SNDTIMEO,
        ),
    ] {
        if ns == 0 || crate::block::own_timeout(fd, opt) != 0 {
            continue;
        }
        let tv = libc::timeval {
            tv_sec: (ns / 1_000_000_000) as libc::time_t,
            tv_usec: ((ns % 1_000_000_000) / 1000) as libc::suseconds_t,
        };
        // SAFETY: a valid timeval of the size given.
        let r = unsafe {
            real::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&raw const tv).cast(),
                core::mem::size_of::<libc::timeval>() as socklen_t,
            )
        };
        if let (0, Some(s)) = (r, fdtable::slot(fd)) {
            s.flags.fetch_or(ours, Relaxed);
        }
    }
    saved.restore();
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fclose(fp: *mut libc::FILE) -> c_int {
    if !ENABLED.load(Relaxed) || fp.is_null() {
        return unsafe { real::fclose(fp) };
    }
    unsafe { fclose_tracked(fp) }
}

/// fclose closes the descriptor inside glibc, where the close hook does not
/// see it: forget it here.
#[inline(never)]
unsafe fn fclose_tracked(fp: *mut libc::FILE) -> c_int {
    // SAFETY: fp is the caller's open stream; fileno only reads it.
    let fd = unsafe { libc::fileno(fp) };
    let r = unsafe { real::fclose(fp) };
    fdtable::forget(fd);
    r
}
