//! The `timeoutsock` wrapper command (src/bin/timeoutsock/), the install
//! scripts and the examples: what the command hands to the program it runs
//! (variables, LD_PRELOAD, exit status, signals, streams), its refusals and
//! errors, finding the library, and the user stories end to end with curl
//! against a silent loopback server.
//!
//! Every command runs with a cleared environment plus what the test gives
//! it, in its own process group, under a time limit; the group is killed by
//! its id when the run ends. Servers listen on 127.0.0.1 only.

mod common;

use common::*;
use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// Exit statuses of the wrapper (see `timeoutsock --help`).
const NO_PRELOAD: i32 = 122;
const USAGE: i32 = 125;
const CANNOT_INVOKE: i32 = 126;
const NOT_FOUND: i32 = 127;
const TRY_HELP: &str = "Try 'timeoutsock --help' for more information.";

/// A run that should end by itself ends well before this.
const DONE: Duration = Duration::from_secs(10);

fn wrapper() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_timeoutsock"))
}

fn lib_s() -> String {
    preload_lib()
        .to_str()
        .expect("utf-8 library path")
        .to_string()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

// ---------------------------------------------------------------------------
// Running commands
// ---------------------------------------------------------------------------

/// A command with a controlled environment: cleared, then `PATH` (the
/// test's) and whatever the test sets.
#[derive(Clone)]
struct Cmd {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    close_stdin: bool,
    ignore_sigpipe: bool,
}

impl Cmd {
    fn new(program: impl AsRef<Path>) -> Cmd {
        Cmd {
            program: program.as_ref().to_path_buf(),
            args: Vec::new(),
            env: vec![("PATH".into(), std::env::var("PATH").unwrap_or_default())],
            cwd: None,
            stdin: None,
            close_stdin: false,
            ignore_sigpipe: false,
        }
    }
    /// The wrapper under test, told where the freshly built library is.
    fn wrapper<S: AsRef<str>>(args: &[S]) -> Cmd {
        Cmd::new(wrapper())
            .env("TIMEOUTSOCK_LIB", &lib_s())
            .args(args)
    }
    fn args<S: AsRef<str>>(mut self, a: &[S]) -> Cmd {
        self.args
            .extend(a.iter().map(|s| OsString::from(s.as_ref())));
        self
    }
    fn env(mut self, k: &str, v: &str) -> Cmd {
        self.env.retain(|(n, _)| n != k);
        self.env.push((k.into(), v.into()));
        self
    }
    fn no_env(mut self, k: &str) -> Cmd {
        self.env.retain(|(n, _)| n != k);
        self
    }
    fn cwd(mut self, d: &Path) -> Cmd {
        self.cwd = Some(d.to_path_buf());
        self
    }
    fn stdin(mut self, data: &[u8]) -> Cmd {
        self.stdin = Some(data.to_vec());
        self
    }
    fn describe(&self) -> String {
        let mut s: String = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v:?} "))
            .collect();
        s.push_str(&self.program.display().to_string());
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    /// Runs to the end or until `limit`, when the process group is killed.
    fn run(&self, limit: Duration) -> Ran {
        let mut c = Command::new(&self.program);
        c.args(&self.args).env_clear();
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        c.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let (close_stdin, ignore_sigpipe) = (self.close_stdin, self.ignore_sigpipe);
        // SAFETY: the closure only makes async-signal-safe calls (close,
        // signal) between fork and exec.
        unsafe {
            c.pre_exec(move || {
                if close_stdin {
                    libc::close(0);
                }
                if ignore_sigpipe {
                    libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                }
                Ok(())
            });
        }
        let start = Instant::now();
        let mut g = Group::spawn(&mut c)
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.describe()));
        let pid = g.pid();
        let input = g.0.stdin.take();
        let data = self.stdin.clone().unwrap_or_default();
        let writer = thread::spawn(move || {
            if let Some(mut i) = input {
                let _ = i.write_all(&data);
            }
        });
        let out_t = read_all(g.0.stdout.take().unwrap());
        let err_t = read_all(g.0.stderr.take().unwrap());
        let Finished {
            status,
            killed,
            elapsed,
        } = g.finish(start, limit);
        let _ = writer.join();
        Ran {
            what: self.describe(),
            pid,
            status,
            killed,
            elapsed,
            stdout: out_t.join().unwrap_or_default(),
            stderr: String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned(),
        }
    }
}

/// What a run gave.
struct Ran {
    what: String,
    pid: u32,
    status: ExitStatus,
    killed: bool,
    elapsed: Duration,
    stdout: Vec<u8>,
    stderr: String,
}

impl Ran {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }
    fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// `KEY=value` lines of stdout (the output of `env`).
    fn env_map(&self) -> HashMap<String, String> {
        self.out()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
    fn assert_code(&self, code: i32) {
        assert!(!self.killed, "still running at the limit\n{self}");
        assert_eq!(self.code(), Some(code), "exit status\n{self}");
    }
    /// A refusal or error of the wrapper itself: the status, one message
    /// line containing `msg`, the command not run (nothing on stdout).
    fn assert_wrapper_error(&self, code: i32, msg: &str) {
        self.assert_code(code);
        assert!(self.stdout.is_empty(), "the command ran\n{self}");
        let first = self.stderr.lines().next().unwrap_or("");
        assert!(
            first.starts_with("timeoutsock: ") && first.contains(msg),
            "expected a message containing {msg:?}\n{self}"
        );
    }
    /// Ended by itself with a non-zero status within [lo, hi] seconds.
    fn assert_failed_within(&self, lo: f64, hi: f64) {
        assert!(!self.killed, "still running at the limit\n{self}");
        assert!(
            self.code().is_some_and(|c| c != 0),
            "expected a non-zero exit status\n{self}"
        );
        let s = self.elapsed.as_secs_f64();
        assert!(
            (lo..=hi).contains(&s),
            "ended after {s:.2} s, expected within [{lo}, {hi}] s\n{self}"
        );
    }
}

impl fmt::Display for Ran {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- command: {}", self.what)?;
        writeln!(
            f,
            "--- status: {:?} killed_at_limit={} elapsed={:?}",
            self.status, self.killed, self.elapsed
        )?;
        writeln!(f, "--- stdout:\n{}", self.out())?;
        writeln!(f, "--- stderr:\n{}--- end", self.stderr)
    }
}

// ---------------------------------------------------------------------------
// Files and test programs
// ---------------------------------------------------------------------------

/// A directory removed (with its contents) when dropped.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(tag: &str) -> TempDir {
        Self::new_in(&std::env::temp_dir(), tag)
    }
    fn new_in(parent: &Path, tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let path = parent.join(format!(
            "timeoutsock-wrapper-{}-{n}-{tag}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temporary directory");
        TempDir { path }
    }
    fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn write_file(p: &Path, data: &str, mode: u32) {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(p, data).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn copy_file(from: &Path, to: &Path) {
    if let Some(d) = to.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
}

/// `exitcode N` exits with status N: a C program built once per test binary
/// three ways — dynamically linked, `-static`, `-static-pie` — into
/// target/preload/wrapper/. Needs gcc and libc6-dev (libc.a).
struct ExitCode {
    dynamic: PathBuf,
    static_: PathBuf,
    static_pie: PathBuf,
}

fn exitcode() -> &'static ExitCode {
    static BINS: OnceLock<ExitCode> = OnceLock::new();
    BINS.get_or_init(|| {
        let dir = manifest_dir().join("target").join("preload").join("wrapper");
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join(format!("exitcode.{}.c", std::process::id()));
        std::fs::write(
            &src,
            "#include <stdlib.h>\nint main(int argc, char **argv) { return argc > 1 ? atoi(argv[1]) : 0; }\n",
        )
        .unwrap();
        // (static builds need libc6-dev's libc.a)
        let build = |name: &str, flags: &[&str]| {
            let flags = [&["-O1", "-Wall"], flags].concat();
            gcc("gcc", &src, &dir.join(name), &flags)
        };
        let bins = ExitCode {
            dynamic: build("exitcode-dynamic", &[]),
            static_: build("exitcode-static", &["-static"]),
            static_pie: build("exitcode-static-pie", &["-static-pie"]),
        };
        let _ = std::fs::remove_file(&src);
        bins
    })
}

/// The dynamic loader this test process runs with, from /proc/self/maps.
fn dynamic_loader() -> PathBuf {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| {
            let name = Path::new(p)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("");
            name.starts_with("ld-") && name.contains(".so")
        })
        .map(PathBuf::from)
        .expect("no dynamic loader in /proc/self/maps")
}

/// Whether `dir` is on a `nosuid` mount (setuid bits ignored there).
fn nosuid(dir: &Path) -> bool {
    let c = std::ffi::CString::new(s(dir)).unwrap();
    // SAFETY: statvfs is plain data; all zeroes is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a buffer of the right type.
    let r = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    assert_eq!(r, 0, "statvfs {}", dir.display());
    st.f_flag & libc::ST_NOSUID != 0
}

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/")
}

/// curl, found in PATH by the wrapper: no configuration file, errors shown,
/// no proxy, no timeout of its own.
fn curl_args(port: u16) -> Vec<String> {
    require_program("curl", "curl");
    ["curl", "-q", "-sS", "--noproxy", "*"]
        .iter()
        .map(|a| a.to_string())
        .chain([url(port)])
        .collect()
}

fn with<S: AsRef<str>>(a: &[S], b: &[String]) -> Vec<String> {
    a.iter()
        .map(|x| x.as_ref().to_string())
        .chain(b.iter().cloned())
        .collect()
}

// ---------------------------------------------------------------------------
// What the command is given
// ---------------------------------------------------------------------------

#[test]
fn options_set_the_variables_and_the_library_is_preloaded() {
    let o = Cmd::wrapper(&[
        "-t",
        "2.5",
        "--connect",
        "1",
        "--read=0",
        "--write",
        "3",
        "--accept",
        "4",
        "--exclude",
        "10.0.0.0/8,[::1]:6379",
        "--only",
        "127.0.0.1:80",
        "--log",
        "env",
    ])
    .env("UNRELATED", "a b=c:d")
    .run(DONE);
    o.assert_code(0);
    let env = o.env_map();
    let want = [
        ("TIMEOUTSOCK_SECS", "2.5"),
        ("TIMEOUTSOCK_CONNECT_SECS", "1"),
        ("TIMEOUTSOCK_READ_SECS", "0"),
        ("TIMEOUTSOCK_WRITE_SECS", "3"),
        ("TIMEOUTSOCK_ACCEPT_SECS", "4"),
        ("TIMEOUTSOCK_EXCLUDE", "10.0.0.0/8,[::1]:6379"),
        ("TIMEOUTSOCK_ONLY", "127.0.0.1:80"),
        ("TIMEOUTSOCK_LOG", "1"),
        ("UNRELATED", "a b=c:d"),
        ("TIMEOUTSOCK_LIB", &lib_s()),
        ("LD_PRELOAD", &lib_s()),
    ];
    for (k, v) in want {
        assert_eq!(env.get(k).map(String::as_str), Some(v), "{k}\n{o}");
    }
    assert_eq!(
        env.len(),
        want.len() + 1,
        "PATH and nothing else added\n{o}"
    );
}

#[test]
fn without_options_only_the_default_timeout_is_set() {
    let o = Cmd::wrapper(&["env"]).run(DONE);
    o.assert_code(0);
    let env = o.env_map();
    assert_eq!(
        env.get("TIMEOUTSOCK_SECS").map(String::as_str),
        Some("30"),
        "{o}"
    );
    for k in [
        "TIMEOUTSOCK_CONNECT_SECS",
        "TIMEOUTSOCK_READ_SECS",
        "TIMEOUTSOCK_WRITE_SECS",
        "TIMEOUTSOCK_ACCEPT_SECS",
        "TIMEOUTSOCK_EXCLUDE",
        "TIMEOUTSOCK_ONLY",
        "TIMEOUTSOCK_LOG",
    ] {
        assert!(!env.contains_key(k), "{k} set without its option\n{o}");
    }
}

#[test]
fn default_timeout_comes_from_the_environment_and_is_checked() {
    let secs = |c: Cmd| {
        let o = c.run(DONE);
        o.assert_code(0);
        o.env_map()
            .get("TIMEOUTSOCK_SECS")
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        secs(Cmd::wrapper(&["env"]).env("TIMEOUTSOCK_SECS", "7")),
        "7"
    );
    assert_eq!(
        secs(Cmd::wrapper(&["env"]).env("TIMEOUTSOCK_SECS", "")),
        "30"
    );
    assert_eq!(
        secs(Cmd::wrapper(&["-t", "3", "env"]).env("TIMEOUTSOCK_SECS", "7")),
        "3"
    );
    // Inherited per-operation variables pass through when no option sets them.
    let o = Cmd::wrapper(&["env"])
        .env("TIMEOUTSOCK_READ_SECS", "0")
        .run(DONE);
    assert_eq!(
        o.env_map().get("TIMEOUTSOCK_READ_SECS").map(String::as_str),
        Some("0"),
        "{o}"
    );

    let o = Cmd::wrapper(&["sh", "-c", "echo ran"])
        .env("TIMEOUTSOCK_SECS", "twenty")
        .run(DONE);
    o.assert_wrapper_error(USAGE, "invalid time interval 'twenty' in TIMEOUTSOCK_SECS");
}

#[test]
fn ld_preload_keeps_other_entries_and_never_doubles_the_library() {
    let lib = lib_s();
    let preload = |old: Option<&str>| {
        let mut c = Cmd::wrapper(&["env"]);
        if let Some(v) = old {
            c = c.env("LD_PRELOAD", v);
        }
        let o = c.run(DONE);
        o.assert_code(0);
        assert!(
            !o.stderr.contains("cannot be preloaded"),
            "loader complained\n{o}"
        );
        o.env_map().get("LD_PRELOAD").cloned().unwrap_or_default()
    };
    assert_eq!(preload(None), lib);
    assert_eq!(preload(Some("")), lib);
    assert_eq!(preload(Some("libm.so.6")), format!("{lib}:libm.so.6"));
    let two = "libm.so.6 libdl.so.2";
    assert_eq!(preload(Some(two)), format!("{lib}:{two}"));
    // Already there: unchanged.
    assert_eq!(preload(Some(&lib)), lib);
    let listed = format!("libm.so.6 {lib}");
    assert_eq!(preload(Some(&listed)), listed);
    // The same file under another name counts as present.
    let d = TempDir::new("ldpreload");
    let link = d.join("other-name.so");
    std::os::unix::fs::symlink(&lib, &link).unwrap();
    let via_link = format!("{}:libm.so.6", s(&link));
    assert_eq!(preload(Some(&via_link)), via_link);
}

// ---------------------------------------------------------------------------
// exec: the command replaces the wrapper
// ---------------------------------------------------------------------------

#[test]
fn exit_status_passes_through() {
    for code in [0, 1, 7, 255] {
        Cmd::wrapper(&["sh", "-c", &format!("exit {code}")])
            .run(DONE)
            .assert_code(code);
    }
}

#[test]
fn the_command_keeps_the_wrapper_pid_and_dies_by_its_own_signal() {
    // --preload-only: executed in place (supervised runs are in supervise.rs).
    let o = Cmd::wrapper(&["--preload-only", "sh", "-c", "echo $$"]).run(DONE);
    o.assert_code(0);
    assert_eq!(
        o.out().trim(),
        o.pid.to_string(),
        "not exec'd in place\n{o}"
    );

    let o = Cmd::wrapper(&["sh", "-c", "kill -TERM $$; sleep 5"]).run(DONE);
    assert!(!o.killed, "{o}");
    assert_eq!(o.status.signal(), Some(libc::SIGTERM), "{o}");
}

#[test]
fn standard_streams_pass_through() {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let o = Cmd::wrapper(&["cat"]).stdin(&data).run(DONE);
    o.assert_code(0);
    assert!(o.stdout == data, "stdout differs from stdin\n{}", o.what);

    let o = Cmd::wrapper(&["sh", "-c", "echo out; echo err >&2"]).run(DONE);
    o.assert_code(0);
    assert_eq!(
        (o.out().as_str(), o.stderr.as_str()),
        ("out\n", "err\n"),
        "{o}"
    );

    // A closed stdin stays closed (Rust's runtime would reopen it on
    // /dev/null): cat fails exactly as it does without the wrapper.
    let mut bare = Cmd::new(require_program("cat", "coreutils"));
    bare.close_stdin = true;
    let mut wrapped = Cmd::wrapper(&["cat"]);
    wrapped.close_stdin = true;
    let (b, w) = (bare.run(DONE), wrapped.run(DONE));
    assert_ne!(b.code(), Some(0), "cat with a closed stdin succeeded?\n{b}");
    assert_eq!(w.code(), b.code(), "with the wrapper\n{w}\nwithout\n{b}");
    assert!(w.stderr.contains("Bad file descriptor"), "{w}");
}

#[test]
fn ignored_signals_pass_through_unchanged() {
    // SigIgn in /proc/self/status: the set of ignored signals, which exec
    // keeps. Rust's runtime ignores SIGPIPE; the wrapper must not.
    let sigign = |c: Cmd| {
        let o = c.run(DONE);
        o.assert_code(0);
        o.out()
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no SigIgn line\n{o}"))
    };
    let grep = ["grep", "SigIgn", "/proc/self/status"];
    for ignore in [false, true] {
        let mut bare = Cmd::new(require_program("grep", "grep")).args(&grep[1..]);
        bare.ignore_sigpipe = ignore;
        let mut wrapped = Cmd::wrapper(&grep);
        wrapped.ignore_sigpipe = ignore;
        let (b, w) = (sigign(bare), sigign(wrapped));
        assert_eq!(
            w, b,
            "ignored signals differ (SIGPIPE ignored by the parent: {ignore})"
        );
        let pipe_bit = u64::from_str_radix(&w, 16).unwrap() >> (libc::SIGPIPE - 1) & 1;
        assert_eq!(pipe_bit == 1, ignore, "SIGPIPE disposition: {w}");
    }
}

// ---------------------------------------------------------------------------
// Usage, help, version
// ---------------------------------------------------------------------------

#[test]
fn bad_usage_exits_125_with_a_hint() {
    let cases: &[(&[&str], &str)] = &[
        (&["-t", "x"], "invalid time interval 'x'"),
        (
            &["-t", "5s"],
            "invalid time interval '5s': not a number of seconds",
        ),
        (&["--read", "-1"], "invalid time interval '-1'"),
        (&["--connect=1e3"], "invalid time interval '1e3'"),
        (&["--write", " 5"], "invalid time interval ' 5'"),
        (&["--accept", "nan"], "invalid time interval 'nan'"),
        (&["-t", "0.0001"], "too small"),
        (&["-t", "2147484"], "too large"),
        (&["-t", ""], "invalid time interval ''"),
        (&["--frob"], "unrecognized option '--frob'"),
        (&["-x"], "invalid option -- 'x'"),
        (&["--log=1"], "option '--log' doesn't allow an argument"),
    ];
    for (args, msg) in cases {
        let o = Cmd::wrapper(&with(args, &["sh".into(), "-c".into(), "echo ran".into()])).run(DONE);
        o.assert_wrapper_error(USAGE, msg);
        assert_eq!(o.stderr.lines().last(), Some(TRY_HELP), "{o}");
    }
    for args in [&[][..], &["-t", "5"][..], &["--log", "--"][..]] {
        let o = Cmd::wrapper(args).run(DONE);
        o.assert_wrapper_error(USAGE, "missing operand");
        assert_eq!(o.stderr.lines().last(), Some(TRY_HELP), "{o}");
    }
    let o = Cmd::wrapper(&["--read"]).run(DONE);
    o.assert_wrapper_error(USAGE, "option '--read' requires an argument");
    // Values at the edges are accepted.
    for v in ["0", "0.001", "2147483", ".5", "5.", "2147483.647"] {
        Cmd::wrapper(&["-t", v, "true"]).run(DONE).assert_code(0);
    }
}

#[test]
fn help_and_version_exit_0() {
    let o = Cmd::wrapper(&["--help"]).run(DONE);
    o.assert_code(0);
    let help = o.out();
    assert!(
        help.starts_with("Usage: timeoutsock [OPTION]... [--] COMMAND [ARG]..."),
        "{o}"
    );
    for needle in [
        "-t, --timeout=SECS",
        "--connect=SECS",
        "--read=SECS",
        "--write=SECS",
        "--accept=SECS",
        "--exclude=PEERS",
        "--only=PEERS",
        "--log",
        "--force",
        "--help",
        "--version",
        "else 30",
        "TIMEOUTSOCK_LIB",
        "122",
        "125",
        "126",
        "127",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}\n{o}");
    }
    assert!(o.stderr.is_empty(), "{o}");

    let o = Cmd::wrapper(&["--version"]).run(DONE);
    o.assert_code(0);
    let first = o.out().lines().next().unwrap_or("").to_string();
    assert_eq!(
        first,
        format!("timeoutsock (libtimeoutsock) {}", env!("CARGO_PKG_VERSION")),
        "{o}"
    );
    assert!(o.out().contains(&format!("library: {}", lib_s())), "{o}");
}

/// Options and exit statuses in --help are all in the man page, which
/// renders without warnings.
#[test]
fn man_page_renders_and_matches_help() {
    let page = std::fs::read_to_string(manifest_dir().join("man").join("timeoutsock.1")).unwrap();
    let help = Cmd::wrapper(&["--help"]).run(DONE).out();
    for opt in [
        "timeout", "connect", "read", "write", "accept", "exclude", "only", "log", "force", "help",
        "version",
    ] {
        assert!(help.contains(&format!("--{opt}")), "--help lacks --{opt}");
        assert!(
            page.contains(&format!("\\-\\-{opt}")),
            "man page lacks --{opt}"
        );
    }
    for code in ["122", "125", "126", "127"] {
        assert!(
            page.contains(&format!(".B {code}\n")),
            "man page lacks exit status {code}"
        );
    }
    let groff = require_program("groff", "groff-base");
    let o = Command::new(groff)
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(manifest_dir().join("man").join("timeoutsock.1"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "groff failed");
    assert!(
        o.stderr.is_empty(),
        "groff warnings:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

// ---------------------------------------------------------------------------
// Commands that cannot run, or not with the preload
// ---------------------------------------------------------------------------

#[test]
fn a_missing_command_exits_127() {
    let o = Cmd::wrapper(&["timeoutsock-no-such-command"]).run(DONE);
    o.assert_wrapper_error(
        NOT_FOUND,
        "failed to run command 'timeoutsock-no-such-command': No such file or directory",
    );
    let o = Cmd::wrapper(&["/nonexistent/dir/cmd"]).run(DONE);
    o.assert_wrapper_error(
        NOT_FOUND,
        "'/nonexistent/dir/cmd': No such file or directory",
    );
    let d = TempDir::new("empty-path");
    let o = Cmd::wrapper(&["true"]).env("PATH", &s(&d.path)).run(DONE);
    o.assert_wrapper_error(NOT_FOUND, "'true': No such file or directory");
}

#[test]
fn a_command_that_cannot_be_invoked_exits_126() {
    let d = TempDir::new("noexec");
    let file = d.join("a/tool");
    write_file(&file, "#!/bin/sh\necho a\n", 0o644);
    let o = Cmd::wrapper(&[s(&file)]).run(DONE);
    o.assert_wrapper_error(CANNOT_INVOKE, "Permission denied");
    let o = Cmd::wrapper(&[s(&d.path)]).run(DONE);
    o.assert_wrapper_error(CANNOT_INVOKE, "Permission denied");
    // In PATH: a non-executable match alone is 126 ...
    let path_a = s(&d.join("a"));
    let o = Cmd::wrapper(&["tool"]).env("PATH", &path_a).run(DONE);
    o.assert_wrapper_error(
        CANNOT_INVOKE,
        "failed to run command 'tool': Permission denied",
    );
    // ... and skipped for an executable one later in PATH (execvp's rule).
    write_file(&d.join("b/tool"), "#!/bin/sh\necho b \"$@\"\n", 0o755);
    let path_ab = format!("{path_a}:{}:/usr/bin:/bin", s(&d.join("b")));
    let o = Cmd::wrapper(&["tool", "x"]).env("PATH", &path_ab).run(DONE);
    o.assert_code(0);
    assert_eq!(o.out(), "b x\n", "{o}");
    // An executable file without #! runs with /bin/sh, as with execvp.
    write_file(&d.join("plain"), "echo plain \"$@\"\n", 0o755);
    let o = Cmd::wrapper(&[s(&d.join("plain")), "y".into()]).run(DONE);
    o.assert_code(0);
    assert_eq!(o.out(), "plain y\n", "{o}");
}

#[test]
fn statically_linked_programs_are_refused_unless_forced() {
    let bins = exitcode();
    for b in [&bins.static_, &bins.static_pie] {
        // Supervised by default: runs, no message.
        let o = Cmd::wrapper(&[s(b), "3".into()]).run(DONE);
        o.assert_code(3);
        assert!(o.stderr.is_empty(), "{o}");
        // The preload alone cannot reach it: refused.
        let o = Cmd::wrapper(&["--preload-only".into(), s(b), "3".into()]).run(DONE);
        o.assert_wrapper_error(NO_PRELOAD, &format!("'{}' is statically linked", s(b)));
        assert!(o.stderr.contains("--force"), "{o}");
        let o =
            Cmd::wrapper(&["--preload-only".into(), "--force".into(), s(b), "3".into()]).run(DONE);
        o.assert_code(3);
        assert!(o.stderr.starts_with("timeoutsock: warning: "), "{o}");
    }
    // Dynamically linked: runs, no message.
    let o = Cmd::wrapper(&[s(&bins.dynamic), "3".into()]).run(DONE);
    o.assert_code(3);
    assert!(o.stderr.is_empty(), "{o}");
    // The dynamic loader run directly has no PT_INTERP either, but it reads
    // LD_PRELOAD: not refused.
    let o = Cmd::wrapper(&[s(&dynamic_loader()), s(&bins.dynamic), "4".into()]).run(DONE);
    o.assert_code(4);
    // A script is judged by its interpreter, also through `env NAME`.
    let d = TempDir::new("static-script");
    let direct = d.join("direct");
    write_file(&direct, &format!("#!{}\n", s(&bins.static_)), 0o755);
    let o = Cmd::wrapper(&["--preload-only".into(), s(&direct)]).run(DONE);
    o.assert_wrapper_error(
        NO_PRELOAD,
        &format!(
            "'{}' runs '{}', which is statically linked",
            s(&direct),
            s(&bins.static_)
        ),
    );
    let via_env = d.join("via-env");
    write_file(&via_env, "#!/usr/bin/env -S exitcode-static 5\n", 0o755);
    let path = format!(
        "{}:{}",
        s(bins.static_.parent().unwrap()),
        std::env::var("PATH").unwrap()
    );
    let o = Cmd::wrapper(&["--preload-only".into(), s(&via_env)])
        .env("PATH", &path)
        .run(DONE);
    o.assert_wrapper_error(NO_PRELOAD, "which is statically linked");
    let fine = d.join("fine");
    write_file(&fine, "#!/bin/sh\nexit 6\n", 0o755);
    Cmd::wrapper(&[s(&fine)]).run(DONE).assert_code(6);
}

/// A directory for setuid copies on a mount that honours setuid bits.
fn suid_dir(tag: &str) -> TempDir {
    let tmp = std::env::temp_dir();
    let parent = if nosuid(&tmp) {
        manifest_dir().join("target").join("preload")
    } else {
        tmp
    };
    assert!(
        !nosuid(&parent),
        "no directory without nosuid for the setuid test"
    );
    let d = TempDir::new_in(&parent, tag);
    std::fs::set_permissions(&d.path, std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

#[test]
fn setuid_and_setgid_programs_are_refused_unless_forced() {
    let truth = require_program("true", "coreutils");
    let d = suid_dir("suid");
    if !is_root() {
        // A setuid copy we own changes nothing: it runs.
        let own = d.join("own-true");
        copy_file(&truth, &own);
        std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o4755)).unwrap();
        Cmd::wrapper(&[s(&own)]).run(DONE).assert_code(0);
        // A system setuid-root program is refused (not run with --force).
        let sys = [
            "/usr/bin/su",
            "/bin/su",
            "/usr/bin/mount",
            "/bin/mount",
            "/usr/bin/passwd",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.mode() & 0o4000 != 0 && m.uid() == 0))
        .expect("no setuid-root program found; run this test as root");
        let o = Cmd::wrapper(&[s(&sys), "--version".into()]).run(DONE);
        o.assert_wrapper_error(NO_PRELOAD, "is setuid (it runs as uid 0)");
        return;
    }
    // As root: setuid to another user, setgid to another group.
    let suid = d.join("suid-true");
    copy_file(&truth, &suid);
    std::os::unix::fs::chown(&suid, Some(65534), None).unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let o = Cmd::wrapper(&[s(&suid)]).run(DONE);
    o.assert_wrapper_error(
        NO_PRELOAD,
        &format!("'{}' is setuid (it runs as uid 65534)", s(&suid)),
    );
    assert!(o.stderr.contains("--force"), "{o}");
    let o = Cmd::wrapper(&["--force".into(), s(&suid)]).run(DONE);
    o.assert_code(0);
    assert!(o.stderr.starts_with("timeoutsock: warning: "), "{o}");

    let sgid = d.join("sgid-true");
    copy_file(&truth, &sgid);
    std::os::unix::fs::chown(&sgid, None, Some(65534)).unwrap();
    std::fs::set_permissions(&sgid, std::fs::Permissions::from_mode(0o2755)).unwrap();
    let o = Cmd::wrapper(&[s(&sgid)]).run(DONE);
    o.assert_wrapper_error(NO_PRELOAD, "is setgid (it runs as gid 65534)");
    // Setgid without group execute is no setgid execution: runs.
    std::fs::set_permissions(&sgid, std::fs::Permissions::from_mode(0o2745)).unwrap();
    Cmd::wrapper(&[s(&sgid)]).run(DONE).assert_code(0);

    // A setuid-root program run by root keeps its ids: the loader preloads
    // the library, so the wrapper lets it run (shown by its memory map).
    let cat = d.join("suid-root-cat");
    copy_file(&require_program("cat", "coreutils"), &cat);
    std::fs::set_permissions(&cat, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let o = Cmd::wrapper(&[s(&cat), "/proc/self/maps".into()]).run(DONE);
    o.assert_code(0);
    assert!(o.out().contains(&lib_s()), "library not mapped\n{o}");
    // Without the wrapper's check the loader ignores the preload for a
    // setuid-to-other program: the refusal is not a false alarm.
    copy_file(&require_program("cat", "coreutils"), &cat);
    std::os::unix::fs::chown(&cat, Some(65534), None).unwrap();
    std::fs::set_permissions(&cat, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let o = Cmd::wrapper(&["--force".into(), s(&cat), "/proc/self/maps".into()]).run(DONE);
    o.assert_code(0);
    assert!(
        !o.out().contains("libtimeoutsock"),
        "library mapped after all\n{o}"
    );
}

// ---------------------------------------------------------------------------
// Finding the library
// ---------------------------------------------------------------------------

#[test]
fn the_library_is_found_next_to_the_wrapper_or_in_prefix_lib() {
    let d = TempDir::new("layouts");
    let preload_of = |bin: &Path, env_lib: Option<&str>| {
        let mut c = Cmd::new(bin).args(&["env"]);
        if let Some(l) = env_lib {
            c = c.env("TIMEOUTSOCK_LIB", l);
        }
        let o = c.run(DONE);
        o.assert_code(0);
        o.env_map().get("LD_PRELOAD").cloned().unwrap_or_default()
    };
    // Build tree: target/release/timeoutsock + target/release/libtimeoutsock.so
    let tree = d.join("target/release");
    copy_file(&wrapper(), &tree.join("timeoutsock"));
    copy_file(&preload_lib(), &tree.join("libtimeoutsock.so"));
    let tree_lib = s(&tree.join("libtimeoutsock.so"));
    assert_eq!(preload_of(&tree.join("timeoutsock"), None), tree_lib);
    // Installed: PREFIX/bin/timeoutsock + PREFIX/lib/libtimeoutsock.so,
    // also when started through a symlink elsewhere.
    let prefix = d.join("prefix");
    copy_file(&wrapper(), &prefix.join("bin/timeoutsock"));
    copy_file(&preload_lib(), &prefix.join("lib/libtimeoutsock.so"));
    let prefix_lib = s(&prefix.join("lib/libtimeoutsock.so"));
    assert_eq!(
        preload_of(&prefix.join("bin/timeoutsock"), None),
        prefix_lib
    );
    std::fs::create_dir_all(d.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(prefix.join("bin/timeoutsock"), d.join("elsewhere/ts")).unwrap();
    assert_eq!(preload_of(&d.join("elsewhere/ts"), None), prefix_lib);
    let o = Cmd::new(prefix.join("bin/timeoutsock"))
        .args(&["--version"])
        .run(DONE);
    assert!(o.out().contains(&format!("library: {prefix_lib}")), "{o}");
    // TIMEOUTSOCK_LIB wins.
    assert_eq!(
        preload_of(&prefix.join("bin/timeoutsock"), Some(&tree_lib)),
        tree_lib
    );

    // Not found: 125 and a message naming where it looked.
    let lonely = d.join("lonely/bin/timeoutsock");
    copy_file(&wrapper(), &lonely);
    let o = Cmd::new(&lonely).args(&["sh", "-c", "echo ran"]).run(DONE);
    o.assert_wrapper_error(USAGE, "cannot find libtimeoutsock.so");
    assert!(
        o.stderr.contains("TIMEOUTSOCK_LIB") && o.stderr.contains(&s(&d.join("lonely"))),
        "{o}"
    );
    let o = Cmd::new(&lonely).args(&["--version"]).run(DONE);
    o.assert_code(0);
    assert!(o.out().contains("library: not found"), "{o}");
    let run_with = |lib: &str| {
        Cmd::wrapper(&["sh", "-c", "echo ran"])
            .env("TIMEOUTSOCK_LIB", lib)
            .run(DONE)
    };
    run_with("/nonexistent/libtimeoutsock.so").assert_wrapper_error(
        USAGE,
        "TIMEOUTSOCK_LIB='/nonexistent/libtimeoutsock.so': no such file",
    );
    let colon = d.join("a:b/libtimeoutsock.so");
    copy_file(&preload_lib(), &colon);
    run_with(&s(&colon)).assert_wrapper_error(USAGE, "which LD_PRELOAD cannot carry");
    let spaced = d.join("a b/libtimeoutsock.so");
    copy_file(&preload_lib(), &spaced);
    run_with(&s(&spaced)).assert_wrapper_error(USAGE, "which LD_PRELOAD cannot carry");
    let not_elf = d.join("not-elf.so");
    write_file(&not_elf, "hello\n", 0o644);
    run_with(&s(&not_elf)).assert_wrapper_error(USAGE, "is not an ELF shared library");
}

// ---------------------------------------------------------------------------
// The user story: a hung connection fails instead of hanging
// ---------------------------------------------------------------------------

/// `timeoutsock -t 2 curl URL` against a server that reads the request and
/// never answers: curl fails within [1.6, 3.0] s, saying the connection
/// timed out.
#[test]
fn curl_through_the_wrapper_fails_on_a_silent_server() {
    let srv = http_silent_server(V4);
    let o = Cmd::wrapper(&with(&["-t", "2"], &curl_args(srv.port))).run(DONE);
    o.assert_failed_within(1.6, 3.0);
    assert!(o.stderr.to_lowercase().contains("timed out"), "{o}");
}

/// With --log, the library names the operation's peer and the timeout.
/// (Needs the library's TIMEOUTSOCK_LOG.)
#[test]
fn with_log_each_timeout_prints_a_line_naming_the_peer() {
    let srv = http_silent_server(V4);
    let o = Cmd::wrapper(&with(&["-t", "2", "--log"], &curl_args(srv.port))).run(DONE);
    o.assert_failed_within(1.6, 3.0);
    let peer = format!("127.0.0.1:{}", srv.port);
    assert!(
        o.stderr.lines().any(|l| l.starts_with("timeoutsock: ")
            && l.contains(&peer)
            && l.contains("timed out after 2s")),
        "no log line naming {peer} and 'timed out after 2s'\n{o}"
    );
}

/// --exclude PEER leaves that connection untimed; --only times only the
/// listed peers. (Needs the library's TIMEOUTSOCK_EXCLUDE/ONLY.)
#[test]
fn exclude_and_only_choose_which_connections_are_timed() {
    let srv = http_silent_server(V4);
    let port = srv.port;
    let hang = Duration::from_secs(4);
    let runs = [
        (
            vec!["--exclude".to_string(), format!("127.0.0.1:{port}")],
            hang,
        ),
        (
            vec![
                "--only".to_string(),
                format!("127.0.0.1:{}", closed_port(V4)),
            ],
            hang,
        ),
        (
            vec!["--only".to_string(), format!("10.0.0.0/8,127.0.0.1:{port}")],
            DONE,
        ),
    ];
    let outs: Vec<Ran> = thread::scope(|sc| {
        let hs: Vec<_> = runs
            .iter()
            .map(|(opts, limit)| {
                let c = Cmd::wrapper(&with(&with(&["-t", "1"], opts), &curl_args(port)));
                sc.spawn(move || c.run(*limit))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        outs[0].killed,
        "excluded peer: expected still running after 4 s\n{}",
        outs[0]
    );
    assert!(
        outs[1].killed,
        "peer not in --only: expected still running after 4 s\n{}",
        outs[1]
    );
    outs[2].assert_failed_within(0.8, 2.0);
}

// ---------------------------------------------------------------------------
// Install scripts
// ---------------------------------------------------------------------------

fn script(name: &str) -> Cmd {
    let mut c = Cmd::new(manifest_dir().join("scripts").join(name))
        // The nested cargo builds in target/preload, as the harness's own
        // builds do: target/ is locked by the outer cargo.
        .env(
            "CARGO_TARGET_DIR",
            &s(&manifest_dir().join("target").join("preload")),
        );
    for k in ["HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
        if let Ok(v) = std::env::var(k) {
            c = c.env(k, &v);
        }
    }
    if let Some(cargo) = option_env!("CARGO") {
        c = c.env("CARGO", cargo);
    }
    c
}

#[test]
fn install_into_a_prefix_runs_there_and_uninstall_removes_it() {
    let lib = preload_lib(); // build the library first: one nested cargo at a time
    let d = TempDir::new("install");
    let prefix = d.join("prefix");
    let o = script("install")
        .args(&[s(&prefix)])
        .run(Duration::from_secs(300));
    o.assert_code(0);
    let files = [
        ("lib/libtimeoutsock.so", 0o644),
        ("bin/timeoutsock", 0o755),
        ("share/man/man1/timeoutsock.1", 0o644),
    ];
    for (f, mode) in files {
        let m = std::fs::metadata(prefix.join(f)).unwrap_or_else(|e| panic!("{f}: {e}\n{o}"));
        assert_eq!(m.mode() & 0o7777, mode, "mode of {f}");
    }
    assert_eq!(
        std::fs::read(prefix.join("lib/libtimeoutsock.so")).unwrap(),
        std::fs::read(&lib).unwrap(),
        "installed library differs from the build"
    );

    // The installed wrapper finds the installed library and times out.
    let srv = http_silent_server(V4);
    let o = Cmd::new(prefix.join("bin/timeoutsock"))
        .args(&with(&["-t", "1"], &curl_args(srv.port)))
        .run(DONE);
    o.assert_failed_within(0.8, 2.0);
    let o = Cmd::new(prefix.join("bin/timeoutsock"))
        .args(&["env"])
        .run(DONE);
    assert_eq!(
        o.env_map().get("LD_PRELOAD").map(String::as_str),
        Some(s(&prefix.join("lib/libtimeoutsock.so")).as_str()),
        "{o}"
    );

    let o = script("uninstall").args(&[s(&prefix)]).run(DONE);
    o.assert_code(0);
    for (f, _) in files {
        assert!(
            !prefix.join(f).exists(),
            "{f} still there after uninstall\n{o}"
        );
    }

    // DESTDIR stages under a directory; --no-build installs what is built.
    let stage = d.join("stage");
    let o = script("install")
        .env("DESTDIR", &s(&stage))
        .args(&["--no-build", "/opt/timeoutsock"])
        .run(DONE);
    o.assert_code(0);
    for (f, _) in files {
        assert!(
            stage.join("opt/timeoutsock").join(f).is_file(),
            "{f} not staged\n{o}"
        );
    }
    let o = script("uninstall")
        .env("DESTDIR", &s(&stage))
        .args(&["/opt/timeoutsock"])
        .run(DONE);
    o.assert_code(0);
    for (f, _) in files {
        assert!(
            !stage.join("opt/timeoutsock").join(f).exists(),
            "{f} left\n{o}"
        );
    }
    // Prefixes that cannot work are refused before anything is built.
    for bad in ["relative/prefix", "/tmp/a:b", "/tmp/a b"] {
        let o = script("install").args(&[bad]).run(DONE);
        assert_eq!(o.code(), Some(2), "prefix {bad:?}\n{o}");
    }
}

// ---------------------------------------------------------------------------
// Examples
// ---------------------------------------------------------------------------

/// `Environment=` assignments of a unit file's [Service] section, with
/// systemd's quoting (`Environment="A=b c" D=e`).
fn unit_environment(text: &str) -> Vec<(String, String)> {
    let mut section = "";
    let mut vars = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            section = line;
            continue;
        }
        let Some(value) = line.strip_prefix("Environment=") else {
            continue;
        };
        assert_eq!(section, "[Service]", "Environment= outside [Service]");
        let mut word = String::new();
        let mut words = Vec::new();
        let mut quote = None;
        for ch in value.chars() {
            match (quote, ch) {
                (None, '"' | '\'') => quote = Some(ch),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                }
                (_, c) => word.push(c),
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
        for w in words {
            let (k, v) = w.split_once('=').expect("Environment= word without '='");
            vars.push((k.to_string(), v.to_string()));
        }
    }
    vars
}

/// The systemd drop-in's environment, exactly, around a "service" (curl
/// against a silent server) with the library path replaced by the built
/// one: the service fails within T + 1 s and logs the timeout.
#[test]
fn systemd_drop_in_makes_a_service_fail_and_log() {
    let path = manifest_dir().join("examples/systemd/timeoutsock.conf");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("/etc/systemd/system/UNIT.service.d/"),
        "the drop-in does not say where it goes"
    );
    let vars = unit_environment(&text);
    let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(
        get("LD_PRELOAD").as_deref(),
        Some("/usr/local/lib/libtimeoutsock.so"),
        "LD_PRELOAD must name scripts/install's default location"
    );
    assert_eq!(get("TIMEOUTSOCK_LOG").as_deref(), Some("1"));
    let t_str = get("TIMEOUTSOCK_SECS").expect("TIMEOUTSOCK_SECS in the drop-in");
    let t: f64 = t_str.parse().unwrap();

    let srv = http_silent_server(V4);
    let mut service = Cmd::new(require_program("curl", "curl"))
        .args(&curl_args(srv.port)[1..])
        .no_env("PATH");
    for (k, v) in &vars {
        let v = if k == "LD_PRELOAD" {
            lib_s()
        } else {
            v.clone()
        };
        service = service.env(k, &v);
    }
    service = service.env("PATH", "/usr/local/bin:/usr/bin:/bin");
    let o = service.run(Duration::from_secs_f64(t + 10.0));
    o.assert_failed_within(0.8 * t, t + 1.0);
    assert!(
        o.stderr.lines().any(|l| l.starts_with("timeoutsock: ")
            && l.contains(&format!("127.0.0.1:{}", srv.port))
            && l.contains(&format!("timed out after {t_str}s"))),
        "no timeout log line on stderr\n{o}"
    );
}

/// The CI step script runs the step under the wrapper: a hung connection
/// fails the step in about T with a message, instead of hanging the job.
#[test]
fn ci_example_turns_a_hung_step_into_a_failure() {
    let yml =
        std::fs::read_to_string(manifest_dir().join("examples/ci/github-actions.yml")).unwrap();
    assert!(
        yml.contains("timeoutsock -t 20") && yml.contains("-- ./legacy-step"),
        "{yml}"
    );
    assert!(yml.contains("scripts/install"), "{yml}");

    let srv = http_silent_server(V4);
    let d = TempDir::new("ci");
    write_file(
        &d.join("legacy-step"),
        &format!(
            "#!/bin/sh\necho step starts\nexec curl -q -sS --noproxy '*' {}\n",
            url(srv.port)
        ),
        0o755,
    );
    let o = Cmd::new(manifest_dir().join("examples/ci/legacy-step.sh"))
        .cwd(&d.path)
        .env("TIMEOUTSOCK", &s(&wrapper()))
        .env("TIMEOUTSOCK_LIB", &lib_s())
        .env("STEP_IDLE_TIMEOUT", "1")
        .run(DONE);
    o.assert_failed_within(0.8, 2.5);
    assert_eq!(o.out(), "step starts\n", "{o}");
    assert!(o.stderr.to_lowercase().contains("timed out"), "{o}");
    assert!(
        o.stderr
            .contains("legacy-step.sh: the step failed with exit status"),
        "{o}"
    );
}
