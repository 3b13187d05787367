//! The hooks that keep descriptor hints true: socket, socketpair,
//! listen, close, close_range, dup*, fcntl(F_DUPFD), epoll_ctl,
//! getsockopt/setsockopt (SO_ERROR, own timeouts), fdopen and fclose.
#![allow(clippy::missing_safety_doc)]

use crate::blocking;
use crate::classify::{self, class, is_tcp, maybe_tcp};
use crate::config::{self, ENABLED, READ_NS, WRITE_NS};
use crate::fdtable::{self, ABORTED, BORROWED, LISTEN, OTHER, TCP, epoll};
use crate::real;
use crate::sys::sockopt::{own_timeout, set_own_timeout};
use crate::sys::{Dir, keeping_errno};
use core::sync::atomic::Ordering::Relaxed;
use libc::{c_char, c_int, c_uint, c_void, socklen_t};

const CLOSE_RANGE_UNSHARE: c_int = 2;
const CLOSE_RANGE_CLOEXEC: c_int = 4;

// ------------------------------------------ keeping descriptor hints true

tracked_hook! {
    fn socket(domain: c_int, ty: c_int, proto: c_int) -> c_int;
    pass if false;
    via socket_tracked {
        // SAFETY: the caller's arguments, passed on unchanged.
        let r = unsafe { real::socket(domain, ty, proto) };
        let class = classify::class_for(domain, ty, proto);
        fdtable::set(r, class);
        if class == TCP && let Some(s) = fdtable::slot(r) {
            // Made here: its mode and own timeouts can be cached (trust).
            s.trust_new(ty & libc::SOCK_NONBLOCK != 0, ty & libc::SOCK_CLOEXEC != 0, (0, 0));
        }
        r
    }
}

tracked_hook! {
    fn socketpair(domain: c_int, ty: c_int, proto: c_int, sv: *mut c_int) -> c_int;
    pass if false;
    via socketpair_tracked {
        // SAFETY: the caller's arguments, passed on unchanged.
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
}

tracked_hook! {
    fn close(fd: c_int) -> c_int;
    pass if false;
    via close_tracked {
        // Another descriptor may share the file: its flags are the program's.
        if fdtable::hint(fd) == BORROWED {
            blocking::give_back(fd);
        }
        fdtable::forget(fd);
        // SAFETY: the caller's argument, passed on unchanged.
        unsafe { real::close(fd) }
    }
}

/// glibc's closefrom closes with the close_range system call directly, not
/// through the close_range function: forget the range here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn closefrom(first: c_int) {
    if ENABLED.load(Relaxed) && first >= 0 {
        fdtable::forget_range(first as c_uint, c_uint::MAX);
    }
    // SAFETY: the caller's argument, passed on unchanged.
    unsafe { real::closefrom(first) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    // Forgotten before the real call (a blocked call on one of them must
    // see the change before the number can be reused), so only when the
    // kernel will close them: valid flags (else EINVAL, nothing closed),
    // not CLOEXEC (which only marks them).
    const VALID: c_int = CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC;
    if ENABLED.load(Relaxed)
        && flags & !VALID == 0
        && flags & CLOSE_RANGE_CLOEXEC == 0
        && first <= last
    {
        fdtable::forget_range(first, last);
    }
    // SAFETY: the caller's arguments, passed on unchanged.
    unsafe { real::close_range(first, last, flags) }
}

/// Before a duplication: the duplicate must carry the program's own file
/// status flags, and a number dup2'd over stops holding a loan.
#[inline(always)]
fn dup_begins(old: c_int, new: c_int) {
    for fd in [old, new] {
        if fd >= 0 && fdtable::hint(fd) == BORROWED {
            blocking::give_back(fd);
        }
    }
}

/// After a successful duplication `r` refers to what `old` refers to.
#[inline(always)]
fn copied(old: c_int, r: c_int) -> c_int {
    fdtable::copy(old, r);
    r
}

tracked_hook! {
    fn dup(fd: c_int) -> c_int;
    pass if false;
    via dup_tracked {
        dup_begins(fd, -1);
        // SAFETY: the caller's argument, passed on unchanged.
        copied(fd, unsafe { real::dup(fd) })
    }
}

tracked_hook! {
    fn dup2(old: c_int, new: c_int) -> c_int;
    pass if false;
    via dup2_tracked {
        dup_begins(old, new);
        // SAFETY: the caller's arguments, passed on unchanged.
        copied(old, unsafe { real::dup2(old, new) })
    }
}

tracked_hook! {
    fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
    pass if false;
    via dup3_tracked {
        dup_begins(old, new);
        // SAFETY: the caller's arguments, passed on unchanged.
        copied(old, unsafe { real::dup3(old, new, flags) })
    }
}

#[inline(always)]
fn is_dup(cmd: c_int) -> bool {
    cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC
}

// fcntl is variadic in C; on 64-bit Linux (checked in `sys`) the optional
// third argument travels in a register as a pointer-sized integer, so
// taking it as `usize` and passing it on unchanged is ABI-compatible.
/// Does an fcntl command need the hook: a duplication, or a change of the
/// mode or close-on-exec flag (kept in the trust cache)?
#[inline(always)]
fn fcntl_noted(cmd: c_int) -> bool {
    is_dup(cmd) || cmd == libc::F_SETFL || cmd == libc::F_SETFD
}

/// After an fcntl through a hook: duplicates refer to one file, and the
/// trust cache follows F_SETFL (O_NONBLOCK) and F_SETFD (FD_CLOEXEC).
fn fcntl_done(fd: c_int, cmd: c_int, arg: usize, r: c_int) -> c_int {
    if is_dup(cmd) {
        return copied(fd, r);
    }
    if let (0.., Some(s)) = (r, fdtable::slot(fd)) {
        match cmd {
            libc::F_SETFL => s.note_nonblocking(arg as c_int & libc::O_NONBLOCK != 0),
            libc::F_SETFD => s.note_cloexec(arg as c_int & libc::FD_CLOEXEC != 0),
            _ => {}
        }
    }
    r
}

tracked_hook! {
    fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int;
    pass if !fcntl_noted(cmd) && fdtable::hint(fd) != BORROWED;
    /// F_DUPFD*, F_SETFL, F_SETFD, or any command on a socket whose flags
    /// a connect of ours holds (F_GETFL must say the program's flags,
    /// F_SETFL set them).
    via fcntl_tracked {
        dup_begins(fd, -1);
        // SAFETY: the caller's arguments, passed on unchanged.
        let r = unsafe { real::fcntl(fd, cmd, arg) };
        fcntl_done(fd, cmd, arg, r)
    }
}

tracked_hook! {
    /// glibc's large-file name for fcntl; some programs link against it.
    fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int;
    pass if !fcntl_noted(cmd) && fdtable::hint(fd) != BORROWED;
    via fcntl64_tracked {
        dup_begins(fd, -1);
        // SAFETY: the caller's arguments, passed on unchanged.
        let r = unsafe { real::fcntl64(fd, cmd, arg) };
        fcntl_done(fd, cmd, arg, r)
    }
}

// ioctl is variadic in C too: the third argument as a pointer-sized
// integer, as for fcntl.
tracked_hook! {
    fn ioctl(fd: c_int, req: libc::c_ulong, arg: usize) -> c_int;
    pass if req != libc::FIONBIO as libc::c_ulong;
    /// FIONBIO switches the mode as F_SETFL does: the trust cache follows.
    via ioctl_fionbio {
        // SAFETY: the caller's arguments, passed on unchanged.
        let r = unsafe { real::ioctl(fd, req, arg) };
        if let (0, Some(s), false) = (r, fdtable::slot(fd), arg == 0) {
            // SAFETY: the kernel just read an int there (FIONBIO's argument).
            let on = unsafe { (arg as *const c_int).read_unaligned() } != 0;
            s.note_nonblocking(on);
        }
        r
    }
}

tracked_hook! {
    fn listen(fd: c_int, backlog: c_int) -> c_int;
    pass if false;
    /// A listening socket is never timed out in a wait (accept is timed
    /// only with TIMEOUTSOCK_ACCEPT_SECS).
    via listen_tracked {
        // SAFETY: the caller's arguments, passed on unchanged.
        let r = unsafe { real::listen(fd, backlog) };
        if r == 0 && is_tcp(fd) {
            fdtable::set_class(fd, LISTEN);
        }
        r
    }
}

tracked_hook! {
    fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, ev: *mut libc::epoll_event) -> c_int;
    pass if false;
    /// Records which epoll set each TCP socket is in (see fdtable::epoll).
    /// A socket added with EPOLLONESHOT is not watched: once its event
    /// fired, the program is busy with it, not waiting on it, until it
    /// re-arms it.
    via epoll_ctl_tracked {
        // SAFETY: the caller's arguments, passed on unchanged.
        let r = unsafe { real::epoll_ctl(epfd, op, fd, ev) };
        if r != 0 {
            return r;
        }
        match op {
            libc::EPOLL_CTL_ADD | libc::EPOLL_CTL_MOD if !ev.is_null() => {
                // SAFETY: the kernel just read this event successfully.
                let events = unsafe { (*ev).events };
                if events & libc::EPOLLONESHOT as u32 != 0 {
                    epoll::del(epfd, fd);
                } else if class(fd) == TCP {
                    crate::mux::epoll_joined(epfd, fd, events);
                } else {
                    // Maybe an epoll set: nested sets are timed too.
                    crate::mux::epoll_joined_other(epfd, fd, events);
                }
            }
            libc::EPOLL_CTL_DEL => epoll::del(epfd, fd),
            _ => {}
        }
        r
    }
}

tracked_hook! {
    fn getsockopt(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t) -> c_int;
    pass if name != libc::SO_ERROR || !has_own_error(fd);
    /// SO_ERROR on a socket aborted in a wait: ETIMEDOUT (the kernel would
    /// say ECONNRESET, from our abort). How curl, nc and most event loops
    /// learn the result of a non-blocking connect. On a socket with an
    /// error kept for the program (a blocking connect we timed out, a
    /// failure after a partial count): that error, once, as the kernel's
    /// pending socket error would be reported.
    via getsockopt_error {
        // SAFETY: the caller's arguments, passed on unchanged.
        let r = unsafe { real::getsockopt(fd, level, name, val, len) };
        if r != 0 || level != libc::SOL_SOCKET || val.is_null() || len.is_null() {
            return r;
        }
        let ours = if fdtable::hint(fd) == ABORTED {
            classify::confirm_aborted(fd).then_some(libc::ETIMEDOUT)
        } else {
            fdtable::slot(fd).and_then(|s| s.take_pending())
        };
        if let Some(e) = ours {
            // SAFETY: the kernel just wrote an int of *len bytes there.
            unsafe {
                if *len as usize >= core::mem::size_of::<c_int>() {
                    val.cast::<c_int>().write_unaligned(e);
                }
            }
        }
        r
    }
}

/// Is there an error of ours for SO_ERROR to report on `fd` (aborted, or
/// one kept in the slot)? Loads only.
#[inline(always)]
fn has_own_error(fd: c_int) -> bool {
    fdtable::slot(fd).is_some_and(|s| s.class() == ABORTED || s.has_pending())
}

/// The 64-bit-time option numbers (`SO_RCVTIMEO_NEW`, `SO_SNDTIMEO_NEW`)
/// that glibc uses with `_TIME_BITS=64`: the same timeouts.
const SO_RCVTIMEO_NEW: c_int = 66;
const SO_SNDTIMEO_NEW: c_int = 67;

/// The direction of an own-timeout option, if `name` is one.
#[inline(always)]
fn timeo_dir(name: c_int) -> Option<Dir> {
    match name {
        libc::SO_RCVTIMEO | SO_RCVTIMEO_NEW => Some(Dir::In),
        libc::SO_SNDTIMEO | SO_SNDTIMEO_NEW => Some(Dir::Out),
        _ => None,
    }
}

tracked_hook! {
    fn setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int;
    pass if level != libc::SOL_SOCKET || (timeo_dir(name).is_none() && name != libc::SO_RCVLOWAT);
    /// The program sets its own kernel timeout: from now on it is the
    /// program's, even where fdopen had put ours. Or its low-water mark,
    /// which a timed receive waits for as the kernel would.
    via setsockopt_noted {
        // SAFETY: the caller's arguments, passed on unchanged.
        let r = unsafe { real::setsockopt(fd, level, name, val, len) };
        if let (0, Some(s)) = (r, fdtable::slot(fd)) {
            if name == libc::SO_RCVLOWAT {
                // The kernel's value (it clamps): read back, once per set.
                if let Some(v) = crate::sys::sockopt::socket_int(fd, libc::SO_RCVLOWAT) {
                    s.set_lowat(v);
                }
            } else if let Some(dir) = timeo_dir(name) {
                s.mark_own_timeout_ours(dir, false);
                // The kernel's value (it rounds), for the trust cache.
                if s.known(dir).is_some() {
                    let t = keeping_errno(|| own_timeout(fd, dir));
                    s.note_own_timeout(dir, t.map_or(0, |t| t.0));
                }
            }
        }
        r
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fdopen(fd: c_int, mode: *const c_char) -> *mut libc::FILE {
    if ENABLED.load(Relaxed) && maybe_tcp(fd) {
        stdio_timeouts(fd);
    }
    // SAFETY: the caller's arguments, passed on unchanged.
    unsafe { real::fdopen(fd, mode) }
}

/// A stdio stream on a TCP socket reads and writes inside glibc, where no
/// hook sees it. The kernel can still time it: give the socket receive and
/// send timeouts of T (unless the program set its own). A stalled fgets
/// then fails after T with EAGAIN — each read timed on its own, and never
/// restarted after a signal (the kernel's rules for socket timeouts).
#[inline(never)]
fn stdio_timeouts(fd: c_int) {
    if !is_tcp(fd) {
        return;
    }
    keeping_errno(|| {
        for (dir, t) in [(Dir::In, &READ_NS), (Dir::Out, &WRITE_NS)] {
            let Some(t) = config::get(t) else { continue };
            if own_timeout(fd, dir).is_some() {
                continue;
            }
            if let (true, Some(s)) = (set_own_timeout(fd, dir, t), fdtable::slot(fd)) {
                s.mark_own_timeout_ours(dir, true);
            }
        }
    })
}

tracked_hook! {
    fn fclose(fp: *mut libc::FILE) -> c_int;
    pass if fp.is_null();
    /// fclose closes the descriptor inside glibc, where the close hook does
    /// not see it: forget it here.
    via fclose_tracked {
        // SAFETY: fp is the caller's open stream; fileno only reads it.
        let fd = unsafe { libc::fileno(fp) };
        fdtable::retire(fd);
        // SAFETY: the caller's argument, passed on unchanged.
        let r = unsafe { real::fclose(fp) };
        fdtable::forget(fd);
        r
    }
}
