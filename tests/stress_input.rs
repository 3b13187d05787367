//! Hostile configuration values: each refused value gives exactly one
//! warning line on stderr, `timeoutsock: PROGRAM[PID]: ignoring NAME="VALUE": REASON`
//! (compared without the `PROGRAM[PID]: ` part, which tests/log.rs checks)
//! (VALUE escaped: printable ASCII as is, `"` and `\` with a backslash,
//! other bytes as \xNN; more than 64 bytes cut with `...`), and the program
//! runs unchanged: same stdout, same exit status as without the library.
//! Values the README calls valid (empty, 0) give no line.
//!
//! The program is tests/c/stress_load.c `selftest` (an in-process loopback
//! exchange; prints a checksum, exits 7). The environment is exactly the
//! variables given (nothing inherited), values may be any bytes.

mod common;
mod stress_support;

use common::preload_lib;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;
use stress_support::*;

const NAN: &str =
    "not a number of seconds (use digits and an optional decimal point, like 20 or 2.5)";
const LARGE: &str = "too large (at most 2147483 seconds)";
const SMALL: &str = "too small (at least 0.001 seconds, or 0 for off)";
const LIST: &str = "not a list of ADDRESS[/PREFIX][:PORT] (IPv6 as [ADDRESS]:PORT), e.g. \
                    10.0.0.0/8,[::1]:6379";
const MANY: &str = "too many entries (at most 64)";
const FLAG: &str = "not 0, 1 or 2";

/// The value as the warning shows it (see the module comment).
fn escaped(v: &[u8]) -> String {
    let mut s = String::new();
    for &b in v.iter().take(64) {
        match b {
            b'"' | b'\\' => {
                s.push('\\');
                s.push(b as char);
            }
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    if v.len() > 64 {
        s.push_str("...");
    }
    s
}

fn warning(name: &str, v: &[u8], why: &str) -> String {
    format!("timeoutsock: ignoring {name}=\"{}\": {why}", escaped(v))
}

struct Case {
    name: &'static str,
    value: Vec<u8>,
    /// None: a valid value, no line.
    why: Option<&'static str>,
}

fn case(name: &'static str, value: impl Into<Vec<u8>>, why: Option<&'static str>) -> Case {
    Case {
        name,
        value: value.into(),
        why,
    }
}

fn table() -> Vec<Case> {
    let secs = "TIMEOUTSOCK_SECS";
    let mut t = vec![
        case(secs, "", None),
        case(secs, "0", None),
        case(secs, " ", Some(NAN)),
        case(secs, " 5", Some(NAN)),
        case(secs, "5 ", Some(NAN)),
        case(secs, "-5", Some(NAN)),
        case(secs, "+5", Some(NAN)),
        case(secs, "1e3", Some(NAN)),
        case(secs, "1E-3", Some(NAN)),
        case(secs, "99999999999999999999999999999999", Some(LARGE)),
        case(secs, "2147484", Some(LARGE)),
        case(secs, "2147483.648", Some(LARGE)),
        case(secs, "0.0009", Some(SMALL)),
        case(secs, "0.0000000001", Some(SMALL)),
        case(secs, "nan", Some(NAN)),
        case(secs, "NaN", Some(NAN)),
        case(secs, "inf", Some(NAN)),
        case(secs, "-Infinity", Some(NAN)),
        case(secs, "0x10", Some(NAN)),
        case(secs, "\u{ff15}", Some(NAN)), // fullwidth digit five
        case(secs, "2\u{e9}", Some(NAN)),
        case(secs, &b"\xff\xfe\x80"[..], Some(NAN)),
        case(secs, vec![b'9'; 65536], Some(LARGE)),
        case(secs, vec![b'x'; 65536], Some(NAN)),
        case(secs, "5\t", Some(NAN)),
        case(secs, "5\n6", Some(NAN)),
        case(secs, "\r\n", Some(NAN)),
        case(secs, "\"5\"", Some(NAN)),
        case(secs, "5\\", Some(NAN)),
        case(secs, "5s", Some(NAN)),
        case(secs, "1,5", Some(NAN)),
        case(secs, "1.2.3", Some(NAN)),
        case(secs, ".", Some(NAN)),
        case("TIMEOUTSOCK_CONNECT_SECS", "abc", Some(NAN)),
        case("TIMEOUTSOCK_READ_SECS", "-1", Some(NAN)),
        case("TIMEOUTSOCK_WRITE_SECS", "1e-3", Some(NAN)),
        case("TIMEOUTSOCK_ACCEPT_SECS", "0x1", Some(NAN)),
        case("TIMEOUTSOCK_EXCLUDE", "localhost", Some(LIST)),
        case("TIMEOUTSOCK_EXCLUDE", "10.0.0.0/33", Some(LIST)),
        case("TIMEOUTSOCK_EXCLUDE", "[::1", Some(LIST)),
        case("TIMEOUTSOCK_EXCLUDE", "127.0.0.1:99999", Some(LIST)),
        case("TIMEOUTSOCK_EXCLUDE", "127.0.0.1:0", Some(LIST)),
        case("TIMEOUTSOCK_EXCLUDE", "010.0.0.1", Some(LIST)),
        case("TIMEOUTSOCK_ONLY", "1.2.3.4.5", Some(LIST)),
        case("TIMEOUTSOCK_ONLY", "127.0.0.1,,garbage,", Some(LIST)),
        case("TIMEOUTSOCK_ONLY", "[::1]:6379/8", Some(LIST)),
        case("TIMEOUTSOCK_ONLY", "127.0.0.1,".repeat(65), Some(MANY)),
        case("TIMEOUTSOCK_ONLY", &b"\xc3\x28"[..], Some(LIST)),
        case("TIMEOUTSOCK_LOG", "yes", Some(FLAG)),
        case("TIMEOUTSOCK_LOG", "3", Some(FLAG)),
        case("TIMEOUTSOCK_LOG", " 1", Some(FLAG)),
        case("TIMEOUTSOCK_LOG", "", None),
    ];
    // a valid list for contrast
    t.push(case("TIMEOUTSOCK_EXCLUDE", "10.0.0.0/8,[::1]:6379", None));
    t
}

fn os(s: &str) -> OsString {
    OsString::from(s)
}

fn run_selftest(env: Vec<(OsString, OsString)>) -> RawOutcome {
    run_raw(
        &bin("stress_load"),
        &["selftest"],
        &env,
        Duration::from_secs(20),
    )
}

/// Without the library: what "unchanged" means.
fn baseline() -> RawOutcome {
    let b = run_selftest(Vec::new());
    assert_eq!(b.code, Some(7), "selftest without the library");
    assert!(b.stderr.is_empty());
    b
}

fn with_lib(extra: Vec<(OsString, OsString)>) -> RawOutcome {
    let mut env = vec![(os("LD_PRELOAD"), preload_lib().into_os_string())];
    env.extend(extra);
    run_selftest(env)
}

/// Each value alone (with TIMEOUTSOCK_SECS=30 next to a non-SECS variable,
/// so that the library is on): exactly its one line, the program unchanged.
#[test]
fn hostile_configuration_values_one_line_each_program_unchanged() {
    let base = baseline();
    let cases = table();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for c in &cases {
        let mut env = vec![(os(c.name), OsString::from_vec(c.value.clone()))];
        if c.name != "TIMEOUTSOCK_SECS" {
            env.push((os("TIMEOUTSOCK_SECS"), os("30")));
        }
        let o = with_lib(env);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let want: Vec<String> = c
            .why
            .map(|w| warning(c.name, &c.value, w))
            .into_iter()
            .collect();
        let got: Vec<String> = err.lines().map(common::without_who).collect();
        let shown = escaped(&c.value);
        if o.killed || o.code != Some(7) || o.stdout != base.stdout {
            failures.push(format!(
                "{}=\"{shown}\": program changed: exit {:?} killed={} stdout {:?}",
                c.name,
                o.code,
                o.killed,
                String::from_utf8_lossy(&o.stdout)
            ));
        }
        if got != want || !err.is_empty() && !err.ends_with('\n') {
            failures.push(format!(
                "{}=\"{shown}\": stderr {err:?}, expected {want:?}",
                c.name
            ));
        }
    }
    figure("input.values_tried", cases.len() + 2);
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Every variable hostile at once: one line each, in the order the library
/// reads them, and the program unchanged.
#[test]
fn hostile_configuration_all_variables_at_once() {
    let base = baseline();
    let vars: [(&str, &[u8], &str); 8] = [
        ("TIMEOUTSOCK_SECS", b"twenty", NAN),
        ("TIMEOUTSOCK_CONNECT_SECS", b"-1", NAN),
        ("TIMEOUTSOCK_READ_SECS", b"1e9", NAN),
        ("TIMEOUTSOCK_WRITE_SECS", b"99999999", LARGE),
        ("TIMEOUTSOCK_ACCEPT_SECS", b"0.00001", SMALL),
        ("TIMEOUTSOCK_EXCLUDE", b"host.example", LIST),
        ("TIMEOUTSOCK_ONLY", b"\xff", LIST),
        ("TIMEOUTSOCK_LOG", b"true", FLAG),
    ];
    let env = vars
        .iter()
        .map(|(k, v, _)| (os(k), OsString::from_vec(v.to_vec())))
        .collect();
    let o = with_lib(env);
    let want: Vec<String> = vars.iter().map(|(k, v, w)| warning(k, v, w)).collect();
    let err = String::from_utf8_lossy(&o.stderr);
    let got: Vec<String> = err.lines().map(common::without_who).collect();
    assert_eq!(got, want, "stderr");
    assert_eq!(o.code, Some(7));
    assert_eq!(o.stdout, base.stdout);
}

/// A long value of bytes that each need a 4-character escape: the line is
/// still one well-formed line (closing quote, the reason at the end), its
/// value part a prefix of the escaped value, cut with `...`.
#[test]
fn hostile_long_binary_value_gives_well_formed_line() {
    let base = baseline();
    for (name, byte, why) in [
        ("TIMEOUTSOCK_SECS", 0xffu8, NAN),
        ("TIMEOUTSOCK_EXCLUDE", 0x01u8, LIST),
    ] {
        let value = vec![byte; 300];
        let mut env = vec![(os(name), OsString::from_vec(value.clone()))];
        if name != "TIMEOUTSOCK_SECS" {
            env.push((os("TIMEOUTSOCK_SECS"), os("30")));
        }
        let o = with_lib(env);
        assert_eq!(o.code, Some(7));
        assert_eq!(o.stdout, base.stdout);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{name}: {err:?}");
        let l = common::without_who(lines[0]);
        let l = l.as_str();
        let prefix = format!("timeoutsock: ignoring {name}=\"");
        let suffix = format!("...\": {why}");
        assert!(
            l.starts_with(&prefix) && l.ends_with(&suffix),
            "{name}: not a well-formed line (closing quote and reason): {l:?}"
        );
        let shown = &l[prefix.len()..l.len() - suffix.len()];
        assert!(
            escaped(&value).starts_with(shown)
                && shown.len().is_multiple_of(4)
                && !shown.is_empty(),
            "{name}: the value part is not whole escapes of the value: {shown:?}"
        );
    }
}
