//! Fork and exec under the library (tests/c/stress_fork.c): a pre-forking
//! server, a fork-per-connection server, vfork and posix_spawn children,
//! and a multithreaded parent forking while its threads are inside hooks.
//!
//! Heavier versions: `cargo test --release --test stress_fork -- --ignored`

mod common;
mod stress_support;

use common::*;
use std::time::Duration;
use stress_support::*;

const LIMIT: Duration = Duration::from_secs(60);

fn fork_prog(secs: &str, args: &[&str]) -> Run {
    let mut a = vec![args[0], secs];
    a.extend_from_slice(&args[1..]);
    prog("stress_fork", &a).secs(secs)
}

fn prefork(workers: u32, rounds: u32, limit: Duration) {
    let w = workers.to_string();
    let r = rounds.to_string();
    // TIMEOUTSOCK_ACCEPT_SECS unset: the workers, idle in accept for 2.5 T
    // between rounds, must never see an error. The control run sets it, to
    // show that such errors would be seen.
    let runs = [
        (fork_prog("1", &["prefork", &w, &r]), limit),
        (
            fork_prog("1", &["prefork", &w, "2"]).env("TIMEOUTSOCK_ACCEPT_SECS", "1"),
            limit,
        ),
    ];
    let outs = run_all(&runs);
    let o = &outs[0];
    assert_all_checks_ok(o, &["prefork_echoes", "prefork_workers_alive"]);
    let errs = o.lines_with("accept_error ");
    assert!(
        errs.is_empty(),
        "accept errors in the workers: {errs:?}\n{o}"
    );
    let control = &outs[1];
    assert!(
        control
            .lines_with("accept_error ")
            .iter()
            .any(|f| f.get("errno").map(String::as_str) == Some("ETIMEDOUT")),
        "control run with TIMEOUTSOCK_ACCEPT_SECS=1: the workers should see ETIMEDOUT\n{control}"
    );
    figure(
        "fork.prefork_connections",
        num(o, &line(o, "result"), "connections"),
    );
}

/// Four workers block in accept() on one shared listener; this process is
/// the client, with 2.5 T of silence between rounds: every client gets its
/// echo, no worker sees an accept error.
#[test]
fn prefork_server_workers_accept_untimed() {
    prefork(4, 2, LIMIT);
}

/// `cargo test --release --test stress_fork -- --ignored prefork_heavy`
#[test]
#[ignore]
fn prefork_heavy() {
    prefork(16, 6, Duration::from_secs(300));
}

fn perconn(clients: u32, conns: u32, limit: Duration) {
    let o = fork_prog("1", &["perconn", &clients.to_string(), &conns.to_string()]).run(limit);
    assert_all_checks_ok(
        &o,
        &[
            "perconn_clients_ok",
            "perconn_children_exit_0",
            "perconn_silent_client_cut_after_T",
            "perconn_accepted_all",
            "perconn_accept_idle_longer_than_T",
        ],
    );
    figure(
        "fork.perconn_connections",
        num(&o, &line(&o, "result"), "connections"),
    );
}

/// The main thread blocks in accept() (idle 1.5 T first; SIGCHLD without
/// SA_RESTART interrupts it, as in classic servers) and forks a child per
/// connection; clients in another process send three messages with pauses
/// of 0.4 T and get their echoes; a silent client is cut after T by its
/// server child.
#[test]
fn fork_per_connection_server() {
    perconn(8, 2, LIMIT);
}

/// `cargo test --release --test stress_fork -- --ignored perconn_heavy`
#[test]
#[ignore]
fn perconn_heavy() {
    perconn(32, 8, Duration::from_secs(300));
}

fn vfork_case(case: &str, expected: &[&str]) {
    let o = fork_prog("0.5", &["vfork", case]).run(LIMIT);
    assert_all_checks_ok(&o, expected);
}

/// A vfork child that closes everything above 2 (close_range) before exec:
/// the parent's own socket, registered in epoll, must still time out in
/// epoll_wait. (The child shares the parent's memory until it execs.)
#[test]
fn vfork_child_close_range_keeps_parent_epoll_timeout() {
    vfork_case(
        "close_range",
        &["vfork_child_exit", "parent_epoll_after_vfork_close_range"],
    );
}

/// The same in a multithreaded parent: another thread keeps opening and
/// closing sockets while the vfork child (which waits 20 ms) runs; only the
/// calling thread of a vfork is suspended.
#[test]
fn vfork_child_close_range_keeps_parent_epoll_timeout_threads() {
    vfork_case(
        "close_range_threads",
        &[
            "vfork_child_exit",
            "parent_epoll_after_vfork_close_range_threads",
        ],
    );
}

/// inetd style: the parent's socket is fd 0; a vfork child dup2()s a pipe
/// onto its own fd 0 and execs: the parent's read on fd 0 must still time
/// out.
#[test]
fn vfork_child_dup2_keeps_parent_socket_timeout() {
    vfork_case(
        "dup2_stdin",
        &["vfork_child_exit", "parent_read_fd0_after_vfork_dup2"],
    );
}

/// vfork keeps its own promises under the library: the parent runs again
/// only after the child's exec or _exit, and sees what the child wrote to
/// memory (the idiom that reports a failed exec's errno that way).
#[test]
fn vfork_keeps_shared_memory_and_ordering() {
    vfork_case(
        "shared",
        &[
            "vfork_parent_resumes_after_child",
            "vfork_child_memory_shared",
        ],
    );
}

/// A vfork child execs a program that inherits a TCP socket and a pipe:
/// the socket times out there, the pipe blocks; the parent's own socket
/// still times out in epoll.
#[test]
fn vfork_exec_inherited_descriptors() {
    vfork_case(
        "exec",
        &[
            "child_inherited_tcp",
            "child_inherited_pipe",
            "child_checks",
            "parent_epoll_after_vfork_exec",
        ],
    );
}

/// posix_spawn with dup2, close and closefrom file actions: the same.
#[test]
fn posix_spawn_inherited_descriptors() {
    vfork_case(
        "spawn",
        &[
            "child_inherited_tcp",
            "child_inherited_pipe",
            "child_checks",
            "parent_epoll_after_posix_spawn",
        ],
    );
}

fn mtfork(threads: u32, forks: u32, limit: Duration) {
    let o = fork_prog("1", &["mtfork", &threads.to_string(), &forks.to_string()]).run(limit);
    assert_all_checks_ok(&o, &["mtfork_children_exit_0", "mtfork_parent_threads_ok"]);
    let r = line(&o, "result");
    figure("fork.mtfork_forks", num(&o, &r, "forks"));
    figure(
        "fork.mtfork_parent_exchanges",
        num(&o, &r, "parent_exchanges"),
    );
}

/// Six threads run echo exchanges through send/recv, writev/poll/read and
/// MSG_WAITALL while the main thread forks 40 children; each child does an
/// echo exchange (every tenth also a read that must time out after T) and
/// exits 0; nothing deadlocks.
#[test]
fn fork_while_threads_are_inside_hooks() {
    mtfork(6, 40, LIMIT);
}

/// `cargo test --release --test stress_fork -- --ignored mtfork_heavy`
#[test]
#[ignore]
fn mtfork_heavy() {
    mtfork(16, 400, Duration::from_secs(300));
}
