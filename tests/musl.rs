//! musl: the library built for `x86_64-unknown-linux-musl` (the cdylib alone,
//! `-C target-feature=-crt-static`, linked by musl-gcc) times out each
//! waiting call of a musl-gcc client (tests/c/muslclient.c); the glibc build
//! does too (the wrapper's choice for musl programs on a glibc system); the
//! musl build stops a glibc program from starting (the danger the wrapper's
//! choice avoids); and which build a mixed tree gets.
//!
//! Needs musl-gcc (Debian: musl-tools) and the rustup target
//! x86_64-unknown-linux-musl; `.ci/run` installs both. Servers listen on
//! 127.0.0.1 only; every child runs in its own process group, killed by id.

mod common;

use common::{Ran, manifest_dir, preload_lib, run, s};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

fn musl_dir() -> PathBuf {
    manifest_dir().join("target").join("preload-musl")
}

/// The musl build of the library, built once (as scripts/build-musl does).
fn musl_lib() -> PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let out = Command::new(manifest_dir().join("scripts").join("build-musl"))
            .env("CARGO_TARGET_DIR", musl_dir())
            .stdin(Stdio::null())
            .output()
            .expect("cannot run scripts/build-musl");
        assert!(
            out.status.success(),
            "scripts/build-musl failed (needs musl-tools and `rustup target add \
             x86_64-unknown-linux-musl`):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lib = musl_dir()
            .join("x86_64-unknown-linux-musl")
            .join("release")
            .join("libtimeoutsock.so");
        assert!(lib.is_file(), "{} missing", lib.display());
        lib
    })
    .clone()
}

/// tests/c/muslclient.c built with musl-gcc.
fn muslclient() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        common::gcc(
            "musl-gcc",
            &common::c_source("muslclient"),
            &musl_dir().join("muslclient"),
            &["-O2", "-Wall"],
        )
    })
    .clone()
}

/// A server on 127.0.0.1 that accepts and never sends; held while alive.
struct Silent {
    port: u16,
    _l: TcpListener,
}

fn silent() -> Silent {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    // The kernel completes handshakes into the backlog: no accept needed
    // for a reply hang.
    Silent { port, _l: l }
}

/// A port on which every connect stays in SYN_SENT: `listen(fd, 0)`, never
/// accepted, its queue filled by one non-blocking connect (GUIDE §3).
struct ConnectHang {
    port: u16,
    fds: Vec<i32>,
}

impl Drop for ConnectHang {
    fn drop(&mut self) {
        for &fd in &self.fds {
            // SAFETY: our own descriptors.
            unsafe { libc::close(fd) };
        }
    }
}

fn connect_hang() -> ConnectHang {
    // SAFETY: plain socket calls on our own descriptors and stack buffers.
    unsafe {
        let l = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        let mut a: libc::sockaddr_in = std::mem::zeroed();
        a.sin_family = libc::AF_INET as libc::sa_family_t;
        a.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(l, &a as *const _ as *const libc::sockaddr, len),
            0
        );
        assert_eq!(libc::listen(l, 0), 0);
        let mut got = a;
        let mut glen = len;
        libc::getsockname(l, &mut got as *mut _ as *mut libc::sockaddr, &mut glen);
        let mut fds = vec![l];
        for _ in 0..2 {
            let c = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0);
            libc::connect(c, &got as *const _ as *const libc::sockaddr, len);
            fds.push(c);
        }
        std::thread::sleep(Duration::from_millis(100));
        ConnectHang {
            port: u16::from_be(got.sin_port),
            fds,
        }
    }
}

/// The client timed out in `op` at T = 1 s: exit 1, ETIMEDOUT, 0.8..2 s.
fn assert_timed_out(r: &Ran, op: &str) {
    assert_eq!(r.code, Some(1), "{op}: {} {}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("op={op} ")) && r.stdout.contains("errno=ETIMEDOUT"),
        "{op}: {}",
        r.stdout
    );
    let ms: u64 = r
        .stdout
        .split("elapsed_ms=")
        .nth(1)
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!((800..2000).contains(&ms), "{op}: {ms} ms");
}

#[test]
fn the_musl_build_times_out_each_wait_of_a_musl_client() {
    let (lib, client) = (s(&musl_lib()), s(&muslclient()));
    let srv = silent();
    let port = srv.port.to_string();
    let env = [("LD_PRELOAD", lib.as_str()), ("TIMEOUTSOCK_SECS", "1")];
    for op in ["recv", "read", "poll", "select", "epoll"] {
        assert_timed_out(
            &run(&[&client, &port, op], &env, Duration::from_secs(10)),
            op,
        );
    }
    let hang = connect_hang();
    let r = run(
        &[&client, &hang.port.to_string(), "connect"],
        &env,
        Duration::from_secs(10),
    );
    assert_timed_out(&r, "connect");
    // Control: without the library the same client waits on.
    let r = run(&[&client, &port, "poll"], &[], Duration::from_secs(2));
    assert_eq!(r.code, None, "the hang is not real: {}", r.stdout);
    assert!(r.elapsed >= Duration::from_secs(2));
}

/// musl's select leaves the program's timeval alone (it passes the kernel
/// a copy); so does the musl build of the library, which glibc's writes the
/// time not slept into. Differential: with and without the library.
#[test]
fn the_musl_build_leaves_selects_timeval_as_musl_does() {
    let (lib, client) = (s(&musl_lib()), s(&muslclient()));
    let srv = silent();
    let port = srv.port.to_string();
    let env = [("LD_PRELOAD", lib.as_str()), ("TIMEOUTSOCK_SECS", "1")];
    let with = run(&[&client, &port, "selecttv"], &env, Duration::from_secs(10));
    let without = run(&[&client, &port, "selecttv"], &[], Duration::from_secs(10));
    for r in [&with, &without] {
        assert_eq!(r.code, Some(0), "{} {}", r.stdout, r.stderr);
        assert!(r.stdout.contains("op=selecttv ret=0 "), "{}", r.stdout);
    }
    let tv = |r: &Ran| {
        r.stdout
            .lines()
            .find(|l| l.starts_with("tv="))
            .map(str::to_owned)
    };
    assert_eq!(
        tv(&without).as_deref(),
        Some("tv=0.300000"),
        "{}",
        without.stdout
    );
    assert_eq!(tv(&with), tv(&without), "with the library: {}", with.stdout);
}

#[test]
fn the_musl_build_needs_musl_libc_and_stops_a_glibc_program() {
    let lib = musl_lib();
    let out = Command::new("readelf")
        .arg("-d")
        .arg(&lib)
        .output()
        .unwrap();
    let d = String::from_utf8_lossy(&out.stdout);
    assert!(d.contains("[libc.so]") && !d.contains("libc.so.6"), "{d}");
    // The danger the wrapper's choice avoids: a glibc program does not start.
    let r = run(
        &["/bin/true"],
        &[("LD_PRELOAD", &s(&lib)), ("TIMEOUTSOCK_SECS", "1")],
        Duration::from_secs(5),
    );
    assert_eq!(r.code, Some(127), "{}", r.stderr);
    assert!(r.stderr.contains("invalid ELF header"), "{}", r.stderr);
}

#[test]
fn the_glibc_build_times_out_a_musl_client_too() {
    let (lib, client) = (s(&preload_lib()), s(&muslclient()));
    let srv = silent();
    let port = srv.port.to_string();
    let env = [("LD_PRELOAD", lib.as_str()), ("TIMEOUTSOCK_SECS", "1")];
    for op in ["recv", "poll", "epoll"] {
        assert_timed_out(
            &run(&[&client, &port, op], &env, Duration::from_secs(10)),
            op,
        );
    }
}

#[test]
fn the_wrapper_never_gives_the_musl_build_to_a_tree_with_glibc_programs() {
    let wrapper = env!("CARGO_BIN_EXE_timeoutsock");
    let (glibc, musl, client) = (s(&preload_lib()), s(&musl_lib()), s(&muslclient()));
    let env = [
        ("TIMEOUTSOCK_LIB", glibc.as_str()),
        ("TIMEOUTSOCK_MUSL_LIB", musl.as_str()),
    ];
    let limit = Duration::from_secs(10);
    // A musl program on this (glibc) system: the glibc build, and why.
    let r = run(
        &[wrapper, "--check", "--", &client, "1", "recv"],
        &env,
        limit,
    );
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("(glibc build)"), "{}", r.stdout);
    assert!(r.stdout.contains("musl loader"), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!("LD_PRELOAD={glibc}\n")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("a glibc program it starts"),
        "{}",
        r.stdout
    );
    // Mixed tree: a glibc shell runs the musl client; it inherits the glibc
    // build and is timed.
    let srv = silent();
    let dir = musl_dir().join(format!("mixed.{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("step.sh");
    std::fs::write(&script, format!("#!/bin/sh\n{client} {} recv\n", srv.port)).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let r = run(&[wrapper, "--check", "--", &s(&script)], &env, limit);
    assert!(r.stdout.contains("(glibc build)"), "{}", r.stdout);
    let r = run(&[wrapper, "-t", "1", "--", &s(&script)], &env, limit);
    assert_timed_out(&r, "recv");
    let _ = std::fs::remove_dir_all(&dir);
}
