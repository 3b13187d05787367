//! Differential check: the same seeded random sequence of socket operations
//! (tests/c/stress_diff.c) run without and with the library (T = 60 s, so
//! no timeout can fire) must print byte-identical transcripts: every return
//! value and errno (a sentinel errno must survive successful calls), every
//! received byte's checksum, every poll/select result, every descriptor
//! number. The baseline is run twice to make sure the transcript does not
//! depend on timing.
//!
//! Also fixed short sequences (`case NAME`), each aimed at one kind of call.
//!
//! Heavier version (100 seeds x 20,000 steps):
//!     cargo test --release --test stress_diff -- --ignored

mod common;
mod stress_support;

use common::*;
use std::time::Duration;
use stress_support::*;

const LIMIT: Duration = Duration::from_secs(60);

fn diff_prog(args: &[&str]) -> Run {
    prog("stress_diff", args)
}

/// Where two transcripts first differ, with context.
fn first_difference(a: &[String], b: &[String]) -> Option<String> {
    let n = a.len().max(b.len());
    (0..n).find(|&i| a.get(i) != b.get(i)).map(|i| {
        let from = i.saturating_sub(3);
        let show = |t: &[String]| -> String {
            t.iter()
                .skip(from)
                .take(i - from + 3)
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        format!(
            "line {}:\n  without the library:\n{}\n  with the library:\n{}",
            i + 1,
            show(a),
            show(b)
        )
    })
}

/// Runs `args` twice without and once with the library; returns the
/// differences found (empty: identical) and the number of steps.
fn compare(args: &[&str]) -> (Vec<String>, usize) {
    let runs = [
        (diff_prog(args), LIMIT),
        (diff_prog(args), LIMIT),
        (diff_prog(args).secs("60"), LIMIT),
    ];
    let outs = run_all(&runs);
    let (base, again, lib) = (&outs[0], &outs[1], &outs[2]);
    assert!(
        !base.killed && base.code() == Some(0),
        "baseline run failed\n{base}"
    );
    assert_eq!(
        base.stdout,
        again.stdout,
        "the transcript depends on timing (two runs without the library differ): {:?}\n{}",
        args,
        first_difference(&base.stdout, &again.stdout).unwrap_or_default()
    );
    let mut diffs = Vec::new();
    if let Some(d) = first_difference(&base.stdout, &lib.stdout) {
        diffs.push(format!("{args:?}: {d}"));
    }
    if lib.code() != base.code() || lib.killed {
        diffs.push(format!(
            "{args:?}: exit {:?} (killed={}) with the library, {:?} without",
            lib.code(),
            lib.killed,
            base.code()
        ));
    }
    (diffs, base.stdout.len())
}

fn random_sequences(seeds: std::ops::RangeInclusive<u32>, steps: u32) {
    let steps_s = steps.to_string();
    let mut diffs = Vec::new();
    let mut total = 0;
    for seed in seeds {
        let (d, n) = compare(&[&seed.to_string(), &steps_s]);
        diffs.extend(d);
        total += n;
    }
    figure("diff.operations", total);
    assert!(
        diffs.is_empty(),
        "transcripts differ:\n{}",
        diffs.join("\n\n")
    );
}

#[test]
fn differential_random_sequences_match() {
    random_sequences(1..=4, 2000);
}

/// `cargo test --release --test stress_diff -- --ignored differential_heavy`
#[test]
#[ignore]
fn differential_heavy() {
    random_sequences(1..=100, 20000);
}

fn fixed(name: &str) {
    let (diffs, _) = compare(&["case", name]);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// A second connect() on a connected blocking socket: EISCONN.
#[test]
fn differential_connect_twice() {
    fixed("connect_twice");
}

/// A refused blocking connect leaves the socket as the kernel would: recv
/// gives ENOTCONN, poll no POLLIN, and a new connect on it succeeds.
#[test]
fn differential_connect_refused_then_retry() {
    fixed("connect_refused_retry");
}

/// MSG_WAITALL that gets part of its bytes before a reset: the partial
/// count, then ECONNRESET on the next call (not a lost error and EOF).
#[test]
fn differential_waitall_partial_then_reset() {
    fixed("waitall_partial_reset");
}

/// After that partial count, the error is the kernel's to report: poll
/// shows POLLERR...
#[test]
fn differential_waitall_partial_reset_then_poll() {
    fixed("waitall_reset_poll");
}

/// ... getsockopt(SO_ERROR) returns it ...
#[test]
fn differential_waitall_partial_reset_then_so_error() {
    fixed("waitall_reset_so_error");
}

/// ... a recv with MSG_DONTWAIT (which the library passes through) gets it
/// ...
#[test]
fn differential_waitall_partial_reset_then_dontwait() {
    fixed("waitall_reset_dontwait");
}

/// ... and so does a call on another descriptor of the same socket.
#[test]
fn differential_waitall_partial_reset_then_dup() {
    fixed("waitall_reset_dup");
}

/// recv/recvmsg with MSG_ERRQUEUE never blocks: EAGAIN at once.
#[test]
fn differential_errqueue_never_blocks() {
    fixed("errqueue");
}

/// read()/readv() of 0 bytes return 0 at once.
#[test]
fn differential_read_zero_bytes() {
    fixed("read_zero");
}
