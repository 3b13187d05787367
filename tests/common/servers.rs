//! Loopback servers that make TCP calls hang in known ways. Every server
//! listens on loopback only, every loop is bounded, and a server's thread
//! stops when it drops.

use super::data::{FNV_INIT, fnv, hex, pattern};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub const V4: &str = "127.0.0.1";
pub const V6: &str = "::1";

/// Longest time any server thread lives, whatever the test does.
const SERVER_MAX_LIFE: Duration = Duration::from_secs(90);
/// Poll interval of server threads waiting for connections or for stop.
const TICK: Duration = Duration::from_millis(10);

/// A loopback server. Dropping it stops its thread and closes its sockets.
pub struct Server {
    pub host: String,
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _fds: Vec<OwnedFd>,
}

impl Server {
    pub fn port_s(&self) -> String {
        self.port.to_string()
    }
    /// `[host, port]`, ready to be passed to a client.
    pub fn hp(&self) -> [String; 2] {
        [self.host.clone(), self.port_s()]
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn ip(host: &str) -> IpAddr {
    host.parse().expect("loopback address")
}

pub(crate) fn bind_listener(host: &str) -> TcpListener {
    let l = TcpListener::bind(SocketAddr::new(ip(host), 0)).expect("bind loopback");
    l.set_nonblocking(true).unwrap();
    l
}

/// Spawns a server thread: `on_conn` is called for each accepted connection
/// (in the server thread, with the stop flag); connections it returns are held
/// open until the server stops. Bounded by the stop flag and SERVER_MAX_LIFE.
pub(crate) fn serve<F>(
    host: &str,
    listener: TcpListener,
    fds: Vec<OwnedFd>,
    mut on_conn: F,
) -> Server
where
    F: FnMut(TcpStream, &AtomicBool) -> Option<TcpStream> + Send + 'static,
{
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = thread::spawn(move || {
        let born = Instant::now();
        let mut held = Vec::new();
        while !stop2.load(Ordering::SeqCst) && born.elapsed() < SERVER_MAX_LIFE {
            match listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    if let Some(s) = on_conn(s, &stop2) {
                        held.push(s);
                    }
                }
                Err(_) => thread::sleep(TICK),
            }
        }
        drop(held);
    });
    Server {
        host: host.to_string(),
        port,
        stop,
        thread: Some(thread),
        _fds: fds,
    }
}

/// Accepts, sends `prefix`, then holds the connection and never sends more.
pub fn silent_server_with(host: &str, prefix: Vec<u8>) -> Server {
    serve(host, bind_listener(host), Vec::new(), move |mut s, _| {
        if !prefix.is_empty() {
            let _ = s.write_all(&prefix);
        }
        Some(s)
    })
}

/// Accepts and holds every connection, never sends: reads hang.
pub fn silent_server(host: &str) -> Server {
    silent_server_with(host, Vec::new())
}

fn check(r: libc::c_int, what: &str) -> libc::c_int {
    assert!(r >= 0, "{what} failed: {}", std::io::Error::last_os_error());
    r
}

fn raw_sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// A TCP listening socket made with libc: bound to `host`:0, with
/// `SO_RCVBUF=rcvbuf` (if given) set before `listen(fd, backlog)`.
fn raw_listener(host: &str, backlog: i32, rcvbuf: Option<i32>) -> (OwnedFd, SocketAddr) {
    let addr = SocketAddr::new(ip(host), 0);
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2) call.
    let fd = check(
        unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) },
        "socket",
    );
    // SAFETY: fd is a fresh descriptor that we own from here on.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    if let Some(size) = rcvbuf {
        // SAFETY: valid fd, pointer to a c_int of the given length.
        check(
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUF,
                    &size as *const i32 as *const libc::c_void,
                    std::mem::size_of::<i32>() as libc::socklen_t,
                )
            },
            "setsockopt(SO_RCVBUF)",
        );
    }
    let (ss, len) = raw_sockaddr(addr);
    // SAFETY: valid fd and a sockaddr of the given length.
    check(
        unsafe { libc::bind(fd, &ss as *const _ as *const libc::sockaddr, len) },
        "bind",
    );
    // SAFETY: valid bound socket.
    check(unsafe { libc::listen(fd, backlog) }, "listen");
    // SAFETY: sockaddr_storage is plain data; all zeroes is a valid value.
    let mut got: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut gl = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: valid fd, buffer and length.
    check(
        unsafe { libc::getsockname(fd, &mut got as *mut _ as *mut libc::sockaddr, &mut gl) },
        "getsockname",
    );
    let port = if addr.is_ipv4() {
        // SAFETY: the kernel wrote a sockaddr_in for an AF_INET socket.
        u16::from_be(unsafe { (*(&got as *const _ as *const libc::sockaddr_in)).sin_port })
    } else {
        // SAFETY: the kernel wrote a sockaddr_in6 for an AF_INET6 socket.
        u16::from_be(unsafe { (*(&got as *const _ as *const libc::sockaddr_in6)).sin6_port })
    };
    (owned, SocketAddr::new(addr.ip(), port))
}

/// A non-blocking connect to `addr`; the socket is returned still connecting
/// (or connected).
fn nonblocking_connect(addr: SocketAddr) -> OwnedFd {
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2) call.
    let fd = check(
        unsafe {
            libc::socket(
                domain,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        },
        "socket",
    );
    // SAFETY: fd is fresh and ours.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let (ss, len) = raw_sockaddr(addr);
    // SAFETY: valid fd and sockaddr.
    let r = unsafe { libc::connect(fd, &ss as *const _ as *const libc::sockaddr, len) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        assert_eq!(
            e.raw_os_error(),
            Some(libc::EINPROGRESS),
            "non-blocking connect: {e}"
        );
    }
    owned
}

/// A listener with `listen(fd, 0)` that never accepts, its accept queue
/// filled by a few non-blocking connects: any later connect() to it stays in
/// SYN_SENT (the kernel drops the SYN).
pub fn full_queue_server(host: &str) -> Server {
    let (lfd, addr) = raw_listener(host, 0, None);
    let mut fds = vec![lfd];
    for _ in 0..3 {
        fds.push(nonblocking_connect(addr));
        thread::sleep(Duration::from_millis(20));
    }
    Server {
        host: host.to_string(),
        port: addr.port(),
        stop: Arc::new(AtomicBool::new(false)),
        thread: None,
        _fds: fds,
    }
}

/// Accepts and never reads, with `SO_RCVBUF=4096` on the listener: a large
/// blocking send stalls once the buffers are full.
pub fn never_reads_server(host: &str) -> Server {
    let (lfd, _) = raw_listener(host, 16, Some(4096));
    // SAFETY: lfd is a listening TCP socket that the listener now owns.
    let listener = unsafe { TcpListener::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(lfd)) };
    listener.set_nonblocking(true).unwrap();
    serve(host, listener, Vec::new(), |s, _| Some(s))
}

/// Accepts, then sends one byte every `gap`, `count` times, then closes.
pub fn drip_server(host: &str, gap: Duration, count: usize) -> Server {
    serve(host, bind_listener(host), Vec::new(), move |mut s, stop| {
        for i in 0..count {
            thread::sleep(gap);
            if stop.load(Ordering::SeqCst) || s.write_all(&[b'a' + (i % 26) as u8]).is_err() {
                break;
            }
        }
        None
    })
}

/// Accepts, sends `n` bytes of the test pattern at once, then closes.
/// Returns the server and the checksum of what it sends.
pub fn bulk_server(host: &str, n: usize) -> (Server, String) {
    let data = Arc::new(pattern(n));
    let sum = hex(fnv(FNV_INIT, &data));
    let srv = serve(host, bind_listener(host), Vec::new(), move |mut s, _| {
        let _ = s.write_all(&data);
        None
    });
    (srv, sum)
}

/// Accepts one connection at a time, reads it to EOF, and reports
/// `(bytes, checksum)` of each on the returned channel.
pub fn sink_server(host: &str) -> (Server, Receiver<(u64, String)>) {
    let (tx, rx) = mpsc::channel();
    let srv = serve(host, bind_listener(host), Vec::new(), move |mut s, _| {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut h = FNV_INIT;
        let mut n = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        // bounded by the read timeout and the peer's close
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    h = fnv(h, &buf[..k]);
                    n += k as u64;
                }
            }
        }
        let _ = tx.send((n, hex(h)));
        None
    });
    (srv, rx)
}

/// A loopback port with nothing listening on it.
pub fn closed_port(host: &str) -> u16 {
    let l = TcpListener::bind(SocketAddr::new(ip(host), 0)).unwrap();
    let p = l.local_addr().unwrap().port();
    drop(l);
    p
}

/// A client that opens a connection to `host:port` and keeps it open, silent,
/// until dropped.
pub fn silent_peer(host: &str, port: u16) -> TcpStream {
    TcpStream::connect_timeout(&SocketAddr::new(ip(host), port), Duration::from_secs(5))
        .expect("connect to client's listener")
}

/// Accepts, echoes whatever it receives back until EOF, then closes. One
/// connection at a time; each read waits at most 20 s.
pub fn echo_server(host: &str) -> Server {
    serve(host, bind_listener(host), Vec::new(), move |mut s, stop| {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let born = Instant::now();
        let mut buf = [0u8; 4096];
        // bounded: by the stop flag and 20 s
        while !stop.load(Ordering::SeqCst) && born.elapsed() < Duration::from_secs(20) {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => {
                    if s.write_all(&buf[..k]).is_err() {
                        break;
                    }
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => break,
            }
        }
        None
    })
}
