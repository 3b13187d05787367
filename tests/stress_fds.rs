//! Descriptor classification under reuse, duplication, passing and
//! inheritance, at high numbers, and with fd 2 closed (tests/c/
//! stress_fds.c, under the library with T = 0.3 s).
//!
//! The two properties: a non-TCP descriptor is never timed (a blocking
//! read on an empty pipe or Unix socket is still blocked at 1 s, more than
//! three times T), and a TCP descriptor is never dropped (a read on a
//! silent peer fails with ETIMEDOUT within [0.8 T, T + 1 s]) — however its
//! number was used before.
//!
//! Heavier version: `cargo test --release --test stress_fds -- --ignored`

mod common;
mod stress_support;

use common::*;
use std::time::Duration;
use stress_support::*;

const T: &str = "0.3";
const LIMIT: Duration = Duration::from_secs(60);

fn fds(args: &[&str]) -> Run {
    prog("stress_fds", args).secs(T)
}

const CHURN_CHECKS: [&str; 7] = [
    "pipe_after_tcp",
    "socketpair_after_tcp",
    "unix_accepted_after_tcp",
    "tcp_after_pipe",
    "tcp_after_unix",
    "tcp_dup2_over_pipe",
    "pipe_dup2_over_tcp",
];

fn churn(rounds: u32, churners: u32, limit: Duration) {
    let o = fds(&["churn", T, &rounds.to_string(), &churners.to_string()]).run(limit);
    assert_all_checks_ok(&o, &CHURN_CHECKS);
    assert_eq!(
        checks(&o).len(),
        CHURN_CHECKS.len() * rounds as usize,
        "every round ran every check\n{o}"
    );
    let r = line(&o, "result");
    assert_eq!(
        num(&o, &r, "churn_non_tcp_errors"),
        0,
        "a file, pipe or Unix socket call failed while churning\n{o}"
    );
    figure("reuse.churn_ops", num(&o, &r, "churn_ops"));
    figure("reuse.checks", checks(&o).len());
}

/// Four threads churn descriptors of every kind while each round checks a
/// pipe, a socketpair and an accepted Unix socket on numbers TCP just left
/// (must block) and TCP sockets on numbers pipes and Unix sockets just left
/// or dup2'd over them (must time out).
#[test]
fn reuse_churn_never_misclassifies() {
    churn(3, 4, LIMIT);
}

/// `cargo test --release --test stress_fds -- --ignored reuse_churn_heavy`
#[test]
#[ignore]
fn reuse_churn_heavy() {
    churn(40, 8, Duration::from_secs(300));
}

/// dup, dup2, dup3, F_DUPFD, F_DUPFD_CLOEXEC: a TCP socket's copy times
/// out (dup2/dup3 over a pipe's number); a pipe's copy over a TCP socket's
/// number (or on the number a TCP socket just left) blocks.
#[test]
fn dup_kinds_keep_classification() {
    let o = fds(&["dupkinds", T]).run(LIMIT);
    let mut names = Vec::new();
    for k in ["dup", "dup2", "dup3", "F_DUPFD", "F_DUPFD_CLOEXEC"] {
        names.push(format!("{k}_of_tcp"));
        names.push(format!("{k}_of_pipe_onto_tcp_number"));
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_all_checks_ok(&o, &names);
}

/// A TCP socket times out in poll (the library marks it timed out), is
/// closed by `closer`, and a pipe takes its number: the pipe reads its byte
/// and blocks when empty.
fn stale_after(closer: &str) {
    let o = fds(&["stale", T, closer]).run(LIMIT);
    let r = line(&o, "result");
    assert_eq!(
        r["same_number"], "1",
        "the pipe did not reuse the number\n{o}"
    );
    assert_all_checks_ok(
        &o,
        &[
            &format!("{closer}_pipe_reads_data"),
            "pipe_blocks_when_empty",
        ],
    );
}

#[test]
fn stale_state_after_close() {
    stale_after("close");
}

#[test]
fn stale_state_after_close_range() {
    stale_after("close_range");
}

#[test]
fn stale_state_after_close_range_unshare() {
    stale_after("close_range_unshare");
}

#[test]
fn stale_state_after_fclose() {
    stale_after("fclose");
}

#[test]
fn stale_state_after_dup2_over_it() {
    stale_after("dup2");
}

/// glibc's closefrom() closes inside libc (no close/close_range call the
/// library sees).
#[test]
fn stale_state_after_closefrom() {
    stale_after("closefrom");
}

/// A TCP socket and a pipe passed over a Unix socket with SCM_RIGHTS, to
/// a forked process and to a thread (MSG_CMSG_CLOEXEC): the socket times
/// out in the receiver, the pipe blocks.
#[test]
fn scm_rights_received_descriptors() {
    let o = fds(&["scm", T]).run(LIMIT);
    assert_all_checks_ok(
        &o,
        &[
            "child_received_tcp",
            "child_received_pipe",
            "child_exit",
            "thread_received_tcp",
            "thread_received_pipe",
        ],
    );
}

/// A TCP socket and a pipe inherited across exec: the socket times out in
/// the new program, the pipe blocks there.
#[test]
fn exec_inherited_descriptors() {
    let o = fds(&["exec", T]).run(LIMIT);
    assert_all_checks_ok(&o, &["exec_inherited_tcp", "exec_inherited_pipe"]);
}

/// RLIMIT_NOFILE raised to 1,048,576 when allowed (root with
/// CAP_SYS_RESOURCE), else the hard limit: TCP sockets at 1024, 70,000,
/// 1,000,000 and the highest number (or the highest the limit allows) time
/// out in read, poll and epoll; a pipe and a Unix socket there block; an
/// echo there moves 1 MiB intact.
#[test]
fn high_descriptor_numbers() {
    let o = fds(&["highfd", T]).run(LIMIT);
    let rl = line(&o, "rlimit");
    let top = num(&o, &line(&o, "result"), "top");
    if rl["raised"] != "1" {
        eprintln!(
            "note: RLIMIT_NOFILE could not be raised to 1048576 (no CAP_SYS_RESOURCE; hard \
             limit {}): tested up to fd {top}",
            rl["max"]
        );
    }
    assert!(
        top >= 1100,
        "too low a descriptor limit to test ({top})\n{o}"
    );
    let names: Vec<String> = checks(&o)
        .iter()
        .map(|c| c["name"].clone())
        .collect::<Vec<_>>();
    let want = [
        "tcp_at_1024",
        &format!("tcp_at_{top}"),
        &format!(
            "pipe_at_{}",
            if top >= 1_000_007 { 999_999 } else { top - 1 }
        ),
        &format!(
            "unix_at_{}",
            if top >= 1_000_011 { 1_000_003 } else { top - 2 }
        ),
    ]
    .map(|s| s.to_string());
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    assert_all_checks_ok(&o, &want);
    assert!(
        names.iter().any(|n| n.starts_with("poll_at_"))
            && names.iter().any(|n| n.starts_with("epoll_at_"))
            && names.iter().any(|n| n.starts_with("echo_at_")),
        "poll, epoll and echo checks ran\n{o}"
    );
    figure("highfd.top", top);
}

/// fd 2 closed and reused by the socket itself; the timeout log is on: the
/// calls fail with ETIMEDOUT, nothing crashes, and the peers receive no
/// byte (the log line is not the program's data).
#[test]
fn closed_fd2_reused_by_socket_with_timeout_log() {
    let o = fds(&["fd2", T, "reuse"])
        .env("TIMEOUTSOCK_LOG", "1")
        .run(LIMIT);
    assert_all_checks_ok(
        &o,
        &[
            "recv_fd2",
            "peer0_received_nothing",
            "peer1_received_nothing",
        ],
    );
}

/// fd 2 closed (nothing there) and the timeout log on: ETIMEDOUT, no crash.
#[test]
fn closed_fd2_with_timeout_log() {
    let o = fds(&["fd2", T, "closed"])
        .env("TIMEOUTSOCK_LOG", "1")
        .run(LIMIT);
    assert_all_checks_ok(&o, &["peer0_received_nothing", "peer1_received_nothing"]);
    assert!(
        checks(&o)
            .iter()
            .any(|c| c["name"].starts_with("recv_fd") && c["errno"] == "ETIMEDOUT"),
        "{o}"
    );
}
