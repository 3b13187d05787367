//! Integration tests of libtimeoutsock: a C client (tests/c/tsclient.c) runs
//! under `LD_PRELOAD` against loopback servers that make its calls hang, and
//! each test checks the result, errno and time of the call.
//!
//! Timing contract: a timeout of T fires no earlier than 0.8·T and no later
//! than T + 1 s. T is 1 s here (1.5 s for writes, so that 2·T lies outside
//! the window), which keeps the suite short.

mod common;

use common::*;
use std::time::Duration;

/// The timeout used by most tests, in seconds.
const T: f64 = 1.0;
/// The timeout of write tests: 2·T = 3 s lies outside [1.2 s, 2.5 s].
const TW: f64 = 1.5;
/// How long a run that should end by itself may take before it is killed.
const DONE: Duration = Duration::from_secs(8);
/// How long a run that must hang is watched before it is killed (> 2·T).
const HANG: Duration = Duration::from_millis(2500);
/// Bytes offered to a never-reading peer in one blocking call.
const BIG: &str = "67108864";

fn ms(o: &Outcome, f: &Fields) -> i64 {
    field_i64(o, f, "elapsed_ms")
}

fn assert_fast(o: &Outcome, what: &str, ms: i64, max: i64) {
    assert!(
        ms <= max,
        "{what}: took {ms} ms, expected at once (<= {max} ms)\n{o}"
    );
}

fn assert_exit(o: &Outcome, code: i32) {
    assert!(!o.killed, "still running at the limit\n{o}");
    assert_eq!(o.code(), Some(code), "exit code\n{o}");
}

// ---------------------------------------------------------------------------
// The harness itself: without the library every hang recipe hangs.
// ---------------------------------------------------------------------------

#[test]
fn harness_hang_recipes_hang_without_library() {
    let fq = full_queue_server(V4);
    let silent = silent_server(V4);
    let nr = never_reads_server(V4);
    let runs = [
        (client(&["connect", V4, &fq.port_s(), "block"]), HANG),
        (client(&["read", V4, &silent.port_s(), "recv"]), HANG),
        (client(&["write", V4, &nr.port_s(), BIG, "send"]), HANG),
        (client(&["accept", V4, "0", "accept"]), HANG),
    ];
    let outs = run_all(&runs);
    assert_hung_in(&outs[0], "connect");
    assert_hung_in(&outs[1], "recv");
    assert_hung_in(&outs[2], "send");
    assert_hung_in(&outs[3], "accept");
}

#[test]
fn harness_library_builds_and_client_is_fortified() {
    let lib = preload_lib();
    assert!(lib.ends_with("libtimeoutsock.so"));
    let calls = [
        "__read_chk",
        "__recv_chk",
        "__recvfrom_chk",
        "read",
        "recv",
        "recvfrom",
        "readv",
        "recvmsg",
        "write",
        "send",
        "sendto",
        "writev",
        "sendmsg",
        "connect",
        "accept",
        "accept4",
    ];
    // tsclient calls them all, and the library has a hook for every one
    assert_client_hooked(&tsclient(), &calls);
}

// ---------------------------------------------------------------------------
// connect
// ---------------------------------------------------------------------------

fn connect_hang(host: &str, mode: &str) {
    let fq = full_queue_server(host);
    let o = client(&["connect", host, &fq.port_s(), mode])
        .secs("1")
        .run(DONE);
    let f = assert_timed_out(&o, "connect", T);
    assert_eq!(
        field(&o, &f, "flags_before"),
        field(&o, &f, "flags_after"),
        "connect changed the file status flags\n{o}"
    );
    assert_exit(&o, 1);
}

#[test]
fn connect_to_full_accept_queue_times_out() {
    connect_hang(V4, "block");
}

#[test]
fn connect_to_full_accept_queue_times_out_ipv6() {
    connect_hang(V6, "block");
}

#[test]
fn connect_timeout_keeps_fd_flags_o_append() {
    let fq = full_queue_server(V4);
    let o = client(&["connect", V4, &fq.port_s(), "append"])
        .secs("1")
        .run(DONE);
    let f = assert_timed_out(&o, "connect", T);
    let before = field(&o, &f, "flags_before");
    assert_eq!(
        i64::from_str_radix(before.trim_start_matches("0x"), 16).unwrap() & libc::O_APPEND as i64,
        libc::O_APPEND as i64,
        "setup: O_APPEND not set\n{o}"
    );
    assert_eq!(before, field(&o, &f, "flags_after"), "flags\n{o}");
}

#[test]
fn connect_refused_is_reported_at_once() {
    let port = closed_port(V4).to_string();
    let o = client(&["connect", V4, &port, "block"]).secs("1").run(DONE);
    let f = assert_op(&o, "connect", -1, "ECONNREFUSED");
    assert_fast(&o, "refused connect", ms(&o, &f), 300);
    assert_eq!(field(&o, &f, "flags_before"), field(&o, &f, "flags_after"));
}

#[test]
fn nonblocking_connect_returns_einprogress_at_once() {
    let fq = full_queue_server(V4);
    let o = client(&["connect", V4, &fq.port_s(), "nonblock"])
        .secs("1")
        .run(DONE);
    let f = assert_op(&o, "connect", -1, "EINPROGRESS");
    assert_fast(&o, "non-blocking connect", ms(&o, &f), 200);
    assert_eq!(field(&o, &f, "flags_before"), field(&o, &f, "flags_after"));
}

#[test]
fn connect_succeeds_normally_with_library() {
    let srv = silent_server(V6);
    let o = client(&["connect", V6, &srv.port_s(), "block"])
        .secs("1")
        .run(DONE);
    let f = assert_op(&o, "connect", 0, "0");
    assert_fast(&o, "connect", ms(&o, &f), 300);
    assert_eq!(field(&o, &f, "flags_before"), field(&o, &f, "flags_after"));
    assert_exit(&o, 0);
}

// ---------------------------------------------------------------------------
// reads
// ---------------------------------------------------------------------------

fn read_hang(host: &str, mode: &str) {
    let srv = silent_server(host);
    let o = client(&["read", host, &srv.port_s(), mode])
        .secs("1")
        .run(DONE);
    let f = assert_timed_out(&o, mode, T);
    assert_eq!(field_i64(&o, &f, "total"), 0, "bytes\n{o}");
    assert_exit(&o, 1);
}

macro_rules! read_hang_tests {
    ($($name:ident: $mode:literal,)*) => {$(
        #[test]
        fn $name() {
            read_hang(V4, $mode);
        }
    )*};
}

read_hang_tests! {
    silent_peer_read_times_out: "read",
    silent_peer_read_chk_times_out: "read_chk",
    silent_peer_recv_times_out: "recv",
    silent_peer_recv_chk_times_out: "recv_chk",
    silent_peer_recvfrom_times_out: "recvfrom",
    silent_peer_recvfrom_chk_times_out: "recvfrom_chk",
    silent_peer_readv_times_out: "readv",
    silent_peer_recvmsg_times_out: "recvmsg",
    silent_peer_recv_waitall_times_out: "waitall",
}

#[test]
fn silent_peer_recv_times_out_ipv6() {
    read_hang(V6, "recv");
}

#[test]
fn recv_waitall_returns_partial_count_then_times_out_at_once() {
    let srv = silent_server_with(V4, b"0123456789".to_vec());
    let o = client(&["read", V4, &srv.port_s(), "waitall", "100"])
        .secs("1")
        .run(DONE);
    let calls = o.lines_with("call ");
    assert!(calls.len() >= 2, "expected two calls\n{o}");
    // first call: had moved 10 bytes when the peer went idle: returns 10
    assert_eq!(field_i64(&o, &calls[0], "ret"), 10, "partial count\n{o}");
    assert_timeout_window(
        &o,
        "first MSG_WAITALL call",
        field_i64(&o, &calls[0], "ms"),
        T,
    );
    // second call: the socket has been idle for T already
    assert_eq!(field_i64(&o, &calls[1], "ret"), -1, "retry\n{o}");
    assert_eq!(field(&o, &calls[1], "errno"), "ETIMEDOUT", "retry\n{o}");
    assert_fast(
        &o,
        "retry after partial count",
        field_i64(&o, &calls[1], "ms"),
        400,
    );
    let f = o.must_op("waitall");
    assert_eq!(field_i64(&o, &f, "total"), 10);
}

#[test]
fn ready_data_is_returned_at_once_then_idle_times_out() {
    let srv = silent_server_with(V4, b"hello".to_vec());
    let o = client(&["read", V4, &srv.port_s(), "recv_chk"])
        .secs("1")
        .run(DONE);
    let calls = o.lines_with("call ");
    assert!(calls.len() >= 2, "expected two calls\n{o}");
    assert_eq!(field_i64(&o, &calls[0], "ret"), 5, "{o}");
    assert_fast(&o, "ready data", field_i64(&o, &calls[0], "ms"), 300);
    assert_eq!(field(&o, &calls[1], "errno"), "ETIMEDOUT", "{o}");
    assert_timeout_window(&o, "idle after data", field_i64(&o, &calls[1], "ms"), T);
}

#[test]
fn slow_drip_with_short_gaps_completes() {
    // 8 bytes, one every 300 ms: 2.4 s in all, more than 2·T, never idle T
    let a = drip_server(V4, Duration::from_millis(300), 8);
    let b = drip_server(V4, Duration::from_millis(300), 8);
    let c = drip_server(V4, Duration::from_millis(300), 8);
    let outs = run_all(&[
        (client(&["read", V4, &a.port_s(), "recv"]).secs("1"), DONE),
        (
            client(&["read", V4, &b.port_s(), "read_chk"]).secs("1"),
            DONE,
        ),
        (
            client(&["read", V4, &c.port_s(), "waitall", "64"]).secs("1"),
            DONE,
        ),
    ]);
    for (o, mode) in outs.iter().zip(["recv", "read_chk", "waitall"]) {
        let f = assert_op(o, mode, 0, "0");
        assert_eq!(field_i64(o, &f, "total"), 8, "bytes\n{o}");
        assert!(ms(o, &f) >= 2000, "drip ended too early\n{o}");
        assert_exit(o, 0);
    }
}

fn bulk_download(mode: &str, preload: bool) {
    let n = 32 << 20;
    let (srv, sum) = bulk_server(V4, n);
    let mut r = client(&["read", V4, &srv.port_s(), mode]);
    if preload {
        r = r.secs("1");
    }
    let o = r.run(Duration::from_secs(30));
    let f = assert_op(&o, mode, 0, "0");
    assert_eq!(field_i64(&o, &f, "total"), n as i64, "bytes\n{o}");
    assert_eq!(field(&o, &f, "cksum"), sum, "content\n{o}");
    assert_exit(&o, 0);
}

#[test]
fn bulk_download_32mib_is_byte_identical_with_library() {
    bulk_download("recv", true);
    bulk_download("read_chk", true);
    bulk_download("readv", true);
    bulk_download("waitall", true);
}

#[test]
fn bulk_download_32mib_is_byte_identical_without_library() {
    bulk_download("recv", false);
}

#[test]
fn bulk_upload_32mib_is_byte_identical_with_library() {
    let (srv, rx) = sink_server(V4);
    for mode in ["send", "writev"] {
        let n = 32u64 << 20;
        let o = client(&["write", V4, &srv.port_s(), &n.to_string(), mode])
            .secs("1")
            .run(Duration::from_secs(30));
        let f = assert_op(&o, mode, n as i64, "0");
        assert_exit(&o, 0);
        let (got, sum) = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("sink reported nothing\n{o}"));
        assert_eq!(got, n, "bytes received\n{o}");
        assert_eq!(sum, field(&o, &f, "cksum"), "content\n{o}");
    }
}

// ---------------------------------------------------------------------------
// writes
// ---------------------------------------------------------------------------

fn write_hang(mode: &str) {
    let srv = never_reads_server(V4);
    let o = client(&["write", V4, &srv.port_s(), BIG, mode])
        .secs(&TW.to_string())
        .run(DONE);
    assert!(!o.killed, "write still blocked at the limit\n{o}");
    // the blocking call had moved bytes before the peer stalled: it returns
    // the count at T
    let f = o.must_op(mode);
    let sent = field_i64(&o, &f, "ret");
    assert!(
        sent > 0 && sent < BIG.parse::<i64>().unwrap(),
        "expected a partial count, got {sent}\n{o}"
    );
    assert_timeout_window(&o, mode, ms(&o, &f), TW);
    // the retry finds the socket idle for T already: ETIMEDOUT at once
    let retry = format!("{mode}_retry");
    let r = o.must_op(&retry);
    let (ret, errno) = (field_i64(&o, &r, "ret"), field(&o, &r, "errno"));
    assert!(
        ret == -1 && errno == "ETIMEDOUT",
        "the retry right after the partial count must fail with ETIMEDOUT at once \
         (the socket has been idle for T already; bytes that only fill freed send-buffer \
         space are not progress of the peer), got ret={ret} errno={errno}\n{o}"
    );
    assert_fast(&o, "retry after partial count", ms(&o, &r), 400);
    let total = field_i64(&o, &r, "total_ms");
    assert_timeout_window(&o, "first call + retry", total, TW);
    assert_exit(&o, 1);
}

macro_rules! write_hang_tests {
    ($($name:ident: $mode:literal,)*) => {$(
        #[test]
        fn $name() {
            write_hang($mode);
        }
    )*};
}

write_hang_tests! {
    never_reading_peer_write_returns_partial_then_times_out: "write",
    never_reading_peer_send_returns_partial_then_times_out: "send",
    never_reading_peer_sendto_returns_partial_then_times_out: "sendto",
    never_reading_peer_writev_returns_partial_then_times_out: "writev",
    never_reading_peer_sendmsg_returns_partial_then_times_out: "sendmsg",
}

#[test]
fn small_sndbuf_write_times_out() {
    // SO_SNDBUF=4096: the call stalls after ~10 KB
    let srv = never_reads_server(V4);
    let o = client(&["write", V4, &srv.port_s(), "1048576", "send", "4096"])
        .secs("1")
        .run(DONE);
    let f = o.must_op("send");
    let sent = field_i64(&o, &f, "ret");
    assert!(sent > 0 && sent < 1048576, "partial count\n{o}");
    assert_timeout_window(&o, "send", ms(&o, &f), T);
    let r = o.must_op("send_retry");
    assert_eq!(field(&o, &r, "errno"), "ETIMEDOUT", "retry\n{o}");
    assert_eq!(field_i64(&o, &r, "ret"), -1, "retry\n{o}");
    assert_fast(&o, "retry", ms(&o, &r), 400);
}

// ---------------------------------------------------------------------------
// accept
// ---------------------------------------------------------------------------

#[test]
fn accept_times_out_with_accept_secs() {
    let outs = run_all(&[
        (
            client(&["accept", V4, "0", "accept"])
                .preload()
                .env("TIMEOUTSOCK_ACCEPT_SECS", "1"),
            DONE,
        ),
        (
            client(&["accept", V6, "0", "accept4"])
                .preload()
                .env("TIMEOUTSOCK_ACCEPT_SECS", "1"),
            DONE,
        ),
    ]);
    assert_timed_out(&outs[0], "accept", T);
    assert_exit(&outs[0], 1);
    assert_timed_out(&outs[1], "accept4", T);
    assert_exit(&outs[1], 1);
}

#[test]
fn accept_without_accept_secs_still_blocks() {
    let outs = run_all(&[
        (client(&["accept", V4, "0", "accept"]).secs("1"), HANG),
        (
            client(&["accept", V4, "0", "accept4"])
                .secs("1")
                .env("TIMEOUTSOCK_READ_SECS", "1")
                .env("TIMEOUTSOCK_CONNECT_SECS", "1"),
            HANG,
        ),
        (
            client(&["accept", V4, "0", "accept"])
                .secs("1")
                .env("TIMEOUTSOCK_ACCEPT_SECS", "0"),
            HANG,
        ),
    ]);
    assert_hung_in(&outs[0], "accept");
    assert_hung_in(&outs[1], "accept4");
    assert_hung_in(&outs[2], "accept");
}

#[test]
fn accepted_socket_gets_read_timeout() {
    let mut p = client(&["accept", V4, "0", "accept"]).secs("1").spawn();
    let line = p
        .wait_line("listening port=", DONE)
        .expect("client never listened");
    let port: u16 = parse_fields(&line)["port"].parse().unwrap();
    let _peer = silent_peer(V4, port);
    let o = p.finish(DONE);
    let f = o.must_op("accept");
    assert!(field_i64(&o, &f, "ret") >= 0, "accept failed\n{o}");
    assert_timed_out(&o, "recv", T);
}

// ---------------------------------------------------------------------------
// what the library must leave alone
// ---------------------------------------------------------------------------

#[test]
fn non_tcp_descriptors_still_hang() {
    let kinds = ["unix", "unixpair", "pipe", "udp"];
    let runs: Vec<_> = kinds
        .iter()
        .map(|k| {
            (
                client(&["hang", k])
                    .secs("1")
                    .env("TIMEOUTSOCK_ACCEPT_SECS", "1"),
                HANG,
            )
        })
        .collect();
    for o in run_all(&runs) {
        assert_hung_in(&o, "read");
    }
}

fn nonblocking_untouched(mode: &str) {
    let srv = silent_server(V4);
    let o = client(&["nonblock", V4, &srv.port_s(), mode])
        .secs("1")
        .run(DONE);
    let f = assert_op(&o, "recv_nb", -1, "EAGAIN");
    assert_fast(&o, "non-blocking recv", ms(&o, &f), 200);
    let f = assert_op(&o, "recv_chk_nb", -1, "EAGAIN");
    assert_fast(&o, "non-blocking __recv_chk", ms(&o, &f), 200);
    // switched back to blocking, the same socket gets its timeout again
    assert_timed_out(&o, "recv", T);
}

#[test]
fn nonblocking_socket_via_fcntl_is_untouched() {
    nonblocking_untouched("fcntl");
}

#[test]
fn nonblocking_socket_via_ioctl_fionbio_is_untouched() {
    nonblocking_untouched("fionbio");
}

#[test]
fn nonblocking_socket_via_sock_nonblock_is_untouched() {
    nonblocking_untouched("sock_nonblock");
}

#[test]
fn msg_dontwait_call_is_untouched() {
    nonblocking_untouched("dontwait");
}

#[test]
fn closed_socket_number_reused_by_pipe_still_hangs() {
    let a = silent_server(V4);
    let b = silent_server(V4);
    let outs = run_all(&[
        (
            client(&["reuse", V4, &a.port_s(), "sock2pipe"]).secs("1"),
            HANG,
        ),
        (
            client(&["reuse", V4, &b.port_s(), "sock2pipe_fclose"]).secs("1"),
            HANG,
        ),
    ]);
    for o in &outs {
        assert!(
            o.stdout.iter().any(|l| l == "reused=1"),
            "setup: fd not reused\n{o}"
        );
        assert_hung_in(o, "read");
    }
}

#[test]
fn pipe_number_reused_by_socket_times_out() {
    let srv = silent_server(V4);
    let o = client(&["reuse", V4, &srv.port_s(), "pipe2sock"])
        .secs("1")
        .run(DONE);
    assert!(
        o.stdout.iter().any(|l| l == "reused=1"),
        "setup: fd not reused\n{o}"
    );
    assert_timed_out(&o, "read", T);
}

#[test]
fn duplicated_socket_times_out() {
    let srv = silent_server(V4);
    let modes = ["dup", "dup2", "dup3", "dupfd"];
    let runs: Vec<_> = modes
        .iter()
        .map(|m| (client(&["dup", V4, &srv.port_s(), m]).secs("1"), DONE))
        .collect();
    for o in run_all(&runs) {
        assert_timed_out(&o, "recv", T);
    }
}

// ---------------------------------------------------------------------------
// configuration
// ---------------------------------------------------------------------------

#[test]
fn no_configuration_is_pass_through() {
    let srv = silent_server(V4);
    let fq = full_queue_server(V4);
    let read = client(&["read", V4, &srv.port_s(), "recv"]).preload();
    let conn = client(&["connect", V4, &fq.port_s(), "block"]).preload();
    let outs = run_all(&[
        (read.clone(), HANG),
        (read.clone().env("TIMEOUTSOCK_SECS", ""), HANG),
        (read.clone().env("TIMEOUTSOCK_SECS", "0"), HANG),
        (conn.clone(), HANG),
        (conn.env("TIMEOUTSOCK_SECS", "0"), HANG),
    ]);
    for (i, o) in outs.iter().enumerate() {
        assert_hung_in(o, if i < 3 { "recv" } else { "connect" });
        assert!(o.stderr.is_empty(), "unexpected stderr\n{o}");
    }
}

#[test]
fn valid_values_print_nothing() {
    let cases: &[(&str, &str)] = &[
        ("TIMEOUTSOCK_SECS", "1"),
        ("TIMEOUTSOCK_SECS", "0.5"),
        ("TIMEOUTSOCK_SECS", "0"),
        ("TIMEOUTSOCK_SECS", ""),
        ("TIMEOUTSOCK_SECS", "2.25"),
        ("TIMEOUTSOCK_SECS", "30"),
        ("TIMEOUTSOCK_CONNECT_SECS", "0"),
        ("TIMEOUTSOCK_READ_SECS", "3"),
        ("TIMEOUTSOCK_WRITE_SECS", "0.25"),
        ("TIMEOUTSOCK_ACCEPT_SECS", "10"),
    ];
    let runs: Vec<_> = cases
        .iter()
        .map(|(k, v)| {
            (
                client(&["echo", "3", "hello", "world"]).preload().env(k, v),
                DONE,
            )
        })
        .collect();
    for o in run_all(&runs) {
        assert_exit(&o, 3);
        assert_eq!(o.stdout, ["hello world"], "stdout\n{o}");
        assert!(o.stderr.is_empty(), "unexpected stderr\n{o}");
    }
}

const BAD_VALUES: &[&str] = &[
    "twenty",
    "-5",
    "nan",
    "inf",
    "1e999",
    "0x10",
    "3abc",
    "99999999999",
];

fn assert_one_warning(o: &Outcome, var: &str, value: &str) {
    let lines: Vec<String> = o.stderr.lines().map(without_who).collect();
    let prefix = format!("timeoutsock: ignoring {var}=\"{value}\"");
    assert_eq!(lines.len(), 1, "expected exactly one stderr line\n{o}");
    let reason = lines[0]
        .strip_prefix(&prefix)
        .and_then(|r| r.strip_prefix(": "));
    assert!(
        reason.is_some_and(|r| !r.trim().is_empty()),
        "expected a line `{prefix}: <reason>`\n{o}"
    );
}

#[test]
fn invalid_values_warn_once_and_change_nothing() {
    let mut cases: Vec<(&str, &str)> = BAD_VALUES
        .iter()
        .map(|v| ("TIMEOUTSOCK_SECS", *v))
        .collect();
    for var in [
        "TIMEOUTSOCK_CONNECT_SECS",
        "TIMEOUTSOCK_READ_SECS",
        "TIMEOUTSOCK_WRITE_SECS",
        "TIMEOUTSOCK_ACCEPT_SECS",
    ] {
        cases.push((var, "twenty"));
        cases.push((var, "-5"));
    }
    let runs: Vec<_> = cases
        .iter()
        .map(|(k, v)| {
            (
                client(&["echo", "3", "hello", "world"]).preload().env(k, v),
                DONE,
            )
        })
        .collect();
    for ((k, v), o) in cases.iter().zip(run_all(&runs)) {
        assert_exit(&o, 3);
        assert_eq!(o.stdout, ["hello world"], "stdout\n{o}");
        assert_one_warning(&o, k, v);
    }
}

#[test]
fn each_invalid_variable_gets_its_own_line() {
    let o = client(&["echo", "0", "ok"])
        .preload()
        .env("TIMEOUTSOCK_SECS", "twenty")
        .env("TIMEOUTSOCK_READ_SECS", "-5")
        .env("TIMEOUTSOCK_WRITE_SECS", "1")
        .run(DONE);
    assert_exit(&o, 0);
    assert_eq!(o.stdout, ["ok"], "stdout\n{o}");
    let lines: Vec<String> = o.stderr.lines().map(without_who).collect();
    assert_eq!(lines.len(), 2, "expected two stderr lines\n{o}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("timeoutsock: ignoring TIMEOUTSOCK_SECS=\"twenty\": ")),
        "{o}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("timeoutsock: ignoring TIMEOUTSOCK_READ_SECS=\"-5\": ")),
        "{o}"
    );
}

#[test]
fn invalid_value_is_treated_as_unset() {
    let srv = silent_server(V4);
    let read = client(&["read", V4, &srv.port_s(), "recv"]).preload();
    let outs = run_all(&[
        // unset: the read hangs as without the library
        (read.clone().env("TIMEOUTSOCK_SECS", "twenty"), HANG),
        // unset TIMEOUTSOCK_SECS, but the read override is valid
        (
            read.clone()
                .env("TIMEOUTSOCK_SECS", "nan")
                .env("TIMEOUTSOCK_READ_SECS", "1"),
            DONE,
        ),
        // bad override falls back to TIMEOUTSOCK_SECS
        (
            read.env("TIMEOUTSOCK_SECS", "1")
                .env("TIMEOUTSOCK_READ_SECS", "3abc"),
            DONE,
        ),
    ]);
    assert_hung_in(&outs[0], "recv");
    assert_one_warning(&outs[0], "TIMEOUTSOCK_SECS", "twenty");
    assert_timed_out(&outs[1], "recv", T);
    assert_one_warning(&outs[1], "TIMEOUTSOCK_SECS", "nan");
    assert_timed_out(&outs[2], "recv", T);
    assert_one_warning(&outs[2], "TIMEOUTSOCK_READ_SECS", "3abc");
}

#[test]
fn per_op_zero_disables_only_that_op() {
    let silent = silent_server(V4);
    let fq = full_queue_server(V4);
    let nr = never_reads_server(V4);
    let read = client(&["read", V4, &silent.port_s(), "recv"]).secs("1");
    let conn = client(&["connect", V4, &fq.port_s(), "block"]).secs("1");
    let write = client(&["write", V4, &nr.port_s(), BIG, "send"]).secs("1");
    let outs = run_all(&[
        (read.clone().env("TIMEOUTSOCK_READ_SECS", "0"), HANG),
        (conn.clone().env("TIMEOUTSOCK_READ_SECS", "0"), DONE),
        (conn.clone().env("TIMEOUTSOCK_CONNECT_SECS", "0"), HANG),
        (read.clone().env("TIMEOUTSOCK_CONNECT_SECS", "0"), DONE),
        (write.clone().env("TIMEOUTSOCK_WRITE_SECS", "0"), HANG),
        (read.env("TIMEOUTSOCK_WRITE_SECS", "0"), DONE),
        (write.env("TIMEOUTSOCK_READ_SECS", "0"), DONE),
    ]);
    assert_hung_in(&outs[0], "recv");
    assert_timed_out(&outs[1], "connect", T);
    assert_hung_in(&outs[2], "connect");
    assert_timed_out(&outs[3], "recv", T);
    assert_hung_in(&outs[4], "send");
    assert_timed_out(&outs[5], "recv", T);
    let f = outs[6].must_op("send");
    assert_timeout_window(&outs[6], "send", ms(&outs[6], &f), T);
}

#[test]
fn per_op_overrides_apply_without_secs() {
    let silent = silent_server(V4);
    let fq = full_queue_server(V4);
    let nr = never_reads_server(V4);
    let read = client(&["read", V4, &silent.port_s(), "recv"]).preload();
    let conn = client(&["connect", V4, &fq.port_s(), "block"]).preload();
    let write = client(&["write", V4, &nr.port_s(), BIG, "send"]).preload();
    let outs = run_all(&[
        (read.env("TIMEOUTSOCK_READ_SECS", "0.5"), DONE),
        (conn.clone().env("TIMEOUTSOCK_CONNECT_SECS", "0.5"), DONE),
        (write.env("TIMEOUTSOCK_WRITE_SECS", "0.5"), DONE),
        // only reads are configured: connect keeps blocking
        (conn.env("TIMEOUTSOCK_READ_SECS", "0.5"), HANG),
    ]);
    assert_timed_out(&outs[0], "recv", 0.5);
    assert_timed_out(&outs[1], "connect", 0.5);
    let f = outs[2].must_op("send");
    assert!(
        field_i64(&outs[2], &f, "ret") > 0,
        "partial count\n{}",
        outs[2]
    );
    assert_timeout_window(&outs[2], "send", ms(&outs[2], &f), 0.5);
    assert_hung_in(&outs[3], "connect");
}

#[test]
fn per_op_overrides_win_over_secs() {
    let silent = silent_server(V4);
    let fq = full_queue_server(V4);
    let nr = never_reads_server(V4);
    let outs = run_all(&[
        (
            client(&["read", V4, &silent.port_s(), "recv"])
                .secs("5")
                .env("TIMEOUTSOCK_READ_SECS", "0.5"),
            DONE,
        ),
        (
            client(&["connect", V4, &fq.port_s(), "block"])
                .secs("5")
                .env("TIMEOUTSOCK_CONNECT_SECS", "0.5"),
            DONE,
        ),
        (
            client(&["write", V4, &nr.port_s(), BIG, "send"])
                .secs("5")
                .env("TIMEOUTSOCK_WRITE_SECS", "0.5"),
            DONE,
        ),
    ]);
    assert_timed_out(&outs[0], "recv", 0.5);
    assert_timed_out(&outs[1], "connect", 0.5);
    let f = outs[2].must_op("send");
    assert_timeout_window(&outs[2], "send", ms(&outs[2], &f), 0.5);
}

#[test]
fn fractional_secs_half_second() {
    let srv = silent_server(V4);
    let o = client(&["read", V4, &srv.port_s(), "recv"])
        .secs("0.5")
        .run(DONE);
    assert_timed_out(&o, "recv", 0.5);
}

// ---------------------------------------------------------------------------
// signals, errno, SO_RCVTIMEO
// ---------------------------------------------------------------------------

#[test]
fn sigalrm_without_sa_restart_gives_eintr_at_alarm_time() {
    let a = silent_server(V4);
    let b = silent_server(V4);
    let outs = run_all(&[
        (
            client(&["sigalrm", V4, &a.port_s(), "norestart", "400"]).secs("1"),
            DONE,
        ),
        // baseline without the library
        (
            client(&["sigalrm", V4, &b.port_s(), "norestart", "400"]),
            DONE,
        ),
    ]);
    for o in &outs {
        let f = assert_op(o, "recv", -1, "EINTR");
        let t = ms(o, &f);
        assert!(
            (300..=790).contains(&t),
            "EINTR expected at the alarm (400 ms), got {t} ms\n{o}"
        );
        assert_eq!(field_i64(o, &f, "alarms"), 1, "{o}");
    }
}

#[test]
fn sigalrm_with_sa_restart_keeps_waiting_then_times_out() {
    let a = silent_server(V4);
    let b = silent_server(V4);
    let outs = run_all(&[
        // an alarm every 300 ms: if each signal reset the clock, the call
        // would never time out
        (
            client(&["sigalrm", V4, &a.port_s(), "restart", "300", "300"]).secs("1"),
            DONE,
        ),
        // baseline without the library: restarted forever
        (
            client(&["sigalrm", V4, &b.port_s(), "restart", "300", "300"]),
            HANG,
        ),
    ]);
    let f = assert_timed_out(&outs[0], "recv", T);
    assert!(
        field_i64(&outs[0], &f, "alarms") >= 2,
        "alarms did not fire during the wait\n{}",
        outs[0]
    );
    assert_hung_in(&outs[1], "recv");
}

#[test]
fn errno_is_preserved_on_success() {
    // first byte after 300 ms, so that the blocking recv has to wait
    let srv = drip_server(V4, Duration::from_millis(300), 3);
    let o = client(&["errno", V4, &srv.port_s()]).secs("1").run(DONE);
    assert_op(&o, "connect", 0, "EDOM");
    let f = assert_op(&o, "recv", 1, "EDOM");
    assert!(ms(&o, &f) >= 150, "recv did not have to wait\n{o}");
    let f = assert_op(&o, "read_chk", 1, "EDOM");
    assert!(ms(&o, &f) >= 150, "read did not have to wait\n{o}");
    assert_op(&o, "send", 1, "EDOM");
    assert_exit(&o, 0);
}

#[test]
fn own_so_rcvtimeo_shorter_than_t_fires_first_with_eagain() {
    let srv = silent_server(V4);
    let o = client(&["rcvtimeo", V4, &srv.port_s(), "300"])
        .secs("1")
        .run(DONE);
    let f = assert_op(&o, "recv", -1, "EAGAIN");
    let t = ms(&o, &f);
    assert!(
        (240..=790).contains(&t),
        "SO_RCVTIMEO of 300 ms fired after {t} ms\n{o}"
    );
}

#[test]
fn own_so_rcvtimeo_longer_than_t_is_cut_to_t() {
    let srv = silent_server(V4);
    let o = client(&["rcvtimeo", V4, &srv.port_s(), "5000"])
        .secs("1")
        .run(DONE);
    assert_timed_out(&o, "recv", T);
}
