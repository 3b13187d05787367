//! A hook called before the library's constructor (from another preloaded
//! library's constructor) resolves libc on its cold path and passes through;
//! a preload loaded after the library still gets every call the library
//! passes on (the constructor's link-map walk resolves in RTLD_NEXT order).

mod common;

use common::{
    V4, assert_timed_out, c_preload, client, manifest_dir, preload_lib, scrub_env, silent_server,
};
use std::process::Command;
use std::time::Duration;

/// `LD_PRELOAD="libtimeoutsock.so libchain_count.so"`: the client's
/// connect, its recv and the library's own wait (poll) reach the second
/// preload's wrappers, and the recv still times out at T.
#[test]
fn a_preload_after_ours_still_chains() {
    let srv = silent_server(V4);
    let chain = c_preload("chain_count");
    let o = client(&["read", V4, &srv.port_s(), "recv"])
        .env(
            "LD_PRELOAD",
            &format!("{} {}", preload_lib().display(), chain.display()),
        )
        .env("TIMEOUTSOCK_SECS", "0.5")
        .run(Duration::from_secs(20));
    assert_timed_out(&o, "recv", 0.5);
    let line = o
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("chain: "))
        .unwrap_or_else(|| panic!("no counts from the second preload\n{o}"));
    let count = |k: &str| -> u32 {
        line.split(' ')
            .find_map(|f| f.strip_prefix(k)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{k} in {line:?}"))
    };
    assert!(
        count("connect") >= 1,
        "connect skipped the second preload\n{o}"
    );
    assert!(count("recv") >= 1, "recv skipped the second preload\n{o}");
    assert!(
        count("poll") >= 1,
        "the library's wait skipped the second preload\n{o}"
    );
}

#[test]
fn hooks_work_before_our_constructor() {
    let lib = preload_lib();
    let dir = lib.parent().unwrap().join("early");
    std::fs::create_dir_all(&dir).unwrap();
    let early = dir.join("libearly.so");
    let st = Command::new("gcc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&early)
        .arg(manifest_dir().join("tests/c/early.c"))
        .status()
        .expect("gcc");
    assert!(st.success(), "gcc failed");
    // Our library first: ld.so initialises the later preload (libearly)
    // first. An invalid TIMEOUTSOCK_SECS makes our constructor print a
    // line, which shows the order.
    let out = scrub_env(&mut Command::new("/bin/true"))
        .env(
            "LD_PRELOAD",
            format!("{} {}", lib.display(), early.display()),
        )
        .env("TIMEOUTSOCK_SECS", "x")
        .env("TIMEOUTSOCK_READ_SECS", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "status {:?}\n{err}", out.status);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(
        lines[0], "early: read=16 connect=-1 errno=Connection refused",
        "{err}"
    );
    assert!(
        common::without_who(lines[1]).starts_with("timeoutsock: ignoring TIMEOUTSOCK_SECS=\"x\""),
        "{err}"
    );
}

/// The library dlopen'ed, not preloaded (libc is then loaded before it,
/// so the constructor's walk finds nothing after it and must ask dlsym):
/// its constructor still reaches libc, as the load line
/// (`TIMEOUTSOCK_LOG=2`, written with the real write) shows.
#[test]
fn dlopened_library_still_finds_libc() {
    let py = common::python3();
    let mut cmd = Command::new(&py);
    scrub_env(&mut cmd)
        .args([
            "-c",
            "import ctypes, sys; ctypes.CDLL(sys.argv[1]); print('loaded')",
        ])
        .arg(preload_lib())
        .env("TIMEOUTSOCK_SECS", "2")
        .env("TIMEOUTSOCK_LOG", "2");
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}\n{err}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "loaded\n");
    let line = err.lines().next().unwrap_or_default();
    let (_, _, rest) = common::split_who(line).unwrap_or_else(|| panic!("{err}"));
    assert_eq!(
        rest,
        "timeoutsock: on: connect 2s, read 2s, write 2s, accept off"
    );
}
