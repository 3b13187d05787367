//! The poll memo (issue 11): a wait on the same array as last time skips
//! the pass over its sockets, and must still time every one of them as the
//! full pass would (tests/c/pollmemo.c, arrays of 10+ sockets, so that the
//! memo is used).

mod common;

use common::*;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

fn run(mode: &str, t: &str) -> Outcome {
    let o = Run::new(c_client("pollmemo"))
        .args(&[mode, t])
        .secs(t)
        .env("TIMEOUTSOCK_CONNECT_SECS", "1")
        .run(LIMIT);
    assert!(!o.killed, "still running at the limit\n{o}");
    assert_eq!(o.code(), Some(0), "exit status\n{o}");
    o
}

/// Every `op` line's elapsed_ms.
fn elapsed(o: &Outcome, op: &str) -> Vec<f64> {
    o.stdout
        .iter()
        .filter(|l| l.starts_with(&format!("op={op} ")))
        .map(|l| parse_fields(l)["elapsed_ms"].parse().unwrap())
        .collect()
}

fn within(o: &Outcome, ms: f64, lo: f64, hi: f64) {
    assert!(ms >= lo && ms <= hi, "{ms} ms not in [{lo}, {hi}]\n{o}");
}

/// Several threads polling different arrays: each array's sockets end at
/// about T (the memos do not take each other's place for good).
#[test]
fn threads_polling_different_arrays_each_end_at_t() {
    let o = run("threads", "1");
    let e = elapsed(&o, "threads");
    assert_eq!(e.len(), 3, "{o}");
    for ms in e {
        within(&o, ms, 800.0, 2000.0);
    }
}

/// The array changed between calls (same address, other sockets): the new
/// sockets' periods start at the change, they end at about T/2 + T (a memo
/// that missed the change would end them at 2 T: their periods would start
/// only at the old deadline's check).
#[test]
fn an_array_changed_between_calls_is_timed_afresh() {
    let o = run("changed", "3");
    let e = elapsed(&o, "changed");
    assert_eq!(e.len(), 1, "{o}");
    assert!(o.stdout.iter().any(|l| l.contains("early=0")), "{o}");
    within(&o, e[0], 1500.0 + 2400.0, 1500.0 + 3000.0 + 1000.0);
}

/// A socket added that is due sooner than the memo's deadline (a connect,
/// CONNECT_SECS=1, added at 0.6 s to an array whose sockets are due at
/// 3 s) ends at about 1.6 s.
#[test]
fn a_socket_added_due_sooner_ends_at_its_own_deadline() {
    let o = run("sooner", "3");
    let e = elapsed(&o, "sooner");
    assert_eq!(e.len(), 1, "{o}");
    within(&o, e[0], 600.0 + 800.0, 600.0 + 1000.0 + 800.0);
}
