//! The real libc functions behind our hooks.
//!
//! Every one is resolved in the constructor and kept in an atomic: one walk
//! of the objects loaded after this library with GNU hash lookups
//! (`linkmap`: what `dlsym(RTLD_NEXT, ...)` returns, at a fraction of its
//! cost), `dlsym` itself for any name the walk cannot answer. A hook that
//! runs before the constructor (another preloaded library's constructor,
//! say) resolves with `dlsym` on a cold path. Inside the library we only
//! ever call libc through these: `libc::read` would resolve to our own
//! hook.

use core::sync::atomic::{AtomicUsize, Ordering};
use libc::{c_char, c_int, c_uint, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

/// Room for a name and its NUL (the longest is 14 bytes).
const NAME_CAP: usize = 16;

/// A name NUL-padded into a fixed array: data without pointers, so the
/// tables below need no relocation at load.
const fn padded(name: &str) -> [u8; NAME_CAP] {
    let b = name.as_bytes();
    assert!(b.len() < NAME_CAP);
    let mut out = [0u8; NAME_CAP];
    let mut i = 0;
    while i < b.len() {
        out[i] = b[i];
        i += 1;
    }
    out
}

/// One real function: once resolved, its address (0: not yet, or libc
/// lacks it).
pub struct Sym {
    addr: AtomicUsize,
}

impl Sym {
    const fn new() -> Self {
        Sym {
            addr: AtomicUsize::new(0),
        }
    }

    /// The address if already resolved, else 0.
    #[inline(always)]
    pub fn loaded(&self) -> usize {
        self.addr.load(Ordering::Relaxed)
    }

    /// The function's address, or 0 if libc does not have it.
    #[inline(always)]
    fn addr(&self, name: &[u8; NAME_CAP], hash: u32) -> usize {
        let a = self.addr.load(Ordering::Relaxed);
        if a != 0 { a } else { self.resolve(name, hash) }
    }

    /// Before the constructor: a walk of its own for this one name (the
    /// same answer as the constructor's), dlsym if the walk cannot tell.
    #[cold]
    #[inline(never)]
    fn resolve(&self, name: &[u8; NAME_CAP], hash: u32) -> usize {
        let objs = crate::linkmap::Objs::after(
            Sym::resolve as fn(&Sym, &[u8; NAME_CAP], u32) -> usize as usize,
        );
        match objs.find(name, hash) {
            crate::linkmap::Found::At(a) => {
                self.addr.store(a, Ordering::Relaxed);
                a
            }
            crate::linkmap::Found::Nowhere => 0,
            crate::linkmap::Found::Ask => self.ask_dlsym(name),
        }
    }

    #[cold]
    #[inline(never)]
    fn ask_dlsym(&self, name: &[u8; NAME_CAP]) -> usize {
        let a = dlsym_next(name);
        self.addr.store(a, Ordering::Relaxed);
        a
    }
}

/// `dlsym(RTLD_NEXT, name)`: the next definition after this library.
/// dlsym is not async-signal-safe, but this only runs before the
/// constructor, or from it.
///
/// glibc: dlsym itself is found by the walk (no import of it: the import
/// would be dlsym@GLIBC_2.34, and glibc before 2.34 has it in libdl),
/// once; 0 when no loaded object has it (an old glibc without libdl: then
/// only names the walk cannot answer are missing).
#[cfg(not(target_env = "musl"))]
fn dlsym_next(name: &[u8; NAME_CAP]) -> usize {
    let mut f = DLSYM.load(Ordering::Relaxed);
    if f == 0 {
        let objs = crate::linkmap::Objs::after(dlsym_next as fn(&[u8; NAME_CAP]) -> usize as usize);
        f = note_dlsym(&objs);
    }
    if f == NO_DLSYM {
        return 0;
    }
    // SAFETY: f is the default-version `dlsym` of a loaded object, whose
    // prototype this is.
    let dlsym: unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void =
        unsafe { core::mem::transmute(f) };
    // SAFETY: name is NUL-padded; called from this library, so RTLD_NEXT
    // means "after this library".
    unsafe { dlsym(libc::RTLD_NEXT, name.as_ptr() as *const c_char) as usize }
}

#[cfg(not(target_env = "musl"))]
static DLSYM: AtomicUsize = AtomicUsize::new(0);
/// DLSYM when no object has dlsym.
#[cfg(not(target_env = "musl"))]
const NO_DLSYM: usize = 1;

/// Finds dlsym in `objs` (any object but ours) and notes it.
#[cfg(not(target_env = "musl"))]
fn note_dlsym(objs: &crate::linkmap::Objs) -> usize {
    const NAME: [u8; NAME_CAP] = padded("dlsym");
    const HASH: u32 = crate::linkmap::gnu_hash(&NAME);
    let f = match objs.find_anywhere(&NAME, HASH) {
        crate::linkmap::Found::At(a) => a,
        _ => NO_DLSYM,
    };
    DLSYM.store(f, Ordering::Relaxed);
    f
}

/// musl: the imported dlsym (musl has one libc.so, and its dlsym is not
/// versioned).
#[cfg(target_env = "musl")]
fn dlsym_next(name: &[u8; NAME_CAP]) -> usize {
    // SAFETY: name is NUL-padded; RTLD_NEXT: after this library.
    unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr() as *const c_char) as usize }
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
impl Missing for *mut c_char {
    fn missing() -> Self {
        core::ptr::null_mut()
    }
}
impl Missing for *mut c_void {
    fn missing() -> Self {
        libc::MAP_FAILED
    }
}
impl Missing for *mut libc::FILE {
    fn missing() -> Self {
        core::ptr::null_mut()
    }
}

macro_rules! real_fns {
    ($( fn $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty ; )*) => {
        /// The symbol table, one static per real function (addresses only).
        #[allow(non_upper_case_globals)]
        pub mod sym {
            use super::Sym;
            $( pub static $name: Sym = Sym::new(); )*
        }

        /// The names, NUL-padded, and their GNU hashes, computed at compile
        /// time (no relocation, nothing hashed at load).
        #[allow(non_upper_case_globals)]
        mod name {
            use super::{NAME_CAP, padded};
            $( pub const $name: [u8; NAME_CAP] = padded(stringify!($name)); )*
        }
        #[allow(non_upper_case_globals)]
        mod hash {
            $( pub const $name: u32 = crate::linkmap::gnu_hash(&super::name::$name); )*
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
                // SAFETY: `a` is the address resolved for this name,
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
                    let a = sym::$name.addr(&name::$name, hash::$name);
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

        /// Resolves every real function now (from the constructor): one
        /// walk of the objects loaded after this library, a GNU hash lookup
        /// per name, and dlsym(RTLD_NEXT) only for a name the walk cannot
        /// answer (see `linkmap`).
        #[cfg_attr(not(test), unsafe(link_section = ".text.startup"))]
        pub fn resolve_all() {
            let objs = crate::linkmap::Objs::after(resolve_all as fn() as usize);
            #[cfg(not(target_env = "musl"))]
            note_dlsym(&objs);
            $(
                match objs.find(&name::$name, hash::$name) {
                    crate::linkmap::Found::At(a) => sym::$name.addr.store(a, Ordering::Relaxed),
                    crate::linkmap::Found::Nowhere => {}
                    crate::linkmap::Found::Ask => {
                        sym::$name.ask_dlsym(&name::$name);
                    }
                }
            )*
        }

        /// Every name with what dlsym(RTLD_NEXT) gives and what was
        /// resolved (for the unit test below).
        #[cfg(test)]
        pub fn each(mut f: impl FnMut(&[u8], usize, usize)) {
            $(
                // SAFETY: the name is NUL-padded.
                let d = unsafe { libc::dlsym(libc::RTLD_NEXT, name::$name.as_ptr() as *const c_char) };
                f(stringify!($name).as_bytes(), d as usize, sym::$name.loaded());
            )*
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
    fn ioctl(fd: c_int, req: libc::c_ulong, arg: usize) -> c_int;
    fn posix_spawn(pid: *mut libc::pid_t, path: *const c_char, fa: *const libc::posix_spawn_file_actions_t, attr: *const libc::posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
    fn posix_spawnp(pid: *mut libc::pid_t, file: *const c_char, fa: *const libc::posix_spawn_file_actions_t, attr: *const libc::posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
    fn system(cmd: *const c_char) -> c_int;
    fn popen(cmd: *const c_char, mode: *const c_char) -> *mut libc::FILE;
    // Not hooked (the test harness reads the hook list up to this line):
    // found by the same walk rather than imported, because each
    // import is a full symbol lookup by the loader at every exec (~850
    // instructions against ~150 here).
    fn getpid() -> libc::pid_t;
    fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    fn mmap(addr: *mut c_void, len: size_t, prot: c_int, flags: c_int, fd: c_int, off: libc::off_t) -> *mut c_void;
    fn munmap(addr: *mut c_void, len: size_t) -> c_int;
    // Only when the constructor was not given glibc's (argc, argv, envp).
    fn getenv(name: *const c_char) -> *mut c_char;
}

/// glibc's `program_invocation_short_name` (the last part of argv[0]), for
/// a constructor that was not given argv; NULL if the walk does not find
/// it.
pub fn program_short_name() -> *const c_char {
    const NAME: &[u8] = b"program_invocation_short_name\0";
    const HASH: u32 = crate::linkmap::gnu_hash(NAME);
    let objs = crate::linkmap::Objs::after(program_short_name as fn() -> *const c_char as usize);
    match objs.find_object_anywhere(NAME, HASH) {
        // SAFETY: the address of a `char *` variable of libc.
        Some(a) => unsafe { *(a as *const *const c_char) },
        None => core::ptr::null(),
    }
}

#[cfg(test)]
mod tests {
    /// In the test binary (the walk starts after it, as dlsym(RTLD_NEXT)
    /// does), every real function resolves to exactly what dlsym gives.
    #[test]
    fn the_walk_gives_what_dlsym_gives() {
        super::resolve_all();
        let mut n = 0;
        super::each(|name, dlsym, resolved| {
            assert_eq!(resolved, dlsym, "{}", String::from_utf8_lossy(name));
            n += 1;
        });
        assert!(n >= 40, "{n}");
    }
}
