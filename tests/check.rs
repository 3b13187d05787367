//! `timeoutsock --check` verdicts (glibc, musl, static, Go, setuid, script
//! targets: the library, the outside supervisor or nothing; exit 0 covered,
//! 122 not; CMD never run) and `timeoutsock --env`
//! (the lines for `$GITHUB_ENV`, checked by running a program with them).

mod common;

use common::{Ran, go_build, manifest_dir, preload_lib, run, s};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

fn wrapper() -> &'static str {
    env!("CARGO_BIN_EXE_timeoutsock")
}

/// A scratch directory on the repository's file system (not nosuid).
fn scratch(tag: &str) -> PathBuf {
    let d = manifest_dir()
        .join("target")
        .join("preload-check")
        .join(format!("{tag}.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

fn gcc(dir: &std::path::Path, name: &str, cc: &str, flags: &[&str]) -> PathBuf {
    let src = dir.join("marker.c");
    // Creates `ran` in the current directory: proof that --check ran it.
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(void) { FILE *f = fopen(\"ran\", \"w\"); return f ? 0 : 1; }\n",
    )
    .unwrap();
    common::gcc(cc, &src, &dir.join(name), flags)
}

fn check(target: &str, env: &[(&str, &str)]) -> Ran {
    let lib = s(&preload_lib());
    let mut e = vec![("TIMEOUTSOCK_LIB", lib.as_str())];
    e.extend_from_slice(env);
    run(&[wrapper(), "--check", "--", target], &e, LIMIT)
}

fn assert_covered(r: &Ran, build: &str, why: &str) {
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains(&format!("covered: yes, by the library ({build} build)")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(why), "want {why:?}:\n{}", r.stdout);
}

fn assert_supervised(r: &Ran, why: &str) {
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("covered: yes, by the outside supervisor\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(why), "want {why:?}:\n{}", r.stdout);
}

fn assert_not_covered(r: &Ran, why: &str) {
    assert_eq!(r.code, Some(122), "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("covered: no"), "{}", r.stdout);
    assert!(r.stdout.contains(why), "want {why:?}:\n{}", r.stdout);
}

#[test]
fn check_tells_each_kind_of_program_without_running_it() {
    let d = scratch("kinds");
    let glibc = gcc(&d, "glibc", "gcc", &[]);
    let stat = gcc(&d, "static", "gcc", &["-static"]);
    let musl = gcc(&d, "musl", "musl-gcc", &[]);
    let lib = s(&preload_lib());

    let r = check(
        &s(&glibc),
        &[("TIMEOUTSOCK_SECS", "7"), ("TIMEOUTSOCK_LOG", "1")],
    );
    assert_covered(&r, "glibc", "is dynamically linked (glibc loader");
    assert!(
        r.stdout.contains(&format!("library: {lib}\n")),
        "{}",
        r.stdout
    );
    // The effective settings: environment and options merged.
    assert!(
        r.stdout.contains("TIMEOUTSOCK_SECS=7\nTIMEOUTSOCK_LOG=1\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!("LD_PRELOAD={lib}\n")),
        "{}",
        r.stdout
    );
    let r = run(
        &[
            wrapper(),
            "-t",
            "2",
            "--only",
            "127.0.0.1",
            "--check",
            &s(&glibc),
        ],
        &[("TIMEOUTSOCK_LIB", &lib), ("TIMEOUTSOCK_SECS", "7")],
        LIMIT,
    );
    assert!(
        r.stdout
            .contains("TIMEOUTSOCK_SECS=2\nTIMEOUTSOCK_ONLY=127.0.0.1\n"),
        "{}",
        r.stdout
    );

    let r = check(&s(&musl), &[]);
    assert_covered(&r, "glibc", "(musl loader");

    // Static: the supervisor's (the preload cannot work); not with
    // --preload-only, nor when every timeout is 0 (no supervisor runs).
    assert_supervised(&check(&s(&stat), &[]), "is statically linked");
    let r = run(
        &[wrapper(), "--preload-only", "--check", &s(&stat)],
        &[("TIMEOUTSOCK_LIB", &lib)],
        LIMIT,
    );
    assert_not_covered(&r, "is statically linked");
    assert!(r.stdout.contains("supervisor is off"), "{}", r.stdout);
    let r = run(
        &[wrapper(), "-t", "0", "--check", &s(&stat)],
        &[("TIMEOUTSOCK_LIB", &lib)],
        LIMIT,
    );
    assert_not_covered(&r, "is statically linked");

    // A script is judged by its interpreter, `env -S` by the command.
    let script = d.join("step.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_covered(
        &check(&s(&script), &[]),
        "glibc",
        "runs '/bin/sh', which is",
    );
    let via_env = d.join("via-env");
    std::fs::write(&via_env, "#!/usr/bin/env -S static -x\n").unwrap();
    std::fs::set_permissions(&via_env, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", s(&d));
    assert_supervised(
        &check(&s(&via_env), &[("PATH", &path)]),
        "which is statically linked",
    );

    // Nothing ran.
    assert!(!d.join("ran").exists());
    assert!(!manifest_dir().join("ran").exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn check_refuses_a_setuid_program() {
    let d = scratch("setuid");
    let prog = d.join("suid-true");
    std::fs::copy("/bin/true", &prog).unwrap();
    // SAFETY: geteuid has no preconditions.
    let target = if unsafe { libc::geteuid() } == 0 {
        let c = std::ffi::CString::new(s(&prog)).unwrap();
        // SAFETY: a valid path; uid/gid of nobody.
        assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o4755)).unwrap();
        s(&prog)
    } else {
        ["/usr/bin/su", "/bin/su", "/usr/bin/passwd"]
            .iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("no setuid program found")
            .to_string()
    };
    let r = check(&target, &[]);
    assert_not_covered(&r, "is setuid (it runs as uid");
    assert!(
        r.stdout.contains("nor can the outside supervisor"),
        "{}",
        r.stdout
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn env_prints_lines_that_give_later_programs_the_library() {
    let lib = s(&preload_lib());
    let r = run(
        &[wrapper(), "--env", "-t", "1", "--log"],
        &[("TIMEOUTSOCK_LIB", &lib), ("LD_PRELOAD", "libm.so.6")],
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!("TIMEOUTSOCK_SECS=1\nTIMEOUTSOCK_LOG=1\nLD_PRELOAD={lib}:libm.so.6\n")
    );
    // Used as $GITHUB_ENV would be: a later step gets the timeouts.
    let srv = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = srv.local_addr().unwrap().port();
    let vars: Vec<(String, String)> = r
        .stdout
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let py = "import socket,time\ns=socket.create_connection(('127.0.0.1',%d))\nt=time.monotonic()\ntry:\n  s.recv(1)\nexcept OSError as e:\n  print(e.errno, round(time.monotonic()-t,1))\n";
    let r = run(
        &["python3", "-c", &py.replace("%d", &port.to_string())],
        &env,
        LIMIT,
    );
    let out: Vec<&str> = r.stdout.split_whitespace().collect();
    assert_eq!(
        out.first(),
        Some(&"110"),
        "ETIMEDOUT expected: {} {}",
        r.stdout,
        r.stderr
    );
    let secs: f64 = out[1].parse().unwrap();
    assert!((0.8..2.0).contains(&secs), "{secs}");
    assert!(r.stderr.contains("timed out after 1s"), "{}", r.stderr);
    // Bad usage.
    let r = run(
        &[wrapper(), "--env", "curl"],
        &[("TIMEOUTSOCK_LIB", &lib)],
        LIMIT,
    );
    assert_eq!(r.code, Some(125));
}

#[test]
fn bad_peer_lists_exit_125_like_a_bad_secs() {
    let lib = s(&preload_lib());
    for list in ["localhost", "::1:5432", "10.0.0.0/33"] {
        for opt in ["--only", "--exclude"] {
            let r = run(
                &[wrapper(), opt, list, "/bin/true"],
                &[("TIMEOUTSOCK_LIB", &lib)],
                LIMIT,
            );
            assert_eq!(r.code, Some(125), "{opt} {list}: {}", r.stderr);
            assert!(r.stderr.contains("invalid peer list"), "{}", r.stderr);
        }
    }
    let r = run(
        &[wrapper(), "--only", "::1:5432", "/bin/true"],
        &[("TIMEOUTSOCK_LIB", &lib)],
        LIMIT,
    );
    assert!(r.stderr.contains("[::1]:5432"), "{}", r.stderr);
}

/// `go` from PATH, or None (and a note) when it is not installed.
#[test]
fn check_gives_go_programs_to_the_supervisor_never_to_the_library() {
    let d = scratch("go");
    let src = d.join("main.go");
    std::fs::write(
        &src,
        // net: with cgo, it links the C library dynamically.
        "package main\n\nimport (\n\t_ \"net\"\n\t\"os\"\n)\n\nfunc main() { f, _ := os.Create(\"ran\"); f.Close() }\n",
    )
    .unwrap();
    let lib = s(&preload_lib());
    for (name, cgo, why) in [
        ("go-static", false, "is statically linked (a Go program)"),
        ("go-cgo", true, "is a Go program (dynamically linked, cgo)"),
    ] {
        let bin = go_build(&src, &d.join(name), cgo);
        let r = check(&s(&bin), &[]);
        assert_supervised(&r, why);
        assert!(!r.stdout.contains("by the library"), "{}", r.stdout);
        // The cgo program is dynamically linked with glibc, and still not
        // the library's: under --preload-only nothing covers it.
        let r = run(
            &[wrapper(), "--preload-only", "--check", &s(&bin)],
            &[("TIMEOUTSOCK_LIB", &lib)],
            LIMIT,
        );
        assert_not_covered(&r, why);
    }
    assert!(!d.join("ran").exists());
    let _ = std::fs::remove_dir_all(&d);
}
