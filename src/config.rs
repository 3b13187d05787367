//! Configuration as plain data: the timeouts, published once by `init`
//! at load and read by the hooks with relaxed loads.
//!
//! | variable | meaning |
//! |---|---|
//! | `TIMEOUTSOCK_SECS` | default idle timeout; unset, empty or `0`: off |
//! | `TIMEOUTSOCK_CONNECT_SECS` | connect; falls back to `TIMEOUTSOCK_SECS`; `0` off |
//! | `TIMEOUTSOCK_READ_SECS` | reads; same fallback |
//! | `TIMEOUTSOCK_WRITE_SECS` | writes; same fallback |
//! | `TIMEOUTSOCK_ACCEPT_SECS` | accept; only when set (no fallback) |
//! | `TIMEOUTSOCK_EXCLUDE`, `TIMEOUTSOCK_ONLY` | peer lists (`peers`) |
//! | `TIMEOUTSOCK_LOG` | `1`: log each timeout on stderr; `2`: also one line at load (`log`) |
//!
//! A bad value prints one line on stderr and counts as unset.

use crate::sys::Nanos;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Timeouts in nanoseconds; 0 means "that operation is not timed".
pub static CONNECT_NS: AtomicU64 = AtomicU64::new(0);
pub static READ_NS: AtomicU64 = AtomicU64::new(0);
pub static WRITE_NS: AtomicU64 = AtomicU64::new(0);
pub static ACCEPT_NS: AtomicU64 = AtomicU64::new(0);
/// Any of the above non-zero: the descriptor-tracking hooks do their work.
pub static ENABLED: AtomicBool = AtomicBool::new(false);

/// A timeout as a duration (`None`: not timed).
#[inline(always)]
pub fn get(t: &AtomicU64) -> Option<Nanos> {
    match t.load(Relaxed) {
        0 => None,
        ns => Some(Nanos(ns)),
    }
}
