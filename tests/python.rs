//! A real interpreter under the library: python3's plain blocking sockets
//! (tests/py/pyclient.py) against loopback servers that hang.

mod common;

use common::*;
use std::time::Duration;

const DONE: Duration = Duration::from_secs(10);

fn url(srv: &Server) -> String {
    format!("http://{}:{}/", srv.host, srv.port)
}

#[test]
fn python_recv_on_silent_peer_raises_timeout_error() {
    let srv = silent_server(V4);
    let o = py(&["recv", V4, &srv.port_s()]).secs("1").run(DONE);
    assert!(!o.killed, "python recv still blocked\n{o}");
    let f = o.must_op("recv");
    assert_eq!(field(&o, &f, "exc"), "TimeoutError", "{o}");
    assert_eq!(field(&o, &f, "errno"), "ETIMEDOUT", "{o}");
    assert_timeout_window(&o, "recv", field_i64(&o, &f, "elapsed_ms"), 1.0);
    assert_eq!(o.code(), Some(1), "{o}");
}

#[test]
fn python_urlopen_on_silent_server_times_out() {
    let srv = silent_server(V4);
    let o = py(&["urlopen", &url(&srv)]).secs("1").run(DONE);
    assert!(!o.killed, "urlopen still blocked\n{o}");
    let f = o.must_op("urlopen");
    assert_eq!(field(&o, &f, "ok"), "0", "urlopen succeeded?\n{o}");
    let msg = field(&o, &f, "msg");
    assert!(msg.contains("timed out"), "message {msg:?}\n{o}");
    let ms = field_i64(&o, &f, "elapsed_ms");
    assert!(
        (800..=2000).contains(&ms),
        "urlopen failed after {ms} ms, expected within [800, 2000]\n{o}"
    );
}

#[test]
fn python_urlopen_without_library_still_hangs() {
    let srv = silent_server(V4);
    let o = py(&["urlopen", &url(&srv)]).run(Duration::from_secs(5));
    assert_hung_in(&o, "urlopen");
    assert!(o.elapsed >= Duration::from_secs(5), "{o}");
}

#[test]
fn python_sendall_to_never_reading_peer_fails_at_t_not_2t() {
    // T = 1.5 s: a retry that waited another T would end at 3 s, outside
    // the window [1.2 s, 2.5 s]
    let srv = never_reads_server(V4);
    let o = py(&["sendall", V4, &srv.port_s(), "67108864"])
        .secs("1.5")
        .run(DONE);
    assert!(!o.killed, "sendall still blocked\n{o}");
    let f = o.must_op("sendall");
    assert_eq!(field(&o, &f, "exc"), "TimeoutError", "{o}");
    assert_eq!(field(&o, &f, "errno"), "ETIMEDOUT", "{o}");
    assert_timeout_window(&o, "sendall", field_i64(&o, &f, "elapsed_ms"), 1.5);
}
