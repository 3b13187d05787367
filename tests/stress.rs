//! Stress: many short connections, and large transfers under a signal
//! storm, through the library.
//!
//! - Load: a threaded echo server and 64 client threads (tests/c/
//!   stress_load.c), both preloaded with T = 5 s and TIMEOUTSOCK_LOG=1:
//!   every byte echoed intact, no ETIMEDOUT and no log line, no descriptor
//!   leaked in the client, no deadlock (the harness limit).
//! - Signals: SIGALRM every millisecond during 32 MiB each way over
//!   loopback with blocking sockets (tests/c/stress_sig.c), with and without
//!   SA_RESTART, through five call families; the handler itself calls
//!   send() on a TCP socket and write() on a pipe.
//!
//! Heavier versions are `#[ignore]`d:
//!     cargo test --release --test stress -- --ignored --nocapture

mod common;
mod stress_support;

use common::*;
use std::time::Duration;
use stress_support::*;

/// Runs the echo server and the clients, both under the library, and checks
/// everything the load property promises.
fn load(threads: u32, cycles: u32, limit: Duration) {
    let server = prog("stress_load", &["server", "64"])
        .secs("5")
        .env("TIMEOUTSOCK_LOG", "1");
    let mut srv = server.spawn();
    let ready = srv
        .wait_line("ready ", Duration::from_secs(10))
        .expect("echo server did not start");
    let f = parse_fields(&ready);
    let (p4, p6) = (f["port4"].clone(), f["port6"].clone());
    let o = prog(
        "stress_load",
        &[
            "clients",
            &p4,
            &p6,
            &threads.to_string(),
            &cycles.to_string(),
            "1",
        ],
    )
    .secs("5")
    .env("TIMEOUTSOCK_LOG", "1")
    .run(limit);
    // the server runs until killed: stop it now and look at what it said
    let s = srv.finish(Duration::ZERO);
    assert!(
        !o.killed,
        "clients still running at the limit (deadlock?)\n{o}"
    );
    let r = line(&o, "result");
    let want = i64::from(threads) * i64::from(cycles);
    assert_eq!(num(&o, &r, "connections"), want, "connections\n{o}");
    assert_eq!(num(&o, &r, "errors"), 0, "errors\n{o}");
    assert_eq!(num(&o, &r, "etimedout"), 0, "ETIMEDOUT\n{o}");
    assert_eq!(num(&o, &r, "mismatches"), 0, "echo mismatches\n{o}");
    assert_eq!(r["sum_sent"], r["sum_recv"], "checksums\n{o}");
    assert_eq!(
        num(&o, &r, "fds_before"),
        num(&o, &r, "fds_after"),
        "descriptor leak in the client\n{o}"
    );
    assert_eq!(o.code(), Some(0), "client exit\n{o}");
    assert!(lib_lines(&o).is_empty(), "timeout log in the client\n{o}");
    assert!(lib_lines(&s).is_empty(), "timeout log in the server\n{s}");
    let errs = s.lines_with("server_error ");
    assert!(errs.is_empty(), "server errors: {errs:?}\n{s}");
    figure("load.connections", want);
    figure("load.bytes_echoed", num(&o, &r, "bytes"));
    figure("load.elapsed_ms", num(&o, &r, "elapsed_ms"));
}

#[test]
fn load_64_threads_short_connections() {
    load(64, 300, Duration::from_secs(60));
}

/// 64 threads x 5000 cycles (320,000 connections).
/// `cargo test --release --test stress -- --ignored load_heavy`
#[test]
#[ignore]
fn load_heavy() {
    load(64, 5000, Duration::from_secs(600));
}

const APIS: [&str; 5] = ["sendrecv", "writeread", "waitall", "vec", "msg"];

/// Every API with and without SA_RESTART, `mib` MiB each way, at once.
fn signals(mib: u32, pace_us: u32, limit: Duration) {
    let mib_s = mib.to_string();
    let pace_s = pace_us.to_string();
    let mut runs = Vec::new();
    for api in APIS {
        for restart in ["restart", "norestart"] {
            runs.push((
                prog("stress_sig", &[api, restart, &mib_s, &pace_s])
                    .secs("5")
                    .env("TIMEOUTSOCK_LOG", "1"),
                limit,
            ));
        }
    }
    let outs = run_all(&runs);
    let (mut signals, mut bytes) = (0i64, 0i64);
    for o in &outs {
        assert!(!o.killed, "still running at the limit\n{o}");
        let r = line(o, "result");
        let total = i64::from(mib) << 20;
        assert_eq!(num(o, &r, "bytes_up"), total, "bytes sent\n{o}");
        assert_eq!(num(o, &r, "bytes_down"), total, "bytes received\n{o}");
        assert_eq!(r["up_ok"], "1", "upload checksum (peer's view)\n{o}");
        assert_eq!(r["down_ok"], "1", "download content\n{o}");
        let sigs = num(o, &r, "signals");
        // the peer paces the transfer, so it lasts long enough for many
        // signals to land while the calls wait inside the library
        assert!(sigs >= 200, "only {sigs} signals during the transfer\n{o}");
        assert_eq!(num(o, &r, "side_bytes"), sigs, "handler send()s\n{o}");
        assert_eq!(num(o, &r, "pipe_bytes"), sigs, "handler write()s\n{o}");
        assert_eq!(num(o, &r, "handler_errors"), 0, "handler calls\n{o}");
        if r["restart"] == "1" {
            assert_eq!(num(o, &r, "eintr"), 0, "EINTR despite SA_RESTART\n{o}");
        }
        assert_eq!(num(o, &r, "failures"), 0, "result\n{o}");
        assert_eq!(o.code(), Some(0), "exit\n{o}");
        assert!(lib_lines(o).is_empty(), "a timeout fired\n{o}");
        signals += sigs;
        bytes += 2 * total;
    }
    figure("signals.delivered", signals);
    figure("signals.bytes_moved", bytes);
}

#[test]
fn signals_sigalrm_every_ms_during_32mib_transfers() {
    signals(32, 1000, Duration::from_secs(60));
}

/// 256 MiB each way per variant.
/// `cargo test --release --test stress -- --ignored signals_heavy`
#[test]
#[ignore]
fn signals_heavy() {
    signals(256, 250, Duration::from_secs(600));
}
