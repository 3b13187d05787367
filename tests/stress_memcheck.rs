//! valgrind memcheck over C test clients with the library preloaded: no
//! error in the library's code paths (timeouts, classification, SCM_RIGHTS
//! parsing, signals, fork, the timeout log).
//!
//! How the library reaches the client: LD_PRELOAD is set in valgrind's own
//! environment (`valgrind` is a shell wrapper around the dynamic
//! `valgrind.bin`, which get the library too and ignore it). The tool
//! (memcheck-amd64-linux) is static, and it passes LD_PRELOAD on to the
//! client, after its own vgpreload libraries. `env LD_PRELOAD=lib client`
//! under valgrind would put env, not the client, in front of the tool. Each
//! run shows that the library is really loaded in the client: a timeout
//! happens (ETIMEDOUT, and its log line with TIMEOUTSOCK_LOG=1).
//!
//! Under valgrind a signal timer of 1 ms or 5 ms livelocks even without the
//! library (and 20 ms does on a busy machine), so the signal program runs
//! alone, after the others, with a 50 ms one.

mod common;
mod stress_support;

use common::*;
use std::time::Duration;
use stress_support::*;

const LIMIT: Duration = Duration::from_secs(120);

/// `program args` under memcheck, preloaded with TIMEOUTSOCK_SECS=`secs`
/// and the timeout log on.
fn memcheck(program: &std::path::Path, args: &[&str], secs: &str) -> Run {
    let valgrind = require_program("valgrind", "valgrind");
    Run::new(valgrind)
        .args(&[
            "-q",
            "--tool=memcheck",
            "--error-exitcode=99",
            "--trace-children=no",
            "--child-silent-after-fork=no",
        ])
        .arg(program.to_str().unwrap())
        .args(args)
        .secs(secs)
        .env("TIMEOUTSOCK_LOG", "1")
}

/// No memcheck error and no valgrind warning (`valgrind_said`), the
/// expected exit status, and the library at work (a timeout log line).
fn assert_clean(o: &Outcome, code: i32) {
    assert!(!o.killed, "still running at the limit\n{o}");
    let vg = valgrind_said(&o.stderr);
    assert!(vg.is_empty(), "memcheck reported errors: {vg:#?}\n{o}");
    assert_eq!(
        o.code(),
        Some(code),
        "exit status (99: memcheck errors)\n{o}"
    );
    assert!(
        !o.lib_stderr_lines().is_empty(),
        "no timeout log line: the library was not loaded in the client\n{o}"
    );
}

#[test]
fn valgrind_memcheck_clean() {
    let silent = silent_server(V4);
    let silent6 = silent_server(V6);
    let port = silent.port_s();
    let port6 = silent6.port_s();
    let runs = [
        // reads, a fortified read, waits: each times out
        (
            memcheck(&tsclient(), &["read", V4, &port, "recv"], "0.5"),
            LIMIT,
        ),
        (
            memcheck(&tsclient(), &["read", V6, &port6, "read_chk"], "0.5"),
            LIMIT,
        ),
        (
            memcheck(&waitclient(), &["epoll_lt", V4, &port], "0.5"),
            LIMIT,
        ),
        (
            memcheck(&waitclient(), &["select", V4, &port], "0.5"),
            LIMIT,
        ),
        // classification under dup kinds, SCM_RIGHTS (recvmsg parsing), fork
        (
            memcheck(&bin("stress_fds"), &["dupkinds", "0.3"], "0.3"),
            LIMIT,
        ),
        (memcheck(&bin("stress_fds"), &["scm", "0.3"], "0.3"), LIMIT),
        // a multithreaded parent forking, children timing out
        (
            memcheck(&bin("stress_fork"), &["mtfork", "1", "3", "10"], "1"),
            LIMIT,
        ),
    ];
    let outs = run_all(&runs);
    for (o, op) in outs[..2].iter().zip(["recv", "read_chk"]) {
        assert_clean(o, 1);
        assert_op(o, op, -1, "ETIMEDOUT");
    }
    for o in &outs[2..4] {
        assert!(
            o.stdout.iter().any(|l| l.contains("ETIMEDOUT")),
            "the wait client saw no ETIMEDOUT\n{o}"
        );
        assert_clean(o, o.code().unwrap_or(-1));
        assert_ne!(o.code(), Some(99), "memcheck errors\n{o}");
    }
    for o in &outs[4..] {
        assert_clean(o, 0);
    }
    // Signals: SIGALRM every 50 ms during 32 MiB each way; the handler
    // calls send() and write(). Nothing times out there: the runs above,
    // with the same setup, show that the library is loaded.
    let o = memcheck(
        &bin("stress_sig"),
        &["waitall", "norestart", "32", "1000", "50000"],
        "5",
    )
    .run(LIMIT);
    assert!(!o.killed, "still running at the limit\n{o}");
    let vg = valgrind_said(&o.stderr);
    assert!(vg.is_empty(), "memcheck reported errors: {vg:#?}\n{o}");
    assert_eq!(o.code(), Some(0), "exit status (99: memcheck errors)\n{o}");
    let r = line(&o, "result");
    assert!(num(&o, &r, "signals") >= 10, "signals\n{o}");
    assert_eq!(num(&o, &r, "failures"), 0, "result\n{o}");
    figure("memcheck.runs", outs.len() + 1);
}
