//! libtimeoutsock: an `LD_PRELOAD` library that gives the blocking TCP calls
//! of an unmodified program an idle timeout.
//!
//! Layout (each concern in one file):
//! - [`hooks`]: the exported `extern "C"` functions; thin, translate C
//!   arguments and call into the engine or tail-call libc.
//! - [`real`]: the real libc functions, resolved once in the constructor.
//! - [`config`]: `TIMEOUTSOCK_*` parsing, done once at load.
//! - [`fdtable`]: per-descriptor hints (is it TCP?) and the idle clock.
//! - [`wait`]: the deadline/poll loop, signal heuristic, own timeouts.
//! - [`engine`]: transfers, connect and accept built on `wait`.
//! - [`watch`]: poll, select and epoll waits with per-socket deadlines.
//! - [`peers`]: TIMEOUTSOCK_EXCLUDE/ONLY; [`log`]: the timeout log.
//! - [`sys`]: errno and clock helpers; [`fmt`]: allocation-free lines.
#![cfg_attr(not(test), no_std)]

pub mod block;
pub mod blocking;
pub mod config;
pub mod fdtable;
pub mod fmt;
pub mod hooks;
pub mod log;
pub mod peers;
pub mod real;
pub mod secs;
pub mod sys;
pub mod tcpinfo;

pub mod mux;

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
/// configuration before the program's `main` runs.
#[cfg_attr(test, allow(dead_code))]
extern "C" fn constructor() {
    // Runs once at load, single-threaded, before main.
    real::resolve_all();
    config::load();
}

#[cfg(not(test))]
#[used]
#[unsafe(link_section = ".init_array")]
static CONSTRUCTOR: extern "C" fn() = constructor;
