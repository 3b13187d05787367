//! Running a child under a time limit: the environment scrubbed (every
//! `TIMEOUTSOCK_*` by prefix), its own process group, killed (the group, by
//! id) at the limit or when its guard drops; its output collected.

use super::build::{preload_lib, pyclient, python3, tsclient};
use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Variables that could send traffic elsewhere or preload something, removed
/// from a child's environment before the test's own are set; every
/// `TIMEOUTSOCK_*` variable goes too (by prefix: the developer's own
/// `TIMEOUTSOCK_ONLY`, `_EXCLUDE`, `_LOG`, ... must not reach a test).
const SCRUBBED_ENV: &[&str] = &[
    "LD_PRELOAD",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// Removes from `cmd`'s environment every variable of `SCRUBBED_ENV` and
/// every one whose name starts with `TIMEOUTSOCK_`, whatever this process
/// inherited.
pub fn scrub_env(cmd: &mut Command) -> &mut Command {
    for k in SCRUBBED_ENV {
        cmd.env_remove(k);
    }
    for (k, _) in std::env::vars_os() {
        if k.as_encoded_bytes().starts_with(b"TIMEOUTSOCK_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// A command to run under a time limit, with or without the library.
#[derive(Clone)]
pub struct Run {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    preload: bool,
    stdin_open: bool,
}

/// The client C program with arguments.
pub fn client<S: AsRef<str>>(args: &[S]) -> Run {
    Run::new(tsclient()).args(args)
}

/// The python client with arguments.
pub fn py<S: AsRef<str>>(args: &[S]) -> Run {
    Run::new(python3())
        .arg(pyclient().to_str().unwrap())
        .args(args)
}

impl Run {
    pub fn new(program: impl AsRef<Path>) -> Self {
        Run {
            program: program.as_ref().to_path_buf(),
            args: Vec::new(),
            env: Vec::new(),
            preload: false,
            stdin_open: false,
        }
    }
    pub fn arg(mut self, a: impl AsRef<str>) -> Self {
        self.args.push(a.as_ref().to_string());
        self
    }
    pub fn args<S: AsRef<str>>(mut self, a: &[S]) -> Self {
        self.args.extend(a.iter().map(|s| s.as_ref().to_string()));
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }
    /// Runs the program with `LD_PRELOAD` set to the library.
    pub fn preload(mut self) -> Self {
        self.preload = true;
        self
    }
    /// Gives the program a pipe as standard input that stays open (and
    /// silent) until the program has ended, instead of `/dev/null`: for
    /// programs that would stop at EOF on stdin.
    pub fn keep_stdin_open(mut self) -> Self {
        self.stdin_open = true;
        self
    }
    /// Shorthand: preload with `TIMEOUTSOCK_SECS=secs`.
    pub fn secs(self, secs: &str) -> Self {
        self.preload().env("TIMEOUTSOCK_SECS", secs)
    }

    pub fn describe(&self) -> String {
        let mut s = String::new();
        if self.preload {
            s.push_str("LD_PRELOAD=<lib> ");
        }
        for (k, v) in &self.env {
            s.push_str(&format!("{k}={v:?} "));
        }
        s.push_str(&self.program.display().to_string());
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }

    /// Starts the program; the returned guard kills it when dropped.
    pub fn spawn(&self) -> Proc {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        scrub_env(&mut cmd);
        if self.preload {
            cmd.env("LD_PRELOAD", preload_lib());
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(if self.stdin_open {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.describe()));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let out_thread = thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        let err_thread = thread::spawn(move || {
            let mut s = Vec::new();
            let _ = stderr.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        });
        Proc {
            child: Some(child),
            stdin,
            what: self.describe(),
            start,
            lines: Vec::new(),
            rx,
            out_thread: Some(out_thread),
            err_thread: Some(err_thread),
        }
    }

    /// Runs the program to its end or until `limit` has passed, whichever
    /// comes first; at the limit the child is killed by its PID.
    pub fn run(&self, limit: Duration) -> Outcome {
        self.spawn().finish(limit)
    }
}

/// A running child. Dropping it kills the child (by PID) and reaps it.
pub struct Proc {
    child: Option<Child>,
    /// The write end of the child's stdin pipe (`keep_stdin_open`): closed
    /// only after the child has been reaped.
    stdin: Option<ChildStdin>,
    what: String,
    start: Instant,
    lines: Vec<String>,
    rx: Receiver<String>,
    out_thread: Option<JoinHandle<()>>,
    err_thread: Option<JoinHandle<String>>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Waits up to `timeout` for a stdout line starting with `prefix`.
    pub fn wait_line(&mut self, prefix: &str, timeout: Duration) -> Option<String> {
        if let Some(l) = self.lines.iter().find(|l| l.starts_with(prefix)) {
            return Some(l.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            match self.rx.recv_timeout(left) {
                Ok(l) => {
                    let hit = l.starts_with(prefix);
                    self.lines.push(l.clone());
                    if hit {
                        return Some(l);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits for the child to exit until `limit` after its start; kills it
    /// at the limit. Collects its output.
    pub fn finish(mut self, limit: Duration) -> Outcome {
        let mut child = self.child.take().expect("child already finished");
        let deadline = self.start + limit;
        let mut status: Option<ExitStatus> = None;
        let mut killed = false;
        // bounded: ends at the deadline at the latest
        loop {
            if let Some(s) = child.try_wait().expect("try_wait failed") {
                status = Some(s);
                break;
            }
            if Instant::now() >= deadline {
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
        let elapsed = self.start.elapsed();
        if status.is_none() {
            killed = true;
            let _ = child.kill();
            status = Some(child.wait().expect("wait after kill failed"));
        }
        if let Some(t) = self.out_thread.take() {
            let _ = t.join();
        }
        while let Ok(l) = self.rx.try_recv() {
            self.lines.push(l);
        }
        let stderr = self
            .err_thread
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        Outcome {
            what: self.what.clone(),
            status: status.unwrap(),
            killed,
            elapsed,
            stdout: std::mem::take(&mut self.lines),
            stderr,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What a run gave: exit status, whether the harness had to kill it, its
/// wall time as seen by the harness, and its output.
pub struct Outcome {
    pub what: String,
    pub status: ExitStatus,
    pub killed: bool,
    pub elapsed: Duration,
    pub stdout: Vec<String>,
    pub stderr: String,
}

/// The key=value fields of one output line.
pub type Fields = HashMap<String, String>;

/// Splits `k=v k=v ...`; a `msg=` field takes the rest of the line.
pub fn parse_fields(line: &str) -> Fields {
    let mut f = Fields::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        if let Some(m) = rest.strip_prefix("msg=") {
            f.insert("msg".into(), m.to_string());
            break;
        }
        let (tok, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        if let Some((k, v)) = tok.split_once('=') {
            f.insert(k.to_string(), v.to_string());
        }
        rest = tail.trim_start();
    }
    f
}

impl Outcome {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The result line `op=OP ...` (the last one if there are several).
    pub fn op(&self, op: &str) -> Option<Fields> {
        let prefix = format!("op={op} ");
        self.stdout
            .iter()
            .rev()
            .find(|l| l.starts_with(&prefix))
            .map(|l| parse_fields(l))
    }

    /// Like [`Outcome::op`] but fails the test with diagnostics when missing.
    pub fn must_op(&self, op: &str) -> Fields {
        self.op(op)
            .unwrap_or_else(|| panic!("no result line for op={op}\n{self}"))
    }

    /// All lines starting with `prefix`, parsed.
    pub fn lines_with(&self, prefix: &str) -> Vec<Fields> {
        self.stdout
            .iter()
            .filter(|l| l.starts_with(prefix))
            .map(|l| parse_fields(l))
            .collect()
    }

    pub fn was_waiting_in(&self, op: &str) -> bool {
        let l = format!("waiting op={op}");
        self.stdout.contains(&l)
    }

    /// Lines on stderr that the library wrote.
    pub fn lib_stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("timeoutsock:"))
            .collect()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- command: {}", self.what)?;
        writeln!(
            f,
            "--- status: {:?} killed_by_harness={} elapsed={:?}",
            self.status, self.killed, self.elapsed
        )?;
        writeln!(f, "--- stdout:")?;
        for l in &self.stdout {
            writeln!(f, "{l}")?;
        }
        writeln!(f, "--- stderr:\n{}--- end", self.stderr)
    }
}
