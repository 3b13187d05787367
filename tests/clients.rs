//! Real clients under the library: curl (waits in poll), wget (blocking
//! connect, then select + read), OpenBSD nc (waits in poll on stdin and the
//! socket) against loopback servers that hang. Each hang is also run without
//! the library where that is cheap, to show that it is the library that ends
//! it.
//!
//! The programs must be installed (.ci/run installs curl, wget and
//! netcat-openbsd): a missing one fails its tests with a message saying so.
//!
//! Timing contract: T = 1 s; a client stopped by the timeout ends no earlier
//! than 0.8·T and no later than T + 1 s after it started (the harness's own
//! measurement, start of the process included).

mod common;

use common::*;
use std::time::Duration;

/// The timeout, in seconds.
const T: f64 = 1.0;
/// How long a run that should end by itself may take before it is killed.
const DONE: Duration = Duration::from_secs(10);
/// How long a run that must hang is watched before it is killed (2.5·T).
const HANG: Duration = Duration::from_millis(2500);

fn url(srv: &Server) -> String {
    if srv.host.contains(':') {
        format!("http://[{}]:{}/", srv.host, srv.port)
    } else {
        format!("http://{}:{}/", srv.host, srv.port)
    }
}

/// curl without a configuration file (`-q`), errors shown (`-sS`), no proxy,
/// and no timeout of its own.
fn curl(extra: &[&str], url: &str) -> Run {
    Run::new(require_program("curl", "curl"))
        .args(&["-q", "-sS", "--noproxy", "*"])
        .args(extra)
        .arg(url)
}

/// wget without a configuration file, one try, body to stdout, no proxy.
fn wget(url: &str) -> Run {
    Run::new(require_program("wget", "wget")).args(&[
        "--no-config",
        "-t",
        "1",
        "-O",
        "-",
        "--no-proxy",
        url,
    ])
}

/// OpenBSD nc, numeric host, with a standard input that stays open and
/// silent (EOF on stdin must not be what ends it).
fn nc(flags: &[&str], host: &str, port: u16) -> Run {
    let bin = require_program("nc", "netcat-openbsd");
    // `nc` may be another netcat (traditional, ncat) with other flags
    let help = std::process::Command::new(&bin)
        .arg("-h")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("cannot run nc -h");
    let text = String::from_utf8_lossy(&help.stdout) + String::from_utf8_lossy(&help.stderr);
    assert!(
        text.contains("OpenBSD netcat"),
        "`nc` at {} is not OpenBSD netcat: install the Debian package netcat-openbsd\n{text}",
        bin.display()
    );
    Run::new(bin)
        .args(flags)
        .args(&["-n", host, &port.to_string()])
        .keep_stdin_open()
}

/// curl's exit code for "Timeout was reached" (CURLE_OPERATION_TIMEDOUT).
/// curl 7.88 gives it for a connect that failed with ETIMEDOUT, whose
/// message itself only says "Couldn't connect to server".
const CURLE_OPERATION_TIMEDOUT: i32 = 28;

/// The client ended by itself with a non-zero exit code within the window of
/// the timeout T, and its stderr says the connection timed out.
fn assert_failed_with_timeout(o: &Outcome) {
    assert!(!o.killed, "still running at the limit\n{o}");
    let code = o.code();
    assert!(
        code.is_some() && code != Some(0),
        "expected a non-zero exit code\n{o}"
    );
    assert_ended_in_window(o);
    assert!(
        o.stderr.to_lowercase().contains("timed out"),
        "stderr does not mention a timeout\n{o}"
    );
}

fn assert_ended_in_window(o: &Outcome) {
    assert!(!o.killed, "still running at the limit\n{o}");
    let ms = o.elapsed.as_millis() as i64;
    assert_timeout_window(o, "client run", ms, T);
}

/// Without the library the client was still running at the limit.
fn assert_still_running(o: &Outcome) {
    assert!(
        o.killed,
        "without the library the client was expected to hang, but it ended\n{o}"
    );
}

// ---------------------------------------------------------------------------
// curl
// ---------------------------------------------------------------------------

#[test]
fn curl_silent_server_times_out() {
    let a = http_silent_server(V4);
    let b = http_silent_server(V4);
    let outs = run_all(&[
        (curl(&[], &url(&a)).secs("1"), DONE),
        (curl(&[], &url(&b)), HANG),
    ]);
    assert_failed_with_timeout(&outs[0]);
    assert_still_running(&outs[1]);
}

#[test]
fn curl_silent_server_times_out_ipv6() {
    let a = http_silent_server(V6);
    let o = curl(&[], &url(&a)).secs("1").run(DONE);
    assert_failed_with_timeout(&o);
}

#[test]
fn curl_connect_to_full_accept_queue_times_out() {
    let a = full_queue_server(V4);
    let b = full_queue_server(V4);
    let outs = run_all(&[
        (curl(&[], &url(&a)).secs("1"), DONE),
        (curl(&[], &url(&b)), HANG),
    ]);
    // "curl: (28) Failed to connect to 127.0.0.1 port P after 1001 ms:
    // Couldn't connect to server": the exit code tells the timeout
    let o = &outs[0];
    assert!(!o.killed, "still running at the limit\n{o}");
    assert_eq!(
        o.code(),
        Some(CURLE_OPERATION_TIMEDOUT),
        "expected curl's exit code 28 (connect failed with ETIMEDOUT)\n{o}"
    );
    assert_ended_in_window(o);
    assert!(o.stderr.contains("Failed to connect"), "stderr\n{o}");
    assert_still_running(&outs[1]);
}

#[test]
fn curl_stall_after_half_the_body_times_out() {
    let n = 64 << 10;
    let srv = http_stall_server(V4, n);
    let out = TempFile::new("curl-stall");
    let o = curl(&["-o", &out.path_s()], &url(&srv)).secs("1").run(DONE);
    assert_failed_with_timeout(&o);
    let got = std::fs::read(&out.path).unwrap_or_default();
    assert_eq!(got.len(), n, "curl should have kept the first half\n{o}");
    assert!(got == pattern(n), "first half corrupted\n{o}");
}

#[test]
fn curl_upload_to_never_reading_server_times_out() {
    let srv = never_reads_server(V4);
    let file = TempFile::with("curl-upload", &pattern(32 << 20));
    let o = curl(&["-H", "Expect:", "-T", &file.path_s()], &url(&srv))
        .secs("1")
        .run(DONE);
    assert_failed_with_timeout(&o);
}

#[test]
fn curl_slow_drip_with_short_gaps_completes() {
    let body = b"abcdefghij".to_vec();
    let srv = http_drip_server(V4, Duration::from_millis(300), body.clone());
    let o = curl(&[], &url(&srv)).secs("1").run(DONE);
    assert!(!o.killed, "still running at the limit\n{o}");
    assert_eq!(o.code(), Some(0), "exit code\n{o}");
    assert_eq!(o.stdout, vec!["abcdefghij".to_string()], "body\n{o}");
    assert!(
        o.elapsed >= Duration::from_millis(2900),
        "drip ended too early\n{o}"
    );
}

#[test]
fn curl_download_32mib_is_byte_identical() {
    let n = 32 << 20;
    let (srv, sum) = http_bulk_server(V4, n);
    let out = TempFile::new("curl-download");
    let o = curl(&["-o", &out.path_s()], &url(&srv))
        .secs("1")
        .run(Duration::from_secs(30));
    assert!(!o.killed, "still running at the limit\n{o}");
    assert_eq!(o.code(), Some(0), "exit code\n{o}");
    let got = std::fs::read(&out.path).expect("curl wrote no file");
    assert_eq!(got.len(), n, "bytes\n{o}");
    assert_eq!(hex(fnv(FNV_INIT, &got)), sum, "content\n{o}");
}

/// An upload to a server that reads slowly (64 KiB every 30 ms, about 3 s
/// for 6 MiB): the peer acknowledges data all the time, so the connection
/// is never idle for T, although curl, once its last bytes are in the send
/// buffer, waits for the response for a while with nothing to receive.
#[test]
fn curl_upload_to_slow_reader_completes() {
    let n = 6 << 20;
    let data = pattern(n);
    let sum = hex(fnv(FNV_INIT, &data));
    let file = TempFile::with("curl-slow-upload", &data);
    let (srv, rx) = http_slow_reader_server(V4, 64 << 10, Duration::from_millis(30));
    let o = curl(&["-H", "Expect:", "-T", &file.path_s()], &url(&srv))
        .secs("1")
        .run(Duration::from_secs(20));
    assert!(!o.killed, "still running at the limit\n{o}");
    assert_eq!(o.code(), Some(0), "exit code\n{o}");
    assert_eq!(o.stdout, vec![format!("{n} {sum}")], "server's answer\n{o}");
    let (got, got_sum) = rx
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| panic!("server reported nothing\n{o}"));
    assert_eq!((got, got_sum), (n as u64, sum), "{o}");
    assert!(
        o.elapsed >= Duration::from_millis(2000),
        "setup: the upload should last more than 2·T\n{o}"
    );
}

// ---------------------------------------------------------------------------
// wget
// ---------------------------------------------------------------------------

#[test]
fn wget_silent_server_times_out() {
    let a = http_silent_server(V4);
    let b = http_silent_server(V4);
    let outs = run_all(&[(wget(&url(&a)).secs("1"), DONE), (wget(&url(&b)), HANG)]);
    assert_failed_with_timeout(&outs[0]);
    assert_still_running(&outs[1]);
}

#[test]
fn wget_connect_to_full_accept_queue_times_out() {
    let a = full_queue_server(V4);
    let b = full_queue_server(V4);
    let outs = run_all(&[(wget(&url(&a)).secs("1"), DONE), (wget(&url(&b)), HANG)]);
    assert_failed_with_timeout(&outs[0]);
    assert_still_running(&outs[1]);
}

/// "Read error at byte 65536/131072 (Connection timed out). Giving up."
#[test]
fn wget_stall_after_half_the_body_times_out() {
    let srv = http_stall_server(V4, 64 << 10);
    // binary body: to a file (the harness reads stdout as text lines)
    let out = TempFile::new("wget-stall");
    let o = Run::new(require_program("wget", "wget"))
        .args(&["--no-config", "-t", "1", "-O", &out.path_s(), "--no-proxy"])
        .arg(url(&srv))
        .secs("1")
        .run(DONE);
    assert_failed_with_timeout(&o);
    assert!(
        o.stderr.contains("Read error at byte 65536/131072"),
        "stderr\n{o}"
    );
}

#[test]
fn wget_slow_drip_with_short_gaps_completes() {
    let body = b"abcdefghij".to_vec();
    let srv = http_drip_server(V4, Duration::from_millis(300), body);
    let o = wget(&url(&srv)).secs("1").run(DONE);
    assert!(!o.killed, "still running at the limit\n{o}");
    assert_eq!(o.code(), Some(0), "exit code\n{o}");
    assert_eq!(o.stdout, vec!["abcdefghij".to_string()], "body\n{o}");
}

// ---------------------------------------------------------------------------
// OpenBSD nc
// ---------------------------------------------------------------------------

/// A connect hang: nc exits non-zero (its connect failed); with `-v` it
/// says why.
#[test]
fn nc_connect_to_full_accept_queue_exits_nonzero() {
    let a = full_queue_server(V4);
    let b = full_queue_server(V4);
    let outs = run_all(&[
        (nc(&["-v"], V4, a.port).secs("1"), DONE),
        (nc(&[], V4, b.port), HANG),
    ]);
    assert_failed_with_timeout(&outs[0]);
    assert_still_running(&outs[1]);
}

/// A silent server: nc waits in poll on stdin and the socket; with the
/// library it ends in time (nc exits 0 after a connection error, so only the
/// time is checked). `-d` (no stdin at all) too.
#[test]
fn nc_silent_server_ends_in_time() {
    let a = silent_server(V4);
    let b = silent_server(V4);
    let c = silent_server(V4);
    let runs = [
        (nc(&[], V4, a.port).secs("1"), DONE),
        (nc(&["-d"], V4, c.port).secs("1"), DONE),
        (nc(&[], V4, b.port), HANG),
    ];
    let outs = run_all(&runs);
    assert_ended_in_window(&outs[0]);
    assert_ended_in_window(&outs[1]);
    assert_still_running(&outs[2]);
}
