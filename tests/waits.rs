//! The waiting calls (poll, ppoll, select, pselect, epoll_wait, epoll_pwait,
//! epoll_pwait2, __poll_chk, __ppoll_chk) and stdio streams on sockets: a C
//! client (tests/c/waitclient.c) waits on loopback sockets that never become
//! ready, under `LD_PRELOAD`, and each test checks what the wait reported,
//! when, and that the next call on the socket fails with ETIMEDOUT.
//!
//! Timing contract: a timeout of T fires no earlier than 0.8·T and no later
//! than T + 1 s. T is 1 s here.

mod common;

use common::*;
use std::time::Duration;

/// The timeout of most tests, in seconds.
const T: f64 = 1.0;
/// How long a run that should end by itself may take before it is killed.
const DONE: Duration = Duration::from_secs(8);
/// How long a run that must hang is watched before it is killed (2.5·T).
const HANG: Duration = Duration::from_millis(2500);

const POLLIN: i64 = libc::POLLIN as i64;
const POLLOUT: i64 = libc::POLLOUT as i64;
const POLLERR: i64 = libc::POLLERR as i64;
const POLLHUP: i64 = libc::POLLHUP as i64;

fn is_select(kind: &str) -> bool {
    kind.ends_with("select")
}

fn ms(o: &Outcome, f: &Fields) -> i64 {
    field_i64(o, f, "elapsed_ms")
}

fn revents(o: &Outcome, f: &Fields) -> i64 {
    let v = field(o, f, "revents");
    i64::from_str_radix(v.trim_start_matches("0x"), 16)
        .unwrap_or_else(|_| panic!("revents {v:?} not hex\n{o}"))
}

fn assert_fast(o: &Outcome, what: &str, ms: i64, max: i64) {
    assert!(
        ms <= max,
        "{what}: took {ms} ms, expected at once (<= {max} ms)\n{o}"
    );
}

/// The process ended by itself with exit code `code` (not by a signal such
/// as SIGPIPE, not killed by the harness).
fn assert_exit(o: &Outcome, code: i32) {
    assert!(!o.killed, "still running at the limit\n{o}");
    assert_eq!(
        o.code(),
        Some(code),
        "exit code (None: killed by a signal)\n{o}"
    );
}

/// The wait line `op` reports the timed-out socket: poll and epoll kinds
/// with POLLERR or POLLHUP, select kinds with the fd in the set it was
/// waited for in (`want`: POLLIN for the read set, POLLOUT for the write
/// set). Returns the line.
fn assert_wait_reported(o: &Outcome, op: &str, kind: &str, want: i64) -> Fields {
    assert!(!o.killed, "{op}: still running at the limit\n{o}");
    let f = o.must_op(op);
    let ret = field_i64(o, &f, "ret");
    let rev = revents(o, &f);
    if is_select(kind) {
        assert!(
            ret >= 1 && rev & want != 0,
            "{op}: expected the fd in the {} set, got ret={ret} revents={rev:#x}\n{o}",
            if want == POLLIN { "read" } else { "write" }
        );
    } else {
        assert_eq!(ret, 1, "{op}: ret\n{o}");
        assert!(
            rev & (POLLERR | POLLHUP) != 0,
            "{op}: expected POLLERR/POLLHUP (EPOLLERR/EPOLLHUP), got revents={rev:#x}\n{o}"
        );
    }
    f
}

/// After a wait reported the timeout: recv, write and send on the socket
/// fail with ETIMEDOUT at once (write and send without SIGPIPE: the client
/// keeps SIGPIPE's default action, so a SIGPIPE would have killed it).
fn assert_next_calls_time_out(o: &Outcome) {
    for op in ["recv", "write", "send"] {
        let f = assert_op(o, op, -1, "ETIMEDOUT");
        assert_fast(o, op, ms(o, &f), 300);
    }
    assert_exit(o, 1);
}

// ---------------------------------------------------------------------------
// The client and the library
// ---------------------------------------------------------------------------

#[test]
fn waitclient_is_fortified_and_library_exports_wait_hooks() {
    let calls = [
        "poll",
        "__poll_chk",
        "ppoll",
        "__ppoll_chk",
        "select",
        "pselect",
        "epoll_wait",
        "epoll_pwait",
        "epoll_pwait2",
        "fdopen",
    ];
    assert_client_hooked(&waitclient(), &calls);
}

/// Without the library, every wait recipe used below hangs: so it is the
/// library that ends them.
#[test]
fn harness_waits_hang_without_library() {
    let silent = silent_server(V4);
    let fq = full_queue_server(V4);
    let nr = never_reads_server(V4);
    let h = &silent.hp();
    let runs = [
        (wclient(&["poll", &h[0], &h[1]]), HANG),
        (wclient(&["select", &h[0], &h[1]]), HANG),
        (wclient(&["epoll_et", &h[0], &h[1]]), HANG),
        (
            wclient(&["nbconnect_soerror", "poll", V4, &fq.port_s()]),
            HANG,
        ),
        (wclient(&["write_stall", "poll", V4, &nr.port_s()]), HANG),
        (wclient(&["fdopen_fgets", &h[0], &h[1]]), HANG),
        (wclient(&["poll_loop", &h[0], &h[1], "300", "20"]), HANG),
    ];
    let outs = run_all(&runs);
    for (o, op) in outs.iter().zip([
        "poll", "select", "epoll_et", "poll", "poll", "fgets", "poll",
    ]) {
        assert_hung_in(o, op);
    }
    // the program's own 300 ms timeout: zeros, never an event
    let iters = outs[6].lines_with("op=iter ");
    assert!(
        iters.len() >= 5,
        "poll(300) loop: too few returns\n{}",
        outs[6]
    );
    for f in &iters {
        assert_eq!(field_i64(&outs[6], f, "ret"), 0, "{}", outs[6]);
    }
}

// ---------------------------------------------------------------------------
// Waiting for input from a silent peer, with no timeout of the program's own
// ---------------------------------------------------------------------------

fn read_wait_times_out(kind: &str, host: &str) {
    let srv = silent_server(host);
    let o = wclient(&[kind, host, &srv.port_s()]).secs("1").run(DONE);
    let f = assert_wait_reported(&o, kind, kind, POLLIN);
    assert_timeout_window(&o, kind, ms(&o, &f), T);
    assert_next_calls_time_out(&o);
}

macro_rules! read_wait_tests {
    ($($name:ident: $kind:literal,)*) => {$(
        #[test]
        fn $name() {
            read_wait_times_out($kind, V4);
        }
    )*};
}

read_wait_tests! {
    poll_for_input_from_silent_peer_times_out: "poll",
    poll_chk_for_input_from_silent_peer_times_out: "poll_chk",
    ppoll_for_input_from_silent_peer_times_out: "ppoll",
    ppoll_chk_for_input_from_silent_peer_times_out: "ppoll_chk",
    select_for_input_from_silent_peer_times_out: "select",
    pselect_for_input_from_silent_peer_times_out: "pselect",
    epoll_level_triggered_for_input_from_silent_peer_times_out: "epoll_lt",
    epoll_edge_triggered_for_input_from_silent_peer_times_out: "epoll_et",
    epoll_pwait_for_input_from_silent_peer_times_out: "epoll_pwait",
    epoll_pwait2_for_input_from_silent_peer_times_out: "epoll_pwait2",
}

#[test]
fn poll_for_input_from_silent_peer_times_out_ipv6() {
    read_wait_times_out("poll", V6);
}

#[test]
fn the_peer_sees_the_connection_aborted() {
    // a server that reports what its reads on the connection gave: the
    // request first, then whatever the abort gives (EOF or ECONNRESET)
    let (tx, rx) = std::sync::mpsc::channel();
    let l = std::net::TcpListener::bind((V4, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    let server = std::thread::spawn(move || {
        use std::io::Read;
        let born = std::time::Instant::now();
        // bounded: 8 s to get the client
        while born.elapsed() < Duration::from_secs(8) {
            let Ok((mut s, _)) = l.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
            let mut buf = [0u8; 4096];
            let mut results = Vec::new();
            for _ in 0..2 {
                let r = s.read(&mut buf);
                let stop = !matches!(r, Ok(k) if k > 0);
                results.push(r.map_err(|e| e.kind()));
                if stop {
                    break;
                }
            }
            let _ = tx.send(results);
            break;
        }
    });
    let o = wclient(&["poll", V4, &port.to_string()])
        .secs("1")
        .run(DONE);
    let f = assert_wait_reported(&o, "poll", "poll", POLLIN);
    assert_timeout_window(&o, "poll", ms(&o, &f), T);
    let results = rx
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| panic!("server read nothing\n{o}"));
    let last = results.last().unwrap();
    assert!(
        matches!(last, Ok(0)) || matches!(last, Err(std::io::ErrorKind::ConnectionReset)),
        "the server's read after the timeout: expected EOF or ECONNRESET, got {results:?}\n{o}"
    );
    server.join().unwrap();
}

// ---------------------------------------------------------------------------
// The program's own timeout: kept, and the idle time counts across calls
// ---------------------------------------------------------------------------

/// A loop of waits with the program's own timeout `own_ms` (< T): the
/// first returns 0 at its own time, later ones too, until the socket has
/// been idle for T counted from the first wait.
fn own_timeout_loop(kind: &str, own_ms: i64, secs: f64) {
    let srv = silent_server(V4);
    let o = wclient(&[
        "poll_loop",
        kind,
        V4,
        &srv.port_s(),
        &own_ms.to_string(),
        "30",
    ])
    .secs(&secs.to_string())
    .run(DONE);
    assert!(!o.killed, "still waiting at the limit\n{o}");
    let iters = o.lines_with("op=iter ");
    assert!(!iters.is_empty(), "no wait returned\n{o}");
    // every wait, the last one included, ends no later than its own timeout
    for f in &iters {
        let t = ms(&o, f);
        assert!(
            t <= own_ms + 400,
            "a wait with own timeout {own_ms} ms took {t} ms\n{o}"
        );
    }
    // the first returns 0 at its own time
    let first = &iters[0];
    assert_eq!(field_i64(&o, first, "ret"), 0, "first wait\n{o}");
    assert!(
        ms(&o, first) >= own_ms - 20,
        "first wait returned before its own timeout\n{o}"
    );
    // the last one reports the socket, at T counted from the first wait
    let last = iters.last().unwrap();
    assert!(
        iters.len() >= 2,
        "expected at least one 0 return before the timeout\n{o}"
    );
    let want = if is_select(kind) { POLLIN } else { 0 };
    let rev = revents(&o, last);
    assert!(
        field_i64(&o, last, "ret") >= 1
            && (if want != 0 {
                rev & want != 0
            } else {
                rev & (POLLERR | POLLHUP) != 0
            }),
        "the last wait must report the timed-out socket, got {last:?}\n{o}"
    );
    assert_timeout_window(
        &o,
        "idle time counted from the first wait",
        field_i64(&o, last, "since_ms"),
        secs,
    );
    assert_next_calls_time_out(&o);
}

#[test]
fn poll_loop_300ms_returns_zeros_then_times_out_at_t_from_first_wait() {
    own_timeout_loop("poll", 300, T);
}

#[test]
fn select_loop_300ms_returns_zeros_then_times_out_at_t_from_first_wait() {
    own_timeout_loop("select", 300, T);
}

#[test]
fn epoll_loop_300ms_returns_zeros_then_times_out_at_t_from_first_wait() {
    own_timeout_loop("epoll_lt", 300, T);
}

/// curl's shape: poll(1000 ms) in a loop, with T = 1.5 s: the first poll
/// returns 0 at 1 s, the second reports the socket at 1.5 s in all. A clock
/// per call would never reach T.
#[test]
fn curl_style_poll_1000ms_loop_counts_idle_time_across_calls() {
    own_timeout_loop("poll", 1000, 1.5);
}

// ---------------------------------------------------------------------------
// Signal masks and EINTR
// ---------------------------------------------------------------------------

/// SIGUSR1 is blocked, unblocked only by the wait's own mask, and sent after
/// 300 ms: the wait returns EINTR then (with the library's wait using the
/// program's mask), the mask is back afterwards, and the next wait reports
/// the socket at T counted from the first.
fn sigmask_kept(kind: &str) {
    let srv = silent_server(V4);
    let o = wclient(&["ppoll_sigmask", kind, V4, &srv.port_s(), "300"])
        .secs("1")
        .run(DONE);
    let f = assert_op(&o, kind, -1, "EINTR");
    let t = ms(&o, &f);
    assert!(
        (250..=800).contains(&t),
        "{kind}: EINTR after {t} ms, expected at the signal (300 ms)\n{o}"
    );
    assert_eq!(field(&o, &f, "handled"), "1", "handler ran once\n{o}");
    assert_eq!(
        field(&o, &f, "blocked_after"),
        "1",
        "SIGUSR1 blocked again after the wait\n{o}"
    );
    let again = format!("{kind}_again");
    let g = assert_wait_reported(&o, &again, kind, POLLIN);
    assert_timeout_window(&o, &again, field_i64(&o, &g, "since_ms"), T);
    assert_next_calls_time_out(&o);
}

#[test]
fn ppoll_keeps_its_sigmask_and_eintr() {
    sigmask_kept("ppoll");
}

#[test]
fn ppoll_chk_keeps_its_sigmask_and_eintr() {
    sigmask_kept("ppoll_chk");
}

#[test]
fn pselect_keeps_its_sigmask_and_eintr() {
    sigmask_kept("pselect");
}

#[test]
fn epoll_pwait_keeps_its_sigmask_and_eintr() {
    sigmask_kept("epoll_pwait");
}

#[test]
fn epoll_pwait2_keeps_its_sigmask_and_eintr() {
    sigmask_kept("epoll_pwait2");
}

// ---------------------------------------------------------------------------
// Non-blocking connect into a full accept queue
// ---------------------------------------------------------------------------

fn nbconnect(mode: &str, kind: &str, host: &str) -> Outcome {
    let fq = full_queue_server(host);
    let o = wclient(&[mode, kind, host, &fq.port_s()])
        .secs("1")
        .run(DONE);
    let f = assert_wait_reported(&o, kind, kind, POLLOUT);
    assert_timeout_window(&o, kind, ms(&o, &f), T);
    o
}

fn nbconnect_soerror(kind: &str, host: &str) {
    let o = nbconnect("nbconnect_soerror", kind, host);
    let f = assert_op(&o, "so_error", 0, "0");
    assert_eq!(
        field(&o, &f, "so_error"),
        "ETIMEDOUT",
        "SO_ERROR after the wait\n{o}"
    );
    assert_exit(&o, 1);
}

#[test]
fn nonblocking_connect_poll_then_so_error_is_etimedout() {
    nbconnect_soerror("poll", V4);
}

#[test]
fn nonblocking_connect_poll_then_so_error_is_etimedout_ipv6() {
    nbconnect_soerror("poll", V6);
}

#[test]
fn nonblocking_connect_select_then_so_error_is_etimedout() {
    nbconnect_soerror("select", V4);
}

#[test]
fn nonblocking_connect_epoll_then_so_error_is_etimedout() {
    nbconnect_soerror("epoll_lt", V4);
}

#[test]
fn nonblocking_connect_poll_then_connect_again_is_etimedout() {
    let o = nbconnect("nbconnect_again", "poll", V4);
    let f = assert_op(&o, "connect_again", -1, "ETIMEDOUT");
    assert_fast(&o, "connect again", ms(&o, &f), 300);
    assert_exit(&o, 1);
}

#[test]
fn nonblocking_connect_epoll_et_then_connect_again_is_etimedout() {
    let o = nbconnect("nbconnect_again", "epoll_et", V4);
    let f = assert_op(&o, "connect_again", -1, "ETIMEDOUT");
    assert_fast(&o, "connect again", ms(&o, &f), 300);
    assert_exit(&o, 1);
}

// ---------------------------------------------------------------------------
// Waiting to write to a peer that never reads
// ---------------------------------------------------------------------------

fn write_stall(kind: &str) {
    let srv = never_reads_server(V4);
    let o = wclient(&["write_stall", kind, V4, &srv.port_s()])
        .secs("1")
        .run(DONE);
    let fill = assert_op(&o, "fill", -1, "EAGAIN");
    assert!(field_i64(&o, &fill, "total") > 0, "nothing sent\n{o}");
    let f = assert_wait_reported(&o, kind, kind, POLLOUT);
    assert_timeout_window(&o, kind, ms(&o, &f), T);
    for op in ["write", "send"] {
        let g = assert_op(&o, op, -1, "ETIMEDOUT");
        assert_fast(&o, op, ms(&o, &g), 300);
    }
    // exit 1, not death by SIGPIPE
    assert_exit(&o, 1);
}

#[test]
fn poll_for_output_to_never_reading_peer_times_out_without_sigpipe() {
    write_stall("poll");
}

#[test]
fn select_for_output_to_never_reading_peer_times_out_without_sigpipe() {
    write_stall("select");
}

#[test]
fn epoll_et_for_output_to_never_reading_peer_times_out_without_sigpipe() {
    write_stall("epoll_et");
}

// ---------------------------------------------------------------------------
// Per-direction timeouts
// ---------------------------------------------------------------------------

#[test]
fn waits_use_the_timeout_of_their_direction() {
    let silent = silent_server(V4);
    let fq = full_queue_server(V4);
    let nr = never_reads_server(V4);
    let (s, f, n) = (silent.port_s(), fq.port_s(), nr.port_s());
    let runs = [
        // T = 5 s, but the direction's own timeout is 1 s
        (
            wclient(&["nbconnect_soerror", "poll", V4, &f])
                .secs("5")
                .env("TIMEOUTSOCK_CONNECT_SECS", "1"),
            DONE,
        ),
        (
            wclient(&["poll", V4, &s])
                .secs("5")
                .env("TIMEOUTSOCK_READ_SECS", "1"),
            DONE,
        ),
        (
            wclient(&["write_stall", "poll", V4, &n])
                .secs("5")
                .env("TIMEOUTSOCK_WRITE_SECS", "1"),
            DONE,
        ),
        // T = 1 s, but the direction's timeout is off
        (
            wclient(&["nbconnect_soerror", "poll", V4, &f])
                .secs("1")
                .env("TIMEOUTSOCK_CONNECT_SECS", "0"),
            HANG,
        ),
        (
            wclient(&["poll", V4, &s])
                .secs("1")
                .env("TIMEOUTSOCK_READ_SECS", "0"),
            HANG,
        ),
        (
            wclient(&["write_stall", "poll", V4, &n])
                .secs("1")
                .env("TIMEOUTSOCK_WRITE_SECS", "0"),
            HANG,
        ),
    ];
    let outs = run_all(&runs);
    for o in &outs[..3] {
        let f = assert_wait_reported(o, "poll", "poll", 0);
        assert_timeout_window(o, "poll", ms(o, &f), 1.0);
        assert_exit(o, 1);
    }
    for o in &outs[3..] {
        assert_hung_in(o, "poll");
    }
}

// ---------------------------------------------------------------------------
// What is never timed out
// ---------------------------------------------------------------------------

/// A connection pool probes its idle connection with poll(timeout 0) every
/// 50 ms for 3·T: probes are no waits, the connection is kept and still
/// works afterwards.
#[test]
fn zero_timeout_probes_keep_an_idle_connection() {
    let kinds = ["poll", "select", "epoll_lt"];
    // an echo server serves one connection at a time: one each
    let servers: Vec<Server> = kinds.iter().map(|_| echo_server(V4)).collect();
    let runs: Vec<(Run, Duration)> = kinds
        .iter()
        .zip(&servers)
        .map(|(k, s)| {
            (
                wclient(&["pool_probe", k, V4, &s.port_s(), "3000", "50"]).secs("1"),
                DONE,
            )
        })
        .collect();
    for (o, kind) in run_all(&runs).iter().zip(kinds) {
        let p = assert_op(o, "probe", 0, "0");
        assert!(
            field_i64(o, &p, "probes") >= 20,
            "{kind}: too few probes\n{o}"
        );
        assert_eq!(
            field_i64(o, &p, "nonzero"),
            0,
            "{kind}: a probe reported the idle connection\n{o}"
        );
        assert!(ms(o, &p) >= 3000, "{kind}: probed too briefly\n{o}");
        // the first real wait after the probes starts the idle time afresh:
        // 0 at its own 300 ms, not a timeout at once
        let a = assert_op(o, "after_probe", 0, "0");
        let t = ms(o, &a);
        assert!(
            (280..=800).contains(&t),
            "{kind}: wait(300 ms) after the probes took {t} ms\n{o}"
        );
        assert_op(o, "echo_send", 15, "0");
        let r = assert_op(o, "echo_recv", 15, "0");
        assert_eq!(field(o, &r, "match"), "1", "{kind}: echo\n{o}");
        assert_exit(o, 0);
    }
}

#[test]
fn listening_socket_is_never_timed_out() {
    let runs = [
        // poll(300 ms) ten times: 0 each time, 3·T in all
        (wclient(&["listen_poll", V4, "300", "10"]).secs("1"), DONE),
        // poll(3000 ms) once: 0 at 3·T
        (wclient(&["listen_poll", V6, "3000", "1"]).secs("1"), DONE),
        // poll(-1): blocks as before
        (wclient(&["listen_poll", V4, "-1", "1"]).secs("1"), HANG),
        // inherited across exec (socket activation): the library never saw
        // its listen()
        (
            wclient(&["listen_poll", V4, "300", "10", "exec"]).secs("1"),
            DONE,
        ),
    ];
    let outs = run_all(&runs);
    let o = &outs[0];
    let f = assert_op(o, "listen_poll", 0, "0");
    assert_eq!(field_i64(o, &f, "zeros"), 10, "{o}");
    for it in o.lines_with("op=iter ") {
        let t = ms(o, &it);
        assert!((280..=800).contains(&t), "poll(300) took {t} ms\n{o}");
    }
    assert_exit(o, 0);
    let o = &outs[1];
    let f = assert_op(o, "listen_poll", 0, "0");
    let t = ms(o, &f);
    assert!(
        (2950..=4000).contains(&t),
        "poll(3000) on a listener returned after {t} ms\n{o}"
    );
    assert_exit(o, 0);
    assert_hung_in(&outs[2], "poll");
    let o = &outs[3];
    let f = assert_op(o, "listen_poll", 0, "0");
    assert_eq!(field_i64(o, &f, "zeros"), 10, "inherited listener\n{o}");
    assert_exit(o, 0);
}

#[test]
fn pipe_unix_socket_and_udp_in_poll_still_block() {
    let runs = [
        (wclient(&["pipe_poll", "pipe"]).secs("1"), HANG),
        (wclient(&["pipe_poll", "unixpair"]).secs("1"), HANG),
        (wclient(&["pipe_poll", "udp"]).secs("1"), HANG),
    ];
    for o in run_all(&runs) {
        assert_hung_in(&o, "poll");
    }
}

#[test]
fn mixed_poll_set_reports_only_the_socket() {
    let srv = silent_server(V4);
    let o = wclient(&["mixed_poll", V4, &srv.port_s()])
        .secs("1")
        .run(DONE);
    let f = assert_wait_reported(&o, "poll", "poll", POLLIN);
    assert_eq!(
        field(&o, &f, "pipe_revents"),
        "0x0",
        "the pipe must not be reported\n{o}"
    );
    assert_timeout_window(&o, "poll", ms(&o, &f), T);
    assert_next_calls_time_out(&o);
}

/// A socket the program does not wait on stays usable while another one
/// times out.
#[test]
fn socket_not_waited_on_is_left_alone() {
    let silent = silent_server(V4);
    let echo = echo_server(V4);
    let o = wclient(&["bystander", V4, &silent.port_s(), &echo.port_s()])
        .secs("1")
        .run(DONE);
    let f = assert_wait_reported(&o, "poll", "poll", POLLIN);
    assert_timeout_window(&o, "poll", ms(&o, &f), T);
    assert_op(&o, "recv", -1, "ETIMEDOUT");
    assert_op(&o, "echo_send", 11, "0");
    let r = assert_op(&o, "echo_recv", 11, "0");
    assert_eq!(field(&o, &r, "match"), "1", "{o}");
    assert_exit(&o, 0);
}

// ---------------------------------------------------------------------------
// Progress restarts the idle clock
// ---------------------------------------------------------------------------

/// One byte every 300 ms, 10 bytes: never idle for T, 3·T in all.
#[test]
fn slow_drip_through_waits_completes() {
    let kinds = ["poll", "select", "epoll_et"];
    let servers: Vec<Server> = kinds
        .iter()
        .map(|_| drip_server(V4, Duration::from_millis(300), 10))
        .collect();
    let runs: Vec<(Run, Duration)> = kinds
        .iter()
        .zip(&servers)
        .map(|(k, s)| (wclient(&["drain", k, V4, &s.port_s()]).secs("1"), DONE))
        .collect();
    for (o, kind) in run_all(&runs).iter().zip(kinds) {
        let f = assert_op(o, "drain", 0, "0");
        assert_eq!(field_i64(o, &f, "total"), 10, "{kind}: bytes\n{o}");
        assert!(ms(o, &f) >= 2800, "{kind}: drip ended too early\n{o}");
        assert_exit(o, 0);
    }
}

#[test]
fn data_then_silence_times_out_at_t_after_the_data() {
    let srv = silent_server_with(V4, b"HTTP/1.0 200 OK\r\n".to_vec());
    let o = wclient(&["drain", "poll", V4, &srv.port_s()])
        .secs("1")
        .run(DONE);
    let f = assert_op(&o, "drain", -1, "ETIMEDOUT");
    assert_eq!(field_i64(&o, &f, "total"), 17, "bytes\n{o}");
    assert_timeout_window(&o, "drain", ms(&o, &f), T);
    assert_exit(&o, 1);
}

#[test]
fn bulk_download_32mib_through_waits_is_byte_identical() {
    let n = 32 << 20;
    let (a, sum_a) = bulk_server(V4, n);
    let (b, sum_b) = bulk_server(V4, n);
    let outs = run_all(&[
        (
            wclient(&["drain", "poll", V4, &a.port_s()]).secs("1"),
            Duration::from_secs(30),
        ),
        (
            wclient(&["drain", "epoll_et", V4, &b.port_s()]).secs("1"),
            Duration::from_secs(30),
        ),
    ]);
    for (o, sum) in outs.iter().zip([sum_a, sum_b]) {
        let f = assert_op(o, "drain", 0, "0");
        assert_eq!(field_i64(o, &f, "total"), n as i64, "bytes\n{o}");
        assert_eq!(field(o, &f, "cksum"), sum, "content\n{o}");
        assert_exit(o, 0);
    }
}

/// An upload to a server that reads slowly (64 KiB every 30 ms: about 3 s
/// for 6 MiB), waiting for input and output at once as curl does: the peer
/// acknowledges data all along, so the connection is never idle for T,
/// neither while sending (with nothing to receive yet) nor while waiting for
/// the answer as the server drains its receive buffer.
#[test]
fn upload_to_slow_reader_waiting_for_input_and_output_completes() {
    let n: usize = 6 << 20;
    let sum = hex(fnv(FNV_INIT, &vec![b'u'; n]));
    let cases = [
        ("poll", "single"),
        ("poll", "split"),
        ("select", "single"),
        ("epoll_lt", "single"),
    ];
    let servers: Vec<_> = cases
        .iter()
        .map(|_| http_slow_reader_server(V4, 64 << 10, Duration::from_millis(30)))
        .collect();
    let runs: Vec<(Run, Duration)> = cases
        .iter()
        .zip(&servers)
        .map(|((kind, layout), (srv, _))| {
            (
                wclient(&["upload", kind, V4, &srv.port_s(), &n.to_string(), layout]).secs("1"),
                Duration::from_secs(15),
            )
        })
        .collect();
    let outs = run_all(&runs);
    for ((o, (kind, layout)), (_, rx)) in outs.iter().zip(cases).zip(&servers) {
        let what = format!("{kind} {layout}");
        assert!(!o.killed, "{what}: still running at the limit\n{o}");
        let u = o.must_op("upload");
        assert_eq!(
            field_i64(o, &u, "sent"),
            n as i64,
            "{what}: the upload was cut off (the connection was timed out \
             while the peer was acknowledging data)\n{o}"
        );
        let r = assert_op(o, "response", 0, "0");
        assert_eq!(
            field(o, &r, "body"),
            format!("{n},{sum}"),
            "{what}: the server's answer (\"<bytes> <checksum>\", spaces as commas)\n{o}"
        );
        let (got, got_sum) = rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("{what}: server reported nothing\n{o}"));
        assert_eq!((got, got_sum.as_str()), (n as u64, sum.as_str()), "{o}");
        assert!(
            field_i64(o, &u, "elapsed_ms") + field_i64(o, &r, "elapsed_ms") >= 2000,
            "{what}: setup: the upload should last more than 2·T\n{o}"
        );
        assert_exit(o, 0);
    }
}

// ---------------------------------------------------------------------------
// stdio streams on sockets
// ---------------------------------------------------------------------------

#[test]
fn fdopen_fgets_from_silent_peer_fails_after_t() {
    let srv = silent_server_with(V4, b"hello\n".to_vec());
    let o = wclient(&["fdopen_fgets", V4, &srv.port_s()])
        .secs("1")
        .run(DONE);
    assert!(!o.killed, "fgets still blocked at the limit\n{o}");
    let lines = o.lines_with("op=fgets ");
    assert_eq!(lines.len(), 2, "expected two fgets calls\n{o}");
    assert_eq!(field_i64(&o, &lines[0], "ret"), 6, "first line\n{o}");
    assert_fast(&o, "first fgets", ms(&o, &lines[0]), 300);
    let f = &lines[1];
    assert_eq!(field_i64(&o, f, "ret"), -1, "fgets must return NULL\n{o}");
    assert_eq!(field(&o, f, "errno"), "EAGAIN", "{o}");
    assert_eq!(field(&o, f, "ferror"), "1", "ferror(fp)\n{o}");
    assert_timeout_window(&o, "fgets", ms(&o, f), T);
    assert_op(&o, "fclose", 0, "0");
    assert_exit(&o, 1);
}

/// The program's own SO_RCVTIMEO wins, shorter or longer than T.
#[test]
fn fdopen_fgets_keeps_the_programs_own_rcvtimeo() {
    let a = silent_server(V4);
    let b = silent_server(V4);
    let outs = run_all(&[
        (
            wclient(&["fdopen_fgets", V4, &a.port_s(), "300"]).secs("1"),
            DONE,
        ),
        (
            wclient(&["fdopen_fgets", V4, &b.port_s(), "2000"]).secs("1"),
            DONE,
        ),
    ]);
    for (o, (lo, hi)) in outs.iter().zip([(280, 800), (1950, 2800)]) {
        let f = assert_op(o, "fgets", -1, "EAGAIN");
        let t = ms(o, &f);
        assert!(
            (lo..=hi).contains(&t),
            "fgets with its own SO_RCVTIMEO failed after {t} ms, expected [{lo}, {hi}]\n{o}"
        );
        assert_exit(o, 1);
    }
}

/// fclose closes the socket inside glibc; a pipe that gets the same number
/// must block in poll and read as without the library.
#[test]
fn fclose_then_pipe_with_same_number_still_blocks() {
    let a = silent_server(V4);
    let b = silent_server(V4);
    let outs = run_all(&[
        (
            wclient(&["fclose_reuse", V4, &a.port_s(), "poll"]).secs("1"),
            HANG,
        ),
        (
            wclient(&["fclose_reuse", V4, &b.port_s(), "read"]).secs("1"),
            HANG,
        ),
    ]);
    for (o, op) in outs.iter().zip(["poll", "read"]) {
        let f = o.must_op("poll_sock");
        assert_eq!(
            field(o, &f, "ret"),
            "0",
            "setup: poll(300) on the socket\n{o}"
        );
        assert!(
            o.stdout.iter().any(|l| l == "reused=1"),
            "setup: the pipe did not get the socket's number\n{o}"
        );
        assert_hung_in(o, op);
    }
}

/// A socket timed out in a wait, then fclose()d: a pipe that gets its
/// number is a pipe (poll reports its data, read returns it), not a timed-out
/// socket.
#[test]
fn fclose_of_timed_out_socket_then_pipe_with_same_number_works() {
    let srv = silent_server(V4);
    let o = wclient(&["fclose_reuse", V4, &srv.port_s(), "timedout"])
        .secs("1")
        .run(DONE);
    let f = assert_wait_reported(&o, "poll_sock", "poll", POLLIN);
    assert_timeout_window(&o, "poll_sock", ms(&o, &f), T);
    assert!(
        o.stdout.iter().any(|l| l == "reused=1"),
        "setup: the pipe did not get the socket's number\n{o}"
    );
    let p = assert_op(&o, "poll", 1, "0");
    assert_eq!(revents(&o, &p), POLLIN, "poll on the pipe\n{o}");
    assert_fast(&o, "poll on the pipe", ms(&o, &p), 300);
    assert_op(&o, "read", 5, "0");
    assert_exit(&o, 0);
}
