//! Load time: reads `TIMEOUTSOCK_*` once (from the constructor) and
//! publishes it into `config`, `peers` and `log`. A bad value prints one
//! line on stderr and counts as unset.

use crate::config::{ACCEPT_NS, CONNECT_NS, ENABLED, READ_NS, WRITE_NS};
use crate::log::warn_ignored;
use crate::peers::{EXCLUDE, ONLY, Rules};
use crate::secs::parse_secs;
use crate::sys::env;
use core::ffi::CStr;
use core::sync::atomic::Ordering::Relaxed;

/// The name without its NUL, for the warning.
fn shown(name: &CStr) -> &[u8] {
    name.to_bytes()
}

/// Reads a peer list variable into `rules`; a malformed list is ignored as
/// a whole, with the warning.
fn read_list(name: &CStr, rules: &Rules) {
    if let Some(value) = env::var(name)
        && let Err(why) = rules.load(value)
    {
        warn_ignored(shown(name), value, why);
    }
}

/// `TIMEOUTSOCK_LOG`: unset, empty or 0 is off, 1 is on; anything else is
/// refused with the warning (and off).
fn read_flag(name: &CStr) -> bool {
    match env::var(name) {
        None | Some(b"" | b"0") => false,
        Some(b"1") => true,
        Some(value) => {
            warn_ignored(shown(name), value, "not 0 or 1");
            false
        }
    }
}

/// Reads one variable: `None` when unset or refused (after the warning).
fn read_secs(name: &CStr) -> Option<u64> {
    let value = env::var(name)?;
    match parse_secs(value) {
        Ok(ns) => Some(ns),
        Err(why) => {
            warn_ignored(shown(name), value, why.reason());
            None
        }
    }
}

/// Reads the environment and publishes the settings.
pub fn load() {
    let default = read_secs(c"TIMEOUTSOCK_SECS").unwrap_or(0);
    let connect = read_secs(c"TIMEOUTSOCK_CONNECT_SECS").unwrap_or(default);
    let read = read_secs(c"TIMEOUTSOCK_READ_SECS").unwrap_or(default);
    let write = read_secs(c"TIMEOUTSOCK_WRITE_SECS").unwrap_or(default);
    let accept = read_secs(c"TIMEOUTSOCK_ACCEPT_SECS").unwrap_or(0);
    read_list(c"TIMEOUTSOCK_EXCLUDE", &EXCLUDE);
    read_list(c"TIMEOUTSOCK_ONLY", &ONLY);
    crate::log::LOG.store(read_flag(c"TIMEOUTSOCK_LOG"), Relaxed);
    CONNECT_NS.store(connect, Relaxed);
    READ_NS.store(read, Relaxed);
    WRITE_NS.store(write, Relaxed);
    ACCEPT_NS.store(accept, Relaxed);
    ENABLED.store(
        connect != 0 || read != 0 || write != 0 || accept != 0,
        core::sync::atomic::Ordering::Release,
    );
}
