//! libtimeoutsock: an `LD_PRELOAD` library that gives the blocking TCP calls
//! of an unmodified program an idle timeout.
//!
//! Modules, bottom layer first (each imports only from modules above it in
//! this list; see ARCHITECTURE.md):
//! - [`fmt`]: allocation-free lines (imports nothing from the crate).
//! - [`secs`]: the seconds syntax (shared with the `timeoutsock` command).
//! - [`peerlist`]: the peer-list syntax (shared with the command too).
//! - [`linkmap`]: GNU hash lookups in the objects loaded after us.
//! - [`real`]: the real libc functions, resolved once in the constructor.
//! - [`sys`]: errno/cvt, typed time, socket options, abort, mmap, env.
//! - [`config`]: the timeouts, plain data.
//! - [`addr`]: `Peer`, sockaddr decoding, peer/local address, printing.
//! - [`peers`]: TIMEOUTSOCK_EXCLUDE/ONLY rules and the decision.
//! - [`fdtable`]: per-descriptor storage (slot, clocks, epoll, vfork guard).
//! - [`classify`]: what a descriptor is (hint, probe, confirm).
//! - [`log`]: stderr: the timeout log and warnings.
//! - [`sock`]: the resolved socket handle and the outcome type.
//! - [`block`]: the single-socket deadline wait.
//! - [`blocking`]: transfers, connect and accept built on `block`.
//! - [`mux`]: poll, select and epoll waits with per-socket deadlines
//!   (`mux/check.rs` the verdict and the wait loop, `mux/epoll.rs` epoll).
//! - [`init`]: reads the environment at load into config, peers and log.
//! - [`hooks`]: the exported `extern "C"` functions (thin).
#![cfg_attr(not(test), no_std)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod addr;
pub mod block;
pub mod blocking;
pub mod classify;
pub mod config;
pub mod fdtable;
pub mod fmt;
pub mod hooks;
pub mod init;
pub mod linkmap;
pub mod log;
pub mod mux;
pub mod peerlist;
pub mod peers;
pub mod real;
pub mod secs;
pub mod sock;
pub mod sys;

/// Nothing in this library may unwind across `extern "C"`; the code is
/// written not to panic, and if it ever does, the process aborts (it would
/// have been undefined behaviour otherwise).
#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: abort() is async-signal-safe and never returns.
    unsafe { libc::abort() }
}

/// The ELF constructor: resolve every real function and read the
/// configuration before the program's `main` runs. glibc passes
/// `(argc, argv, envp)` to `.init_array` functions; musl passes nothing,
/// so there the arguments are checked (glibc build) or not looked at
/// (musl build).
#[cfg_attr(test, allow(dead_code))]
#[cfg_attr(not(test), unsafe(link_section = ".text.startup"))]
extern "C" fn constructor(argc: c_int, argv: *const *const c_char, envp: *const *const c_char) {
    // Runs once at load, single-threaded, before main.
    real::resolve_all();
    #[cfg(target_env = "musl")]
    let (argv0, envp) = {
        let _ = (argc, argv, envp);
        // SAFETY: musl sets program_invocation_short_name from argv[0]
        // before it runs constructors; a NUL-terminated string (or NULL).
        let name = unsafe { program_invocation_short_name };
        let argv0: &[u8] = if name.is_null() {
            b"?"
        } else {
            // SAFETY: as above.
            unsafe { sys::env::c_bytes(name) }
        };
        (argv0, core::ptr::null())
    };
    // glibc's arguments, checked without reading memory: at load its envp
    // follows argv's NULL. Another loader (musl's loader treats our
    // libc.so.6 as itself) passes nothing: the registers hold whatever they
    // held, and then the name and the environment come from libc.
    #[cfg(not(target_env = "musl"))]
    let (argv0, envp): (&[u8], _) =
        if argc > 0 && !argv.is_null() && envp == argv.wrapping_add(argc as usize + 1) {
            // SAFETY: glibc's argv has argc entries, then NULL; argv[0] is
            // a NUL-terminated string (or NULL), valid for the process.
            match unsafe { *argv } {
                p if p.is_null() => (b"?", envp),
                // SAFETY: as above.
                p => (unsafe { sys::env::c_bytes(p) }, envp),
            }
        } else {
            let p = real::program_short_name();
            let name: &[u8] = if p.is_null() {
                b"?"
            } else {
                // SAFETY: libc's program name, NUL-terminated.
                unsafe { sys::env::c_bytes(p) }
            };
            (name, core::ptr::null())
        };
    // SAFETY: the constructor, single-threaded, before main; envp is what
    // glibc passed (ignored on musl).
    unsafe { init::load(argv0, envp) };
}

#[cfg(target_env = "musl")]
unsafe extern "C" {
    static program_invocation_short_name: *const c_char;
}

#[cfg(not(test))]
#[used]
#[unsafe(link_section = ".init_array")]
static CONSTRUCTOR: extern "C" fn(c_int, *const *const c_char, *const *const c_char) = constructor;

use libc::{c_char, c_int};
