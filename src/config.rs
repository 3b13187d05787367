//! Configuration: `TIMEOUTSOCK_*`, read once at load.
//!
//! | variable | meaning |
//! |---|---|
//! | `TIMEOUTSOCK_SECS` | default idle timeout; unset, empty or `0`: off |
//! | `TIMEOUTSOCK_CONNECT_SECS` | connect; falls back to `TIMEOUTSOCK_SECS`; `0` off |
//! | `TIMEOUTSOCK_READ_SECS` | reads; same fallback |
//! | `TIMEOUTSOCK_WRITE_SECS` | writes; same fallback |
//! | `TIMEOUTSOCK_ACCEPT_SECS` | accept; only when set (no fallback) |
//!
//! A bad value prints one line on stderr and counts as unset.

use crate::fmt::Line;
use crate::secs::parse_secs;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Timeouts in nanoseconds; 0 means "that operation is not timed".
pub static CONNECT_NS: AtomicU64 = AtomicU64::new(0);
pub static READ_NS: AtomicU64 = AtomicU64::new(0);
pub static WRITE_NS: AtomicU64 = AtomicU64::new(0);
pub static ACCEPT_NS: AtomicU64 = AtomicU64::new(0);
/// Any of the above non-zero: the descriptor-tracking hooks do their work.
pub static ENABLED: AtomicBool = AtomicBool::new(false);

/// Reads a peer list variable into `rules`; a malformed list is ignored as
/// a whole, with the warning.
fn read_list(name: &[u8], rules: &crate::peers::Rules) {
    // SAFETY: as in read_var.
    let p = unsafe { libc::getenv(name.as_ptr() as *const libc::c_char) };
    if p.is_null() {
        return;
    }
    // SAFETY: as in read_var.
    let value = unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes();
    if let Err(why) = rules.load(value) {
        warn_ignored(&name[..name.len() - 1], value, why);
    }
}

/// `TIMEOUTSOCK_LOG`: unset, empty or 0 is off, 1 is on; anything else is
/// refused with the warning (and off).
fn read_flag(name: &[u8]) -> bool {
    // SAFETY: as in read_var.
    let p = unsafe { libc::getenv(name.as_ptr() as *const libc::c_char) };
    if p.is_null() {
        return false;
    }
    // SAFETY: as in read_var.
    let value = unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes();
    match value {
        b"" | b"0" => false,
        b"1" => true,
        _ => {
            warn_ignored(&name[..name.len() - 1], value, "not 0 or 1");
            false
        }
    }
}

/// Reads one variable: `None` when unset or refused (after the warning).
fn read_var(name: &[u8]) -> Option<u64> {
    // SAFETY: name is NUL-terminated; getenv is called from the constructor
    // (single-threaded, before main), and we do not interpose it.
    let p = unsafe { libc::getenv(name.as_ptr() as *const libc::c_char) };
    if p.is_null() {
        return None;
    }
    // SAFETY: getenv returned a NUL-terminated string that stays valid
    // while nobody modifies the environment (nobody does during load).
    let value = unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes();
    match parse_secs(value) {
        Ok(ns) => Some(ns),
        Err(why) => {
            warn_ignored(&name[..name.len() - 1], value, why.reason());
            None
        }
    }
}

/// `timeoutsock: ignoring NAME="value": why`, one write(2) to fd 2.
pub fn warn_ignored(name: &[u8], value: &[u8], why: &str) {
    let mut line = Line::new();
    line.push(b"timeoutsock: ignoring ");
    line.push(name);
    line.push(b"=\"");
    line.push_escaped(value, 64);
    line.push(b"\": ");
    line.push(why.as_bytes());
    line.emit();
}

/// Reads the environment and publishes the timeouts.
pub fn load() {
    let default = read_var(b"TIMEOUTSOCK_SECS\0").unwrap_or(0);
    let connect = read_var(b"TIMEOUTSOCK_CONNECT_SECS\0").unwrap_or(default);
    let read = read_var(b"TIMEOUTSOCK_READ_SECS\0").unwrap_or(default);
    let write = read_var(b"TIMEOUTSOCK_WRITE_SECS\0").unwrap_or(default);
    let accept = read_var(b"TIMEOUTSOCK_ACCEPT_SECS\0").unwrap_or(0);
    read_list(b"TIMEOUTSOCK_EXCLUDE\0", &crate::peers::EXCLUDE);
    read_list(b"TIMEOUTSOCK_ONLY\0", &crate::peers::ONLY);
    crate::log::LOG.store(read_flag(b"TIMEOUTSOCK_LOG\0"), Ordering::Relaxed);
    CONNECT_NS.store(connect, Ordering::Relaxed);
    READ_NS.store(read, Ordering::Relaxed);
    WRITE_NS.store(write, Ordering::Relaxed);
    ACCEPT_NS.store(accept, Ordering::Relaxed);
    ENABLED.store(
        connect != 0 || read != 0 || write != 0 || accept != 0,
        Ordering::Release,
    );
}
