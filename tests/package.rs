//! Packaging: the Debian package built by scripts/package (contents, installed
//! into a scratch root with `dpkg -x`, its wrapper run there against a silent
//! loopback server), the completions, and the highest glibc symbol version
//! the library needs (the minimum glibc stated in the README).

mod common;

use common::{manifest_dir, preload_lib, run, s};
use std::process::{Command, Stdio};
use std::time::Duration;

fn triplet() -> String {
    let o = Command::new("gcc").arg("-dumpmachine").output().unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[test]
fn the_debian_package_installs_a_working_wrapper() {
    let _ = preload_lib(); // the library build the package's build reuses
    let target = manifest_dir().join("target").join("preload");
    let out = manifest_dir()
        .join("target")
        .join("preload-pkg")
        .join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&out);
    let r = Command::new(manifest_dir().join("scripts/package"))
        .arg(&out)
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let deb = String::from_utf8(r.stdout).unwrap().trim().to_string();
    let list = Command::new("dpkg-deb")
        .args(["-c", &deb])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    let t = triplet();
    for f in [
        "./usr/bin/timeoutsock".to_string(),
        format!("./usr/lib/{t}/libtimeoutsock.so"),
        "./usr/share/man/man1/timeoutsock.1.gz".into(),
        "./usr/share/bash-completion/completions/timeoutsock".into(),
        "./usr/share/zsh/site-functions/_timeoutsock".into(),
        "./usr/share/libtimeoutsock/systemd/timeoutsock.conf".into(),
        "./usr/share/doc/timeoutsock/copyright".into(),
    ] {
        assert!(
            list.lines().any(|l| l.ends_with(&f)),
            "{f} missing:\n{list}"
        );
    }
    let root = out.join("root");
    let x = Command::new("dpkg")
        .arg("-x")
        .arg(&deb)
        .arg(&root)
        .status()
        .unwrap();
    assert!(x.success());
    // The drop-in names the packaged path.
    let dropin =
        std::fs::read_to_string(root.join("usr/share/libtimeoutsock/systemd/timeoutsock.conf"))
            .unwrap();
    assert!(
        dropin.contains(&format!(
            "\nEnvironment=LD_PRELOAD=/usr/lib/{t}/libtimeoutsock.so\n"
        )),
        "{dropin}"
    );
    // The bash completion parses.
    let bash = root.join("usr/share/bash-completion/completions/timeoutsock");
    assert_bash_parses(&bash);
    // The installed wrapper finds the installed library and times out a
    // client of a silent loopback server.
    let wrapper = s(&root.join("usr/bin/timeoutsock"));
    let lib = s(&root.join(format!("usr/lib/{t}/libtimeoutsock.so")));
    let r = run(&[&wrapper, "--version"], &[], Duration::from_secs(10));
    assert!(
        r.stdout.contains(&format!("library: {lib}\n")),
        "{}",
        r.stdout
    );
    let srv = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = srv.local_addr().unwrap().port();
    let py = format!(
        "import socket\ns=socket.create_connection(('127.0.0.1',{port}))\ntry:\n  s.recv(1)\nexcept OSError as e:\n  print(e.errno)\n"
    );
    let r = run(
        &[&wrapper, "-t", "1", "--", "python3", "-c", &py],
        &[],
        Duration::from_secs(10),
    );
    assert_eq!(
        r.stdout.trim(),
        "110",
        "ETIMEDOUT expected: {} {}",
        r.stdout,
        r.stderr
    );
    // Control: without the wrapper the client waits on.
    let r = run(&["python3", "-c", &py], &[], Duration::from_secs(2));
    assert_eq!(r.code, None, "the hang is not real: {}", r.stdout);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn completions_parse_and_name_every_option() {
    let dir = manifest_dir().join("completions");
    let bash = dir.join("timeoutsock.bash");
    assert_bash_parses(&bash);
    let b = std::fs::read_to_string(&bash).unwrap();
    let z = std::fs::read_to_string(dir.join("_timeoutsock")).unwrap();
    for opt in [
        "--timeout",
        "--connect",
        "--read",
        "--write",
        "--accept",
        "--exclude",
        "--only",
        "--log",
        "--force",
        "--preload-only",
        "--pid",
        "--check",
        "--env",
        "--help",
        "--version",
    ] {
        assert!(b.contains(opt) && z.contains(opt), "{opt}");
    }
}

/// The minimum glibc is the highest GLIBC_ version among the library's
/// imports (`objdump -T`): clock_gettime@GLIBC_2.17 (dlsym is found by the
/// constructor's own walk, not imported; gettid is the system call;
/// functions newer than that, such as close_range, are looked up at load
/// and missing ones fail with ENOSYS). The README and the package's
/// `Depends: libc6 (>= 2.17)` state it.
#[test]
fn the_library_needs_glibc_2_17_at_most() {
    let o = Command::new("objdump")
        .arg("-T")
        .arg(preload_lib())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let mut max = (0u32, 0u32);
    for v in text.split("GLIBC_").skip(1) {
        let v: String = v
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let mut p = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
        let ver = (p.next().unwrap_or(0), p.next().unwrap_or(0));
        max = max.max(ver);
    }
    assert_eq!(max, (2, 17), "{text}");
    assert!(!text.contains(" dlsym"), "dlsym is imported\n{text}");
    let readme = std::fs::read_to_string(manifest_dir().join("README.md")).unwrap();
    assert!(
        readme.contains("glibc 2.17"),
        "README must state the minimum glibc"
    );
    let pkg = std::fs::read_to_string(manifest_dir().join("scripts/package")).unwrap();
    assert!(pkg.contains("libc6 (>= 2.17)"));
}

/// The Dockerfiles cannot run here (no docker): their paths are checked
/// against the scripts and layouts they rely on.
#[test]
fn dockerfiles_agree_with_the_build_and_the_layout() {
    let root = manifest_dir();
    let alpine = std::fs::read_to_string(root.join("examples/docker/Dockerfile.alpine")).unwrap();
    let debian = std::fs::read_to_string(root.join("examples/docker/Dockerfile.debian")).unwrap();
    let build_musl = std::fs::read_to_string(root.join("scripts/build-musl")).unwrap();
    assert!(alpine.contains("RUN scripts/build-musl"));
    assert!(build_musl.contains("$ARCH-unknown-linux-musl") && build_musl.contains("--release"));
    assert!(alpine.contains(
        "target/x86_64-unknown-linux-musl/release/libtimeoutsock.so /out/usr/local/lib/libtimeoutsock-musl.so"
    ));
    assert!(alpine.contains("ENV LD_PRELOAD=/usr/local/lib/libtimeoutsock-musl.so"));
    // Every FROM names an image; the build stage is used.
    assert!(alpine.contains("FROM rust:alpine AS build") && alpine.contains("COPY --from=build"));
    let t = triplet();
    assert!(debian.contains(&format!("ENV LD_PRELOAD=/usr/lib/{t}/libtimeoutsock.so")));
    assert!(debian.contains("target/debian/timeoutsock_*_amd64.deb"));
    let package = std::fs::read_to_string(root.join("scripts/package")).unwrap();
    assert!(package.contains("$ROOT/target/debian") && package.contains("LIBDIR=lib/$TRIPLET"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains(&format!(
        "ENV LD_PRELOAD=/usr/lib/{t}/libtimeoutsock.so TIMEOUTSOCK_SECS=20"
    )));
    assert!(readme.contains("timeoutsock --env -t 20 --log >> \"$GITHUB_ENV\""));
    assert!(readme.contains("timeoutsock --check -- PROGRAM"));
}

/// `bash -n FILE` succeeds: the file parses as bash.
fn assert_bash_parses(file: &std::path::Path) {
    let ok = Command::new("bash")
        .arg("-n")
        .arg(file)
        .status()
        .unwrap()
        .success();
    assert!(ok, "{} does not parse as bash", file.display());
}
