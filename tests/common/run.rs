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

/// A child that leads its own process group (`Group::spawn` makes it so):
/// dropping it kills the group (by its id, the child's PID) and reaps the
/// child. The one place where the harness kills a child.
pub struct Group(pub Child);

impl Group {
    /// Starts `cmd` as the leader of a new process group.
    pub fn spawn(cmd: &mut Command) -> std::io::Result<Group> {
        cmd.process_group(0).spawn().map(Group)
    }
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
    /// SIGKILL to the whole group: the child and whatever it started.
    pub fn kill(&mut self) {
        // SAFETY: plain kill(2) on the process group this harness created.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
    }
    /// Waits for the child until `deadline`; `None` if it still runs then.
    pub fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        // bounded: ends at the deadline at the latest
        loop {
            if let Some(s) = self.0.try_wait().expect("try_wait failed") {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
    /// Waits until `limit` after `start`, then kills the group (leftovers
    /// too, also when the child ended by itself) and reaps the child.
    pub fn finish(&mut self, start: Instant, limit: Duration) -> Finished {
        let status = self.wait_until(start + limit);
        let elapsed = start.elapsed();
        self.kill();
        let (status, killed) = match status {
            Some(s) => (s, false),
            None => (self.0.wait().expect("wait after kill failed"), true),
        };
        Finished {
            status,
            killed,
            elapsed,
        }
    }
}

/// How a [`Group`] ended: its status, whether it was still running at the
/// limit (and killed), and the time from start to its end or the limit.
pub struct Finished {
    pub status: ExitStatus,
    pub killed: bool,
    pub elapsed: Duration,
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
        let _ = self.0.wait();
    }
}

/// Reads `r` to its end in a thread.
pub fn read_all<R: Read + Send + 'static>(mut r: R) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

/// What [`run`] gave.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs `argv` with a cleared environment (`PATH=/usr/bin:/bin`) plus
/// `env`, stdin from /dev/null, in its own process group, killed (the
/// group, by id) after `limit`. `code` is `None` when it was killed.
pub fn run(argv: &[&str], env: &[(&str, &str)], limit: Duration) -> Ran {
    let mut c = Command::new(argv[0]);
    c.args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let t0 = Instant::now();
    let mut g = Group::spawn(&mut c).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let out = read_all(g.0.stdout.take().unwrap());
    let err = read_all(g.0.stderr.take().unwrap());
    let Finished {
        status,
        killed,
        elapsed,
    } = g.finish(t0, limit);
    Ran {
        code: if killed { None } else { status.code() },
        stdout: String::from_utf8_lossy(&out.join().unwrap_or_default()).into(),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into(),
        elapsed,
    }
}

/// A path as a `String` (test paths are UTF-8).
pub fn s(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
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
        let mut child = Group::spawn(&mut cmd)
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.describe()));
        let stdin = child.0.stdin.take();
        let stdout = child.0.stdout.take().unwrap();
        let stderr = read_all(child.0.stderr.take().unwrap());
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
        Proc {
            child: Some(child),
            stdin,
            what: self.describe(),
            start,
            lines: Vec::new(),
            rx,
            out_thread: Some(out_thread),
            err_thread: Some(stderr),
        }
    }

    /// Runs the program to its end or until `limit` has passed, whichever
    /// comes first; at the limit its process group is killed.
    pub fn run(&self, limit: Duration) -> Outcome {
        self.spawn().finish(limit)
    }
}

/// A running child. Dropping it kills the child's process group (by id)
/// and reaps the child.
pub struct Proc {
    child: Option<Group>,
    /// The write end of the child's stdin pipe (`keep_stdin_open`): closed
    /// only after the child has been reaped.
    stdin: Option<ChildStdin>,
    what: String,
    start: Instant,
    lines: Vec<String>,
    rx: Receiver<String>,
    out_thread: Option<JoinHandle<()>>,
    err_thread: Option<JoinHandle<Vec<u8>>>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Group::pid).unwrap_or(0)
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
        let Finished {
            status,
            killed,
            elapsed,
        } = child.finish(self.start, limit);
        if let Some(t) = self.out_thread.take() {
            let _ = t.join();
        }
        while let Ok(l) = self.rx.try_recv() {
            self.lines.push(l);
        }
        let stderr = self
            .err_thread
            .take()
            .map(|t| String::from_utf8_lossy(&t.join().unwrap_or_default()).into_owned())
            .unwrap_or_default();
        Outcome {
            what: self.what.clone(),
            status,
            killed,
            elapsed,
            stdout: std::mem::take(&mut self.lines),
            stderr,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // the group is killed and the child reaped before stdin closes
        drop(self.child.take());
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

/// A library stderr line `timeoutsock: PROGRAM[PID]: rest` as
/// `(PROGRAM, PID, "timeoutsock: rest")`; `None` if it lacks that shape.
pub fn split_who(line: &str) -> Option<(&str, u32, String)> {
    let rest = line.strip_prefix("timeoutsock: ")?;
    let end = rest.find("]: ")?;
    let open = rest[..end].rfind('[')?;
    let pid = rest[open + 1..end].parse().ok()?;
    Some((
        &rest[..open],
        pid,
        format!("timeoutsock: {}", &rest[end + 3..]),
    ))
}

/// The line without its `PROGRAM[PID]: ` part (unchanged if it has none).
pub fn without_who(line: &str) -> String {
    split_who(line).map_or_else(|| line.to_string(), |(_, _, l)| l)
}

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
