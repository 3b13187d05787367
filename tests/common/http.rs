//! HTTP servers for real clients (curl, wget), on loopback.

use super::data::{FNV_INIT, fnv, hex, pattern};
use super::servers::{Server, bind_listener, serve};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

/// A request head as read by the HTTP servers, and any body bytes that came
/// with it.
pub struct RequestHead {
    pub head: String,
    pub extra: Vec<u8>,
}

impl RequestHead {
    /// The value of the Content-Length header, if any.
    pub fn content_length(&self) -> Option<u64> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            if k.trim().eq_ignore_ascii_case("content-length") {
                v.trim().parse().ok()
            } else {
                None
            }
        })
    }
}

/// Reads an HTTP request head (up to the blank line): at most 64 KiB, each
/// read waiting at most 5 s. `None` if the client went away first.
pub fn read_request_head(s: &mut TcpStream) -> Option<RequestHead> {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // bounded: 64 KiB and the read timeout
    while got.len() < 65536 {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let extra = got.split_off(i + 4);
            return Some(RequestHead {
                head: String::from_utf8_lossy(&got).into_owned(),
                extra,
            });
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(k) => got.extend_from_slice(&buf[..k]),
        }
    }
    None
}

/// An HTTP/1.1 response head with `Content-Length: len`.
pub fn response_head(len: u64) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n"
    )
}

/// Reads the request, then never answers (holds the connection).
pub fn http_silent_server(host: &str) -> Server {
    serve(host, bind_listener(host), Vec::new(), |mut s, _| {
        read_request_head(&mut s);
        Some(s)
    })
}

/// Reads the request, answers with `Content-Length: 2·n`, sends `n` bytes of
/// the body, then goes silent (holds the connection).
pub fn http_stall_server(host: &str, n: usize) -> Server {
    serve(host, bind_listener(host), Vec::new(), move |mut s, _| {
        read_request_head(&mut s)?;
        let _ = s.write_all(response_head(2 * n as u64).as_bytes());
        let _ = s.write_all(&pattern(n));
        Some(s)
    })
}

/// Reads the request, answers with a body of `body`, one byte every `gap`,
/// then closes.
pub fn http_drip_server(host: &str, gap: Duration, body: Vec<u8>) -> Server {
    serve(host, bind_listener(host), Vec::new(), move |mut s, stop| {
        read_request_head(&mut s)?;
        let _ = s.write_all(response_head(body.len() as u64).as_bytes());
        for b in &body {
            thread::sleep(gap);
            if stop.load(Ordering::SeqCst) || s.write_all(&[*b]).is_err() {
                break;
            }
        }
        None
    })
}

/// Reads the request, answers with `n` bytes of the test pattern, then
/// closes. Returns the server and the checksum of the body.
pub fn http_bulk_server(host: &str, n: usize) -> (Server, String) {
    let data = Arc::new(pattern(n));
    let sum = hex(fnv(FNV_INIT, &data));
    let srv = serve(host, bind_listener(host), Vec::new(), move |mut s, _| {
        read_request_head(&mut s)?;
        let _ = s.write_all(response_head(data.len() as u64).as_bytes());
        let _ = s.write_all(&data);
        let _ = s.shutdown(std::net::Shutdown::Write);
        None
    });
    (srv, sum)
}

/// Reads a request with a body of Content-Length bytes slowly (`chunk`
/// bytes, then a pause of `gap`), then answers `"<bytes> <checksum>\n"`.
/// Each upload is also reported as `(bytes, checksum)` on the channel.
pub fn http_slow_reader_server(
    host: &str,
    chunk: usize,
    gap: Duration,
) -> (Server, Receiver<(u64, String)>) {
    let (tx, rx) = mpsc::channel();
    let srv = serve(host, bind_listener(host), Vec::new(), move |mut s, stop| {
        let req = read_request_head(&mut s)?;
        let want = req.content_length().unwrap_or(0);
        let mut h = fnv(FNV_INIT, &req.extra);
        let mut n = req.extra.len() as u64;
        let mut buf = vec![0u8; chunk];
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // bounded: by Content-Length, the stop flag and the read timeout
        while n < want && !stop.load(Ordering::SeqCst) {
            thread::sleep(gap);
            let k = buf.len().min((want - n) as usize);
            match s.read(&mut buf[..k]) {
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    h = fnv(h, &buf[..k]);
                    n += k as u64;
                }
            }
        }
        let body = format!("{n} {}\n", hex(h));
        let _ = s.write_all(response_head(body.len() as u64).as_bytes());
        let _ = s.write_all(body.as_bytes());
        let _ = tx.send((n, hex(h)));
        None
    });
    (srv, rx)
}
