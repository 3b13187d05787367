//! A hook called before the library's constructor (from another preloaded
//! library's constructor) resolves libc on its cold path and passes through.

mod common;

use common::{manifest_dir, preload_lib, scrub_env};
use std::process::Command;

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
