//! Assertions on a run's outcome: result lines, errno, the timing window.

use super::run::{Fields, Outcome, Run};
use std::thread;
use std::time::Duration;

pub fn field_i64(o: &Outcome, f: &Fields, k: &str) -> i64 {
    f.get(k)
        .unwrap_or_else(|| panic!("field {k} missing in {f:?}\n{o}"))
        .parse()
        .unwrap_or_else(|_| panic!("field {k} not a number in {f:?}\n{o}"))
}

pub fn field<'a>(o: &Outcome, f: &'a Fields, k: &str) -> &'a str {
    f.get(k)
        .unwrap_or_else(|| panic!("field {k} missing in {f:?}\n{o}"))
}

/// Asserts that `ms` lies in the contract's window for a timeout of `t`
/// seconds: no earlier than 0.8·T and no later than T + 1 s.
pub fn assert_timeout_window(o: &Outcome, what: &str, ms: i64, t: f64) {
    let lo = (0.8 * t * 1000.0) as i64;
    let hi = ((t + 1.0) * 1000.0) as i64;
    assert!(
        (lo..=hi).contains(&ms),
        "{what}: took {ms} ms, expected a timeout of {t} s within [{lo}, {hi}] ms\n{o}"
    );
}

/// Asserts that the process ended by itself with the result line `op`
/// carrying `ret` and `errno`; returns that line.
pub fn assert_op(o: &Outcome, op: &str, ret: i64, errno: &str) -> Fields {
    assert!(!o.killed, "{op}: process still running at the limit\n{o}");
    let f = o.must_op(op);
    assert_eq!(field_i64(o, &f, "ret"), ret, "{op}: ret\n{o}");
    assert_eq!(field(o, &f, "errno"), errno, "{op}: errno\n{o}");
    f
}

/// Asserts that `op` failed with ETIMEDOUT within the window for `t` s.
pub fn assert_timed_out(o: &Outcome, op: &str, t: f64) -> Fields {
    let f = assert_op(o, op, -1, "ETIMEDOUT");
    let ms = field_i64(o, &f, "elapsed_ms");
    assert_timeout_window(o, op, ms, t);
    f
}

/// Asserts that the process was still blocked in `op` when the harness
/// killed it at its limit.
pub fn assert_hung_in(o: &Outcome, op: &str) {
    assert!(
        o.killed,
        "{op}: expected to be still blocked at the limit, but it ended\n{o}"
    );
    assert!(
        o.was_waiting_in(op),
        "{op}: killed, but it never reached the call\n{o}"
    );
    assert!(
        o.op(op).is_none(),
        "{op}: killed, but the call had returned\n{o}"
    );
}

/// Runs several commands at once (they mostly sleep) and returns their
/// outcomes in order.
pub fn run_all(runs: &[(Run, Duration)]) -> Vec<Outcome> {
    thread::scope(|s| {
        let hs: Vec<_> = runs
            .iter()
            .map(|(r, lim)| s.spawn(move || r.run(*lim)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// What valgrind said on stderr: its error lines (`==PID==`, with -q only
/// errors) and its own notes and warnings (`--PID-- ...`, such as a system
/// call argument it finds odd): a run under valgrind must have neither.
#[allow(dead_code)]
pub fn valgrind_said(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.starts_with("==")
                || l.strip_prefix("--").is_some_and(|r| {
                    let d = r.bytes().take_while(u8::is_ascii_digit).count();
                    d > 0 && r[d..].starts_with("--")
                })
        })
        .collect()
}
