//! A child runner for the wrapper's newer tests (musl, check, package):
//! cleared environment, own process group killed by id, time limit.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs `argv` with a cleared environment plus `env`, in its own process
/// group, killed (the group, by id) after `limit`.
pub fn run(argv: &[&str], env: &[(&str, &str)], limit: Duration) -> Ran {
    let mut c = Command::new(argv[0]);
    c.args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let t0 = Instant::now();
    let mut child = c.spawn().unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let pid = child.id() as i32;
    // bounded: by `limit`
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if t0.elapsed() > limit {
            // SAFETY: kill of the child's own process group.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // SAFETY: as above; reaps nothing, ends leftovers of the group.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let out = child.wait_with_output().unwrap();
    Ran {
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        elapsed: t0.elapsed(),
    }
}

pub fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}
