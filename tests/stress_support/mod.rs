//! Helpers of the stress and fault suite (tests/stress*.rs), on top of the
//! shared harness in tests/common: building the C stress programs
//! (tests/c/stress*.c, with `-pthread` and tests/c/stress_common.h), reading their `check ...`/`result ...` lines, running
//! commands whose environment is not UTF-8, and printing the figures of the
//! README's reliability section.
//!
//! Children run through tests/common's runner (own process group, killed by
//! id); every wait here is bounded.
#![allow(dead_code)]

use crate::common::{Fields, Group, Outcome, Run, c_build, parse_fields, read_all};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use std::time::{Duration, Instant};

/// Flags of the stress programs: the clients' flags and `-pthread`.
pub const STRESS_FLAGS: &[&str] = &["-O2", "-pthread", "-D_FORTIFY_SOURCE=2", "-Wall"];

/// Compiles tests/c/NAME.c once per test binary into
/// target/preload/stress/NAME, through the harness's one gcc path
/// (warnings are errors). Returns the program's path.
pub fn bin(name: &str) -> PathBuf {
    c_build("gcc", name, &format!("stress/{name}"), STRESS_FLAGS)
}

/// A stress program with arguments (not preloaded yet: add `.secs(..)`).
pub fn prog<S: AsRef<str>>(name: &str, args: &[S]) -> Run {
    Run::new(bin(name)).args(args)
}

/// The `check ...` lines of a run.
pub fn checks(o: &Outcome) -> Vec<Fields> {
    o.lines_with("check ")
}

/// The last `PREFIX ...` line, parsed; fails the test when missing.
pub fn line(o: &Outcome, prefix: &str) -> Fields {
    let p = format!("{prefix} ");
    o.stdout
        .iter()
        .rev()
        .find(|l| l.starts_with(&p))
        .map(|l| parse_fields(l))
        .unwrap_or_else(|| panic!("no `{prefix} ...` line\n{o}"))
}

pub fn num(o: &Outcome, f: &Fields, k: &str) -> i64 {
    f.get(k)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("field {k} missing or not a number in {f:?}\n{o}"))
}

/// The run ended by itself with exit 0, every check line says ok=1, the
/// result line says failures=0, and every name in `expected` has a check
/// line (so that a program that skipped its checks does not pass).
pub fn assert_all_checks_ok(o: &Outcome, expected: &[&str]) {
    let cs = checks(o);
    let bad: Vec<&Fields> = cs
        .iter()
        .filter(|c| c.get("ok").map(String::as_str) != Some("1"))
        .collect();
    let missing: Vec<&&str> = expected
        .iter()
        .filter(|n| {
            !cs.iter()
                .any(|c| c.get("name").map(String::as_str) == Some(**n))
        })
        .collect();
    assert!(
        bad.is_empty() && missing.is_empty(),
        "failed checks: {:?}\nmissing checks: {missing:?}\n{o}",
        bad.iter()
            .map(|c| c.get("name").cloned().unwrap_or_default())
            .collect::<Vec<_>>()
    );
    assert!(!o.killed, "still running at the harness limit\n{o}");
    let r = line(o, "result");
    assert_eq!(num(o, &r, "failures"), 0, "result line\n{o}");
    assert_eq!(o.code(), Some(0), "exit status\n{o}");
}

/// The library's own lines on stderr (`timeoutsock: ...`).
pub fn lib_lines(o: &Outcome) -> Vec<String> {
    o.lib_stderr_lines()
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// One figure for the README's reliability section, printed where
/// `cargo test -- --nocapture` shows it: `stress-figure NAME VALUE`.
pub fn figure(name: &str, value: impl std::fmt::Display) {
    eprintln!("stress-figure {name} {value}");
}

// ---------------------------------------------------------------------------
// Commands with arbitrary (non-UTF-8) environment values
// ---------------------------------------------------------------------------

/// What a raw run gave.
pub struct RawOutcome {
    pub code: Option<i32>,
    pub killed: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `program args` with exactly the environment `env` (nothing else
/// inherited), stdin from /dev/null, for at most `limit`.
pub fn run_raw(
    program: &std::path::Path,
    args: &[&str],
    env: &[(OsString, OsString)],
    limit: Duration,
) -> RawOutcome {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut g = Group::spawn(&mut cmd).expect("spawn");
    let to = read_all(g.0.stdout.take().unwrap());
    let te = read_all(g.0.stderr.take().unwrap());
    let end = g.finish(Instant::now(), limit);
    RawOutcome {
        code: end.status.code(),
        killed: end.killed,
        stdout: to.join().unwrap_or_default(),
        stderr: te.join().unwrap_or_default(),
    }
}
