//! The real libc functions behind our hooks.
//!
//! Every one is resolved with `dlsym(RTLD_NEXT, ...)` in the constructor and
//! kept in an atomic. A hook that runs before the constructor (another
//! preloaded library's constructor, say) resolves on a cold path. Inside the
//! library we only ever call libc through these: `libc::read` would resolve
//! to our own hook.

use core::sync::atomic::{AtomicUsize, Ordering};
use libc::{c_char, c_int, c_uint, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

/// One real function: its name and, once resolved, its address.
pub struct Sym {
    addr: AtomicUsize,
    name: &'static [u8],
}

impl Sym {
    const fn new(name: &'static [u8]) -> Self {
        Sym {
            addr: AtomicUsize::new(0),
            name,
        }
    }

    /// The address if already resolved, else 0.
    #[inline(always)]
    pub fn loaded(&self) -> usize {
        self.addr.load(Ordering::Relaxed)
    }

    /// The function's address, or 0 if libc does not have it.
    #[inline(always)]
    pub fn addr(&self) -> usize {
        let a = self.addr.load(Ordering::Relaxed);
        if a != 0 { a } else { self.resolve() }
    }

    #[cold]
    #[inline(never)]
    fn resolve(&self) -> usize {
        // SAFETY: name is NUL-terminated (checked by the macro below);
        // RTLD_NEXT finds the next definition after this library, i.e.
        // libc's. dlsym is not async-signal-safe, but this path only runs
        // before the constructor, which resolves every symbol.
        // SAFETY: same arguments, same contract as the libc function.
        let p = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr() as *const c_char) };
        let a = p as usize;
        self.addr.store(a, Ordering::Relaxed);
        a
    }
}

/// What a call returns when libc lacks the function.
trait Missing {
    fn missing() -> Self;
}
impl Missing for c_int {
    fn missing() -> Self {
        -1
    }
}
impl Missing for ssize_t {
    fn missing() -> Self {
        -1
    }
}
impl Missing for () {
    fn missing() -> Self {}
}
impl Missing for *mut libc::FILE {
    fn missing() -> Self {
        core::ptr::null_mut()
    }
}

macro_rules! real_fns {
    ($( fn $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty ; )*) => {
        /// The symbol table, one static per real function.
        #[allow(non_upper_case_globals)]
        pub mod sym {
            use super::Sym;
            $( pub static $name: Sym = Sym::new(concat!(stringify!($name), "\0").as_bytes()); )*
        }

        $(
            /// Calls libc's real function of this name (a tail call once
            /// resolved).
            ///
            /// # Safety
            /// Same contract as the libc function.
            #[inline(always)]
            #[allow(non_snake_case)]
            pub unsafe fn $name($($arg: $ty),*) -> $ret {
                let a = sym::$name.loaded();
                if a == 0 {
                    // SAFETY: same arguments, same contract.
                    return unsafe { cold::$name($($arg),*) };
                }
                // SAFETY: `a` is the address dlsym returned for this name,
                // whose C prototype is the one written here.
                let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { core::mem::transmute(a) };
                // SAFETY: same arguments, same contract as the libc function.
                unsafe { f($($arg),*) }
            }
        )*

        /// Calls made before the constructor resolved the symbols.
        mod cold {
            use super::*;
            $(
                #[cold]
                #[inline(never)]
                #[allow(non_snake_case)]
                pub unsafe fn $name($($arg: $ty),*) -> $ret {
                    let a = sym::$name.addr();
                    if a == 0 {
                        // libc lacks it (an old glibc): fail like a missing syscall.
                        // SAFETY: this thread's errno (real.rs imports nothing from the crate).
                        unsafe { *libc::__errno_location() = libc::ENOSYS };
                        return <$ret as Missing>::missing();
                    }
                    // SAFETY: as in the hot path.
                    let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { core::mem::transmute(a) };
                    // SAFETY: same arguments, same contract.
                    unsafe { f($($arg),*) }
                }
            )*
        }

        /// Resolves every real function now (from the constructor).
        pub fn resolve_all() {
            $( sym::$name.addr(); )*
        }
    };
}

real_fns! {
    fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t;
    fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t;
    fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t;
    fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t;
    fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t;
    fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t;
    fn recvfrom(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;
    fn sendto(fd: c_int, buf: *const c_void, n: size_t, flags: c_int, addr: *const sockaddr, len: socklen_t) -> ssize_t;
    fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t;
    fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t;
    fn __read_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t) -> ssize_t;
    fn __recv_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int) -> ssize_t;
    fn __recvfrom_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;
    fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int;
    fn socket(domain: c_int, ty: c_int, proto: c_int) -> c_int;
    fn socketpair(domain: c_int, ty: c_int, proto: c_int, sv: *mut c_int) -> c_int;
    fn close(fd: c_int) -> c_int;
    fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int;
    fn closefrom(first: c_int) -> ();
    fn vfork() -> libc::pid_t;
    fn fork() -> libc::pid_t;
    fn _Fork() -> libc::pid_t;
    fn dup(fd: c_int) -> c_int;
    fn dup2(old: c_int, new: c_int) -> c_int;
    fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
    fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int;
    fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int;
    fn poll(fds: *mut libc::pollfd, n: libc::nfds_t, timeout: c_int) -> c_int;
    fn getsockopt(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t) -> c_int;
    fn setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int;
    fn listen(fd: c_int, backlog: c_int) -> c_int;
    fn fdopen(fd: c_int, mode: *const c_char) -> *mut libc::FILE;
    fn fclose(fp: *mut libc::FILE) -> c_int;
    fn __poll_chk(fds: *mut libc::pollfd, n: libc::nfds_t, timeout: c_int, fdslen: size_t) -> c_int;
    fn ppoll(fds: *mut libc::pollfd, n: libc::nfds_t, ts: *const libc::timespec, mask: *const libc::sigset_t) -> c_int;
    fn __ppoll_chk(fds: *mut libc::pollfd, n: libc::nfds_t, ts: *const libc::timespec, mask: *const libc::sigset_t, fdslen: size_t) -> c_int;
    fn select(n: c_int, r: *mut libc::fd_set, w: *mut libc::fd_set, e: *mut libc::fd_set, tv: *mut libc::timeval) -> c_int;
    fn pselect(n: c_int, r: *mut libc::fd_set, w: *mut libc::fd_set, e: *mut libc::fd_set, ts: *const libc::timespec, mask: *const libc::sigset_t) -> c_int;
    fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, ev: *mut libc::epoll_event) -> c_int;
    fn epoll_wait(epfd: c_int, ev: *mut libc::epoll_event, max: c_int, timeout: c_int) -> c_int;
    fn epoll_pwait(epfd: c_int, ev: *mut libc::epoll_event, max: c_int, timeout: c_int, mask: *const libc::sigset_t) -> c_int;
    fn epoll_pwait2(epfd: c_int, ev: *mut libc::epoll_event, max: c_int, ts: *const libc::timespec, mask: *const libc::sigset_t) -> c_int;
}
