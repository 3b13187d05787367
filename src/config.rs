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
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Timeouts in nanoseconds; 0 means "that operation is not timed".
pub static CONNECT_NS: AtomicU64 = AtomicU64::new(0);
pub static READ_NS: AtomicU64 = AtomicU64::new(0);
pub static WRITE_NS: AtomicU64 = AtomicU64::new(0);
pub static ACCEPT_NS: AtomicU64 = AtomicU64::new(0);
/// Any of the above non-zero: the descriptor-tracking hooks do their work.
pub static ENABLED: AtomicBool = AtomicBool::new(false);

/// The largest accepted value: what fits a `poll()` timeout in milliseconds.
pub const MAX_MS: u64 = i32::MAX as u64;
const NS_PER_MS: u64 = 1_000_000;

/// Why a value was refused.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Bad {
    NotANumber,
    TooLarge,
    TooSmall,
}

impl Bad {
    pub fn reason(self) -> &'static str {
        match self {
            Bad::NotANumber => {
                "not a number of seconds (use digits and an optional decimal point, like 20 or 2.5)"
            }
            Bad::TooLarge => "too large (at most 2147483 seconds)",
            Bad::TooSmall => "too small (at least 0.001 seconds, or 0 for off)",
        }
    }
}

/// Parses a number of seconds (`20`, `2.5`, `.25`, `0`) into nanoseconds.
/// Only ASCII digits and one decimal point are accepted: no sign, spaces,
/// exponent, hex, `inf` or `nan`. Digits past the ninth decimal are
/// ignored. The empty string is 0 (off).
pub fn parse_secs(s: &[u8]) -> Result<u64, Bad> {
    if s.is_empty() {
        return Ok(0);
    }
    let mut whole: u64 = 0;
    let mut frac: u64 = 0; // nanoseconds
    let mut frac_scale: u64 = 100_000_000;
    let mut seen_point = false;
    let mut digits = 0usize;
    let mut frac_nonzero = false;
    for &c in s {
        match c {
            b'0'..=b'9' => {
                digits += 1;
                let d = (c - b'0') as u64;
                if seen_point {
                    if d != 0 {
                        frac_nonzero = true;
                    }
                    frac += d * frac_scale;
                    frac_scale /= 10;
                } else {
                    // Saturate: anything past the limit is refused below.
                    whole = whole.saturating_mul(10).saturating_add(d);
                    if whole > MAX_MS {
                        whole = MAX_MS;
                    }
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => return Err(Bad::NotANumber),
        }
    }
    if digits == 0 {
        return Err(Bad::NotANumber);
    }
    let ns = whole.saturating_mul(1_000_000_000).saturating_add(frac);
    if ns > MAX_MS * NS_PER_MS {
        return Err(Bad::TooLarge);
    }
    if ns == 0 {
        return if frac_nonzero {
            Err(Bad::TooSmall)
        } else {
            Ok(0)
        };
    }
    if ns < NS_PER_MS {
        return Err(Bad::TooSmall);
    }
    Ok(ns)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn accepts_plain_and_decimal_seconds() {
        assert_eq!(parse_secs(b"20"), Ok(20 * S));
        assert_eq!(parse_secs(b"2.5"), Ok(2 * S + S / 2));
        assert_eq!(parse_secs(b"0.25"), Ok(S / 4));
        assert_eq!(parse_secs(b".5"), Ok(S / 2));
        assert_eq!(parse_secs(b"5."), Ok(5 * S));
        assert_eq!(parse_secs(b"007"), Ok(7 * S));
        assert_eq!(parse_secs(b"0.001"), Ok(1_000_000));
        assert_eq!(parse_secs(b"1.0000000001"), Ok(S));
        assert_eq!(parse_secs(b"2147483.647"), Ok(MAX_MS * NS_PER_MS));
    }

    #[test]
    fn zero_and_empty_mean_off() {
        assert_eq!(parse_secs(b""), Ok(0));
        assert_eq!(parse_secs(b"0"), Ok(0));
        assert_eq!(parse_secs(b"0.000"), Ok(0));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            &b"twenty"[..],
            b"-5",
            b"+5",
            b"nan",
            b"NaN",
            b"inf",
            b"1e999",
            b"1e3",
            b"0x10",
            b"3abc",
            b" 5",
            b"5 ",
            b"1.2.3",
            b".",
            b"5s",
            b"\xc3\xa9",
            b"1,5",
        ] {
            assert_eq!(parse_secs(bad), Err(Bad::NotANumber), "{:?}", bad);
        }
        assert_eq!(parse_secs(b"2147484"), Err(Bad::TooLarge));
        assert_eq!(parse_secs(b"2147483.648"), Err(Bad::TooLarge));
        assert_eq!(
            parse_secs(b"99999999999999999999999999"),
            Err(Bad::TooLarge)
        );
        assert_eq!(parse_secs(b"0.0009"), Err(Bad::TooSmall));
        assert_eq!(parse_secs(b"0.0000000001"), Err(Bad::TooSmall));
    }

    #[test]
    fn never_panics_on_long_or_odd_input() {
        let long = vec![b'9'; 65536];
        assert_eq!(parse_secs(&long), Err(Bad::TooLarge));
        let mut frac = b"1.".to_vec();
        frac.extend(vec![b'9'; 65536]);
        assert_eq!(parse_secs(&frac), Ok(S + 999_999_999));
        for b in 0..=255u8 {
            let _ = parse_secs(&[b]);
            let _ = parse_secs(&[b'1', b]);
        }
    }
}
