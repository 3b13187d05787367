//! Shared harness of the integration tests: builds the preload library and the
//! C test client once per test binary, runs clients with a hard time limit,
//! and provides loopback servers that make TCP calls hang in known ways.
//!
//! Every server listens on loopback only, every loop here is bounded, and
//! every child process is killed (by its own PID) when its guard drops.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub const V4: &str = "127.0.0.1";
pub const V6: &str = "::1";

/// Longest time any server thread lives, whatever the test does.
const SERVER_MAX_LIFE: Duration = Duration::from_secs(90);
/// Poll interval of server threads waiting for connections or for stop.
const TICK: Duration = Duration::from_millis(10);

// ---------------------------------------------------------------------------
// Building the library and the client
// ---------------------------------------------------------------------------

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn preload_dir() -> PathBuf {
    manifest_dir().join("target").join("preload")
}

/// Builds the library once per test binary, in its own target directory so
/// that the nested cargo does not wait for the lock of the outer one.
/// `TIMEOUTSOCK_TEST_LIB=/path/to/libtimeoutsock.so` tests that file instead
/// (an installed copy, or a deliberately broken build to check the tests).
pub fn preload_lib() -> PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        if let Some(p) = std::env::var_os("TIMEOUTSOCK_TEST_LIB") {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "TIMEOUTSOCK_TEST_LIB={} is no file",
                p.display()
            );
            return std::fs::canonicalize(p).unwrap();
        }
        let cargo = option_env!("CARGO").unwrap_or("cargo");
        let out = Command::new(cargo)
            .args(["build", "--release", "--lib", "--manifest-path"])
            .arg(manifest_dir().join("Cargo.toml"))
            .arg("--target-dir")
            .arg(preload_dir())
            .stdin(Stdio::null())
            .output()
            .expect("cannot run cargo to build the preload library");
        assert!(
            out.status.success(),
            "building the preload library failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lib = preload_dir().join("release").join("libtimeoutsock.so");
        assert!(lib.exists(), "{} missing after build", lib.display());
        lib
    })
    .clone()
}

/// Compiles tests/c/tsclient.c once per test binary, fortified, so that its
/// `_chk` modes call `__read_chk`, `__recv_chk` and `__recvfrom_chk`.
pub fn tsclient() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    compile_c("tsclient", &BIN)
}

/// The real python3 interpreter (not a wrapper script such as a pyenv shim,
/// which would be a second program under the preload).
pub fn python3() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .stdin(Stdio::null())
            .output()
            .expect("python3 not found");
        assert!(out.status.success(), "python3 -c failed");
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
    .clone()
}

pub fn pyclient() -> PathBuf {
    manifest_dir().join("tests").join("py").join("pyclient.py")
}

/// Compiles tests/c/NAME.c once per test binary
/// (`gcc -O2 -D_FORTIFY_SOURCE=2 -Wall`, warnings are errors), into
/// target/preload/NAME.
fn compile_c(name: &str, cell: &'static OnceLock<PathBuf>) -> PathBuf {
    cell.get_or_init(|| {
        std::fs::create_dir_all(preload_dir()).unwrap();
        let bin = preload_dir().join(name);
        let tmp = preload_dir().join(format!("{name}.tmp.{}", std::process::id()));
        let src = manifest_dir()
            .join("tests")
            .join("c")
            .join(format!("{name}.c"));
        let out = Command::new("gcc")
            .args(["-O2", "-D_FORTIFY_SOURCE=2", "-Wall", "-o"])
            .arg(&tmp)
            .arg(&src)
            .stdin(Stdio::null())
            .output()
            .expect("cannot run gcc");
        assert!(
            out.status.success(),
            "compiling {} failed:\n{}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "gcc warnings in {}:\n{}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::rename(&tmp, &bin).unwrap();
        bin
    })
    .clone()
}

/// tests/c/waitclient.c, compiled fortified: its `poll_chk`/`ppoll_chk`
/// kinds call `__poll_chk`/`__ppoll_chk`.
pub fn waitclient() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    compile_c("waitclient", &BIN)
}

/// tests/c/adverse.c, compiled like the other clients: one mode per
/// adversarial case of issue 10.
pub fn adverse() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    compile_c("adverse", &BIN)
}

/// tests/c/NAME.c built as a shared library (a second preload), once per
/// test binary, into target/preload/libNAME.so.
pub fn c_preload(name: &str) -> PathBuf {
    static LIBS: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut libs = LIBS.lock().unwrap();
    if let Some((_, p)) = libs.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    std::fs::create_dir_all(preload_dir()).unwrap();
    let so = preload_dir().join(format!("lib{name}.so"));
    let src = manifest_dir()
        .join("tests")
        .join("c")
        .join(format!("{name}.c"));
    let out = Command::new("gcc")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
        .arg(&so)
        .arg(&src)
        .arg("-ldl")
        .stdin(Stdio::null())
        .output()
        .expect("cannot run gcc");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "compiling {} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    libs.push((name.to_string(), so.clone()));
    so
}

/// The wait client with arguments.
pub fn wclient<S: AsRef<str>>(args: &[S]) -> Run {
    Run::new(waitclient()).args(args)
}

/// The dynamic symbols that `file` imports (`nm -D --undefined-only`),
/// without their version suffix.
pub fn imported_symbols(file: &Path) -> Vec<String> {
    let out = Command::new("nm")
        .args(["-D", "--undefined-only"])
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run nm (binutils)");
    assert!(out.status.success(), "nm -D {} failed", file.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(|s| s.split('@').next().unwrap_or(s).to_string())
        .collect()
}

/// The dynamic symbols that `file` defines (`nm -D --defined-only`).
pub fn exported_symbols(file: &Path) -> Vec<String> {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run nm (binutils)");
    assert!(out.status.success(), "nm -D {} failed", file.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(|s| s.split('@').next().unwrap_or(s).to_string())
        .collect()
}

/// The absolute path of an installed program, found in `PATH`. Fails the
/// test (never skips it) when the program is missing: .ci/run installs it
/// from the Debian package `package`.
pub fn require_program(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(name);
        if let Ok(m) = std::fs::metadata(&p) {
            use std::os::unix::fs::PermissionsExt;
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return p;
            }
        }
    }
    panic!(
        "`{name}` is not installed (not found in PATH): this test runs the real program; \
         install the Debian package `{package}` (`apt-get install {package}`, as .ci/run does)"
    );
}

/// A file in the temporary directory, removed when dropped.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    /// A fresh, not yet existing path whose name contains `tag`.
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::AtomicU64;
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("timeoutsock-test-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempFile { path }
    }
    /// A file holding `data`.
    pub fn with(tag: &str, data: &[u8]) -> Self {
        let f = Self::new(tag);
        std::fs::write(&f.path, data).expect("write temporary file");
        f
    }
    pub fn path_s(&self) -> String {
        self.path.to_str().expect("utf-8 temp path").to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

// ---------------------------------------------------------------------------
// Running a client
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------

pub fn field_i64(o: &Outcome, f: &Fields, k: &str) -> i64 {
    f.get(k)
        .unwrap_or_else(|| panic!("field {k} missing in {f:?}\n{o}"))
        .parse()
        .unwrap_or_else(|_| panic!("field {k} not a number in {f:?}\n{o}"))
}

pub fn field<'a>(o: &Outcome, f: &'a Fields, k: &str) -> &'a str {
    f.get(k)
        .unwrap_or_else(|| panic!("field {k} missing in {f:?}\n{o}"))
}

/// Asserts that `ms` lies in the contract's window for a timeout of `t`
/// seconds: no earlier than 0.8·T and no later than T + 1 s.
pub fn assert_timeout_window(o: &Outcome, what: &str, ms: i64, t: f64) {
    let lo = (0.8 * t * 1000.0) as i64;
    let hi = ((t + 1.0) * 1000.0) as i64;
    assert!(
        (lo..=hi).contains(&ms),
        "{what}: took {ms} ms, expected a timeout of {t} s within [{lo}, {hi}] ms\n{o}"
    );
}

/// Asserts that the process ended by itself with the result line `op`
/// carrying `ret` and `errno`; returns that line.
pub fn assert_op(o: &Outcome, op: &str, ret: i64, errno: &str) -> Fields {
    assert!(!o.killed, "{op}: process still running at the limit\n{o}");
    let f = o.must_op(op);
    assert_eq!(field_i64(o, &f, "ret"), ret, "{op}: ret\n{o}");
    assert_eq!(field(o, &f, "errno"), errno, "{op}: errno\n{o}");
    f
}

/// Asserts that `op` failed with ETIMEDOUT within the window for `t` s.
pub fn assert_timed_out(o: &Outcome, op: &str, t: f64) -> Fields {
    let f = assert_op(o, op, -1, "ETIMEDOUT");
    let ms = field_i64(o, &f, "elapsed_ms");
    assert_timeout_window(o, op, ms, t);
    f
}

/// Asserts that the process was still blocked in `op` when the harness
/// killed it at its limit.
pub fn assert_hung_in(o: &Outcome, op: &str) {
    assert!(
        o.killed,
        "{op}: expected to be still blocked at the limit, but it ended\n{o}"
    );
    assert!(
        o.was_waiting_in(op),
        "{op}: killed, but it never reached the call\n{o}"
    );
    assert!(
        o.op(op).is_none(),
        "{op}: killed, but the call had returned\n{o}"
    );
}

/// Runs several commands at once (they mostly sleep) and returns their
/// outcomes in order.
pub fn run_all(runs: &[(Run, Duration)]) -> Vec<Outcome> {
    thread::scope(|s| {
        let hs: Vec<_> = runs
            .iter()
            .map(|(r, lim)| s.spawn(move || r.run(*lim)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

// ---------------------------------------------------------------------------
// Test data
// ---------------------------------------------------------------------------

pub const FNV_INIT: u64 = 0xcbf29ce484222325;

/// FNV-1a 64, the same as in tsclient.c.
pub fn fnv(mut h: u64, data: &[u8]) -> u64 {
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The xorshift64 byte stream of tsclient.c's fill_pattern().
pub fn pattern(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E3779B97F4A7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn hex(h: u64) -> String {
    format!("{h:016x}")
}

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

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

fn ip(host: &str) -> IpAddr {
    host.parse().expect("loopback address")
}

fn bind_listener(host: &str) -> TcpListener {
    let l = TcpListener::bind(SocketAddr::new(ip(host), 0)).expect("bind loopback");
    l.set_nonblocking(true).unwrap();
    l
}

/// Spawns a server thread: `on_conn` is called for each accepted connection
/// (in the server thread, with the stop flag); connections it returns are held
/// open until the server stops. Bounded by the stop flag and SERVER_MAX_LIFE.
fn serve<F>(host: &str, listener: TcpListener, fds: Vec<OwnedFd>, mut on_conn: F) -> Server
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

// ---------------------------------------------------------------------------
// HTTP servers for real clients (curl, wget)
// ---------------------------------------------------------------------------

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
