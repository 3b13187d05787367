//! The outside supervisor (issue 13): programs the preload cannot reach —
//! static and dynamic (cgo) Go, io_uring users, daemonized grandchildren,
//! processes started elsewhere (`--pid`) — end within T + 1 s on a stalled
//! TCP connection with a network error, while a control run without
//! timeoutsock still hangs; healthy transfers complete intact; the wrapper
//! mirrors the child's exit status and signals. All traffic on loopback.

mod common;

use common::*;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The idle timeout of these tests.
const T: f64 = 1.0;
/// How much later than T a supervised hang may end on this noisy machine.
const LATE: f64 = 1.0;
/// A control run still running after this has hung.
const CONTROL: Duration = Duration::from_millis(2500);

fn wrapper() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_timeoutsock"))
}

/// A command with no TIMEOUTSOCK_* of the developer's, the test library.
fn cmd(program: &Path) -> Command {
    let mut c = Command::new(program);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TIMEOUTSOCK_") || k == "LD_PRELOAD" {
            c.env_remove(k);
        }
    }
    c.env("TIMEOUTSOCK_LIB", preload_lib());
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn supervised(args: &[&str]) -> Command {
    let mut c = cmd(&wrapper());
    c.args(["-t", "1", "--log", "--"]).args(args);
    c
}

struct Ended {
    code: Option<i32>,
    signal: Option<i32>,
    secs: f64,
    out: String,
    err: String,
    killed: bool,
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "code {:?} signal {:?} after {:.3}s{}\nstdout: {}\nstderr: {}",
            self.code,
            self.signal,
            self.secs,
            if self.killed { " (killed)" } else { "" },
            self.out,
            self.err
        )
    }
}

/// Waits for a child up to `limit`, then kills it.
fn finish(child: Child, start: Instant, limit: Duration) -> Ended {
    finish_all(vec![(child, start, limit)]).pop().unwrap()
}

/// Waits for children together, each up to its own limit (then it is
/// killed): each one's time is taken when it ends, not when the ones
/// looked at before it have.
fn finish_all(runs: Vec<(Child, Instant, Duration)>) -> Vec<Ended> {
    let mut ended: Vec<Option<(std::process::ExitStatus, f64, bool)>> = vec![None; runs.len()];
    let mut runs = runs;
    // bounded: by the longest limit (every child is killed at its own)
    while ended.iter().any(Option::is_none) {
        for (i, (child, start, limit)) in runs.iter_mut().enumerate() {
            if ended[i].is_some() {
                continue;
            }
            if let Some(st) = child.try_wait().unwrap() {
                ended[i] = Some((st, start.elapsed().as_secs_f64(), false));
            } else if start.elapsed() > *limit {
                // SAFETY: kill with integers; the child is ours and not reaped.
                unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
                let st = child.wait().unwrap();
                ended[i] = Some((st, start.elapsed().as_secs_f64(), true));
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    runs.into_iter()
        .zip(ended)
        .map(|((mut child, _, _), e)| {
            let (status, secs, killed) = e.unwrap();
            let mut out = String::new();
            let mut err = String::new();
            use std::io::Read;
            if let Some(mut o) = child.stdout.take() {
                let _ = o.read_to_string(&mut out);
            }
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            Ended {
                code: status.code(),
                signal: status.signal(),
                secs,
                out,
                err,
                killed,
            }
        })
        .collect()
}

fn start(mut c: Command) -> (Child, Instant) {
    let t = Instant::now();
    (c.spawn().expect("spawn"), t)
}

/// The Go test client, static or dynamic (cgo), built once.
fn go_client(dynamic: bool) -> Option<PathBuf> {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    let (st, dy) = BUILT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("timeoutsock-go-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = manifest_dir().join("tests/go/client.go");
        (
            go_build(&src, &dir.join("client-static"), false),
            go_build(&src, &dir.join("client-dyn"), true),
        )
    });
    Some(if dynamic { dy.clone() } else { st.clone() })
}

/// Ended by itself within [0.8 T, T + LATE] with exit status 1.
fn assert_failed_in_time(e: &Ended, what: &str) {
    assert!(!e.killed, "{what}: still hung\n{e}");
    assert!(
        e.secs >= 0.8 * T && e.secs <= T + LATE,
        "{what}: ended after {:.3}s, want {:.1}..{:.1}\n{e}",
        e.secs,
        0.8 * T,
        T + LATE
    );
    assert_eq!(e.code, Some(1), "{what}: exit status\n{e}");
}

fn assert_network_error_in_time(e: &Ended, what: &str) {
    assert_failed_in_time(e, what);
    assert!(
        [
            "connection timed out",
            "software caused connection abort",
            "connection reset"
        ]
        .iter()
        .any(|m| e.err.contains(m)),
        "{what}: no network error\n{e}"
    );
}

#[test]
fn go_clients_end_within_t_on_every_hang_and_hang_without() {
    let (Some(st), Some(dy)) = (go_client(false), go_client(true)) else {
        return;
    };
    let silent = silent_server(V4);
    let hole = full_queue_server(V4);
    let stall = silent_server_with(V4, vec![b'x'; 100_000]);
    let sink = never_reads_server(V4);
    let addr = |s: &Server| format!("{V4}:{}", s.port);
    let cases: Vec<(&str, Vec<String>, &'static str)> = vec![
        (
            "silent server",
            vec!["read".into(), addr(&silent)],
            "software caused connection abort",
        ),
        // ETIMEDOUT from the kernel (the user timeout, armed before the
        // first SYN retransmission at 1 s), or, when the connect was first
        // seen after it, an abort at T: the kernel would fail it only at
        // the next retransmission.
        (
            "connect black hole",
            vec!["read".into(), addr(&hole)],
            ": connect: ",
        ),
        (
            "mid-body stall",
            vec!["read".into(), addr(&stall)],
            "after 100000 bytes",
        ),
        (
            "never-reading sink",
            vec!["write".into(), addr(&sink), "50000000".into()],
            "write",
        ),
    ];
    // One binary at a time: 8 Go processes starting at once on 2 cores is
    // already a lot (elapsed times count from the spawn).
    for bin in [&st, &dy] {
        let mut runs = Vec::new();
        for (what, args, want) in &cases {
            let mut a = vec![s(bin)];
            a.extend(args.iter().cloned());
            let refs: Vec<&str> = a.iter().map(|x| x.as_str()).collect();
            let label = format!("{} {what}", bin.file_name().unwrap().to_string_lossy());
            runs.push((label.clone(), *want, start(supervised(&refs)), false));
            let mut control = cmd(bin);
            control.args(args);
            runs.push((label, *want, start(control), true));
        }
        check_runs(runs);
    }
}

type Runs = Vec<(String, &'static str, (Child, Instant), bool)>;

fn check_runs(runs: Runs) {
    let (labels, children): (Vec<_>, Vec<_>) = runs
        .into_iter()
        .map(|(label, want, (child, t0), control)| {
            let limit = if control {
                CONTROL
            } else {
                Duration::from_secs_f64(T + LATE + 3.0)
            };
            ((label, want, control), (child, t0, limit))
        })
        .unzip();
    for ((label, want, control), e) in labels.into_iter().zip(finish_all(children)) {
        if control {
            assert!(
                e.killed,
                "control {label}: did not hang without timeoutsock\n{e}"
            );
        } else {
            assert_network_error_in_time(&e, &label);
            assert!(e.err.contains(want), "{label}: want {want:?}\n{e}");
            assert!(e.err.contains("timeoutsock: "), "{label}: no log line\n{e}");
        }
    }
}

#[test]
fn healthy_transfers_complete_intact_under_supervision() {
    let Some(st) = go_client(false) else {
        return;
    };
    let (bulk, sum) = bulk_server(V4, 16 << 20);
    let drip = drip_server(V4, Duration::from_secs_f64(T / 3.0), 6);
    let b = start(supervised(&[
        &s(&st),
        "read",
        &format!("{V4}:{}", bulk.port),
    ]));
    let d = start(supervised(&[
        &s(&st),
        "read",
        &format!("{V4}:{}", drip.port),
    ]));
    let e = finish(b.0, b.1, Duration::from_secs(20));
    assert_eq!(e.code, Some(0), "16 MiB\n{e}");
    assert_eq!(
        e.out.trim(),
        format!("read {} bytes {sum}", 16 << 20),
        "{e}"
    );
    assert!(!e.err.contains("timed out"), "{e}");
    let e = finish(d.0, d.1, Duration::from_secs(10));
    assert_eq!(e.code, Some(0), "slow drip\n{e}");
    assert_eq!(
        e.out.trim(),
        format!("read 6 bytes {}", hex(fnv(FNV_INIT, b"abcdef"))),
        "{e}"
    );
    assert!(
        !e.err.contains("aborted"),
        "a healthy drip was aborted\n{e}"
    );
}

#[test]
fn a_mixed_tree_and_a_daemonized_grandchild_are_covered() {
    let Some(st) = go_client(false) else {
        return;
    };
    let curl = require_program("curl", "curl");
    let silent = silent_server(V4);
    let a = format!("{V4}:{}", silent.port);
    // curl (the library) then the Go client (the supervisor), one after the other.
    let script = format!(
        "{} -sS -o /dev/null http://{a}/; echo curl=$?; {} read {a}; echo go=$?",
        s(&curl),
        s(&st)
    );
    let e = finish_started(supervised(&["sh", "-c", &script]), 2.0 * (T + LATE) + 3.0);
    assert!(!e.killed && e.secs <= 2.0 * (T + LATE), "{e}");
    assert!(
        e.err.contains("timeoutsock: curl[")
            && e.err.contains("]: poll on fd")
            && !e.out.contains("curl=0"),
        "curl not timed by the library\n{e}"
    );
    assert!(e.out.contains("go=1"), "Go client not supervised\n{e}");
    // A grandchild that daemonizes (setsid, its parent exits once it has
    // connected): the wrapper, a subreaper, outlives it and still times it.
    let out = std::env::temp_dir().join(format!("timeoutsock-daemon-{}", std::process::id()));
    let script = format!(
        "setsid {} read {a} >{} 2>&1 & sleep 0.4; exit 0",
        s(&st),
        s(&out)
    );
    let e = finish_started(supervised(&["sh", "-c", &script]), T + LATE + 3.0);
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    assert!(!e.killed && e.code == Some(0), "{e}");
    assert!(
        e.secs >= 0.8 * T && e.secs <= T + LATE,
        "wrapper did not outlive the daemon\n{e}"
    );
    assert!(
        text.contains("software caused connection abort"),
        "daemon: {text}\n{e}"
    );
}

fn finish_started(c: Command, limit: f64) -> Ended {
    let (child, t0) = start(c);
    finish(child, t0, Duration::from_secs_f64(limit))
}

#[test]
fn pid_attaches_to_a_process_started_elsewhere() {
    let Some(st) = go_client(false) else {
        return;
    };
    let silent = silent_server(V4);
    let (hung, t0) = start({
        let mut c = cmd(&st);
        c.args(["read", &format!("{V4}:{}", silent.port)]);
        c
    });
    std::thread::sleep(Duration::from_millis(300));
    let pid = hung.id().to_string();
    let mut att = cmd(&wrapper());
    att.args(["-t", "1", "--log", "--pid", &pid]);
    let (a, a0) = start(att);
    let e = finish(hung, t0, Duration::from_secs_f64(T + LATE + 3.0));
    assert!(!e.killed, "not ended by --pid\n{e}");
    assert!(e.err.contains("software caused connection abort"), "{e}");
    let w = finish(a, a0, Duration::from_secs(5));
    assert_eq!(w.code, Some(0), "--pid ends when the process does\n{w}");
    assert!(
        w.err.contains(&format!(
            "timeoutsock: client-static[{pid}]: read on fd 3 ({V4}:{}) timed out after 1s: aborted",
            silent.port
        )),
        "{w}"
    );
}

#[test]
fn pid_without_ptrace_permission_is_refused_with_the_fix() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("note: not root: the capability-drop case is skipped");
        return;
    }
    let (victim, v0) = start({
        let mut c = Command::new("sleep");
        c.arg("10");
        c
    });
    let mut c = cmd(Path::new("setpriv"));
    c.args(["--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace"])
        .arg(wrapper())
        .args(["-t", "1", "--pid", &victim.id().to_string()]);
    let e = finish_started(c, 5.0);
    let _ = finish(victim, v0, Duration::ZERO);
    assert_eq!(e.code, Some(122), "{e}");
    assert!(
        e.err.starts_with("timeoutsock: cannot supervise pid "),
        "{e}"
    );
    assert!(
        e.err.contains("CAP_SYS_PTRACE") && e.err.contains("--cap-add SYS_PTRACE"),
        "{e}"
    );
}

#[test]
fn the_wrapper_mirrors_exit_status_and_signals_and_leaks_no_descriptor() {
    for code in [0, 3, 255] {
        let e = finish_started(supervised(&["sh", "-c", &format!("exit {code}")]), 5.0);
        assert_eq!(e.code, Some(code), "{e}");
    }
    let e = finish_started(supervised(&["sh", "-c", "kill -TERM $$"]), 5.0);
    assert_eq!(
        e.signal,
        Some(libc::SIGTERM),
        "status mirrors a child killed by a signal\n{e}"
    );
    let e = finish_started(supervised(&["sh", "-c", "kill -SEGV $$"]), 5.0);
    assert_eq!(e.signal, Some(libc::SIGSEGV), "{e}");
    for (sig, name) in [(libc::SIGTERM, "TERM"), (libc::SIGINT, "INT")] {
        let script = format!("trap 'echo got {name}; exit 9' {name}; echo ready; sleep 10 & wait");
        let (child, t0) = start(supervised(&["sh", "-c", &script]));
        std::thread::sleep(Duration::from_millis(500));
        // SAFETY: kill with integers; the wrapper is our unreaped child.
        unsafe { libc::kill(child.id() as i32, sig) };
        let e = finish(child, t0, Duration::from_secs(5));
        assert_eq!(e.code, Some(9), "{name} not forwarded\n{e}");
        assert!(e.out.contains(&format!("got {name}")), "{e}");
    }
    // The child's descriptors are the wrapper's: none that a run without it
    // lacks. (Other tests' threads can leak a descriptor into either run
    // while they spawn: a real leak shows in every attempt.)
    let list = "for f in /proc/$$/fd/*; do l=$(readlink $f); echo \"${f##*/} ${l%%:*}\"; done";
    let fds = |e: &Ended| -> Vec<String> { e.out.lines().map(String::from).collect() };
    let mut extra = Vec::new();
    // bounded: three attempts
    for _ in 0..3 {
        let with = finish_started(supervised(&["sh", "-c", list]), 5.0);
        let mut plain = cmd(Path::new("sh"));
        plain.args(["-c", list]);
        let without = fds(&finish_started(plain, 5.0));
        extra = fds(&with)
            .into_iter()
            .filter(|l| !without.contains(l))
            .collect();
        if extra.is_empty() {
            break;
        }
    }
    assert!(
        extra.is_empty(),
        "descriptors leaked into the child: {extra:?}"
    );
}

/// A C client of tests/c built once per test with `cc` (None and a note when
/// `cc` is not installed).
fn c_client(name: &str, src: &str, cc: &str, flags: &[&str], package: &str) -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("timeoutsock-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join(name);
    let o = match Command::new(cc)
        .args(["-O2", "-Wall", "-o"])
        .arg(&bin)
        .arg(manifest_dir().join("tests/c").join(src))
        .args(flags)
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) => o,
        Err(_) => {
            eprintln!("note: {cc} is not installed: {name} is skipped (apt-get install {package})");
            return None;
        }
    };
    assert!(
        o.status.success(),
        "{cc} {src} {flags:?} (needs {package}): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Some(bin)
}

/// A C client's run: ended in time, exit 1, its line says `op` failed with
/// one of `errors` (strerror texts, musl's or glibc's).
fn assert_c_client_failed_in_time(e: &Ended, what: &str, op: &str, errors: &[&str]) {
    assert_failed_in_time(e, what);
    assert!(e.out.contains(&format!("op={op} ret=-")), "{what}\n{e}");
    assert!(
        errors.iter().any(|m| e.out.contains(m)),
        "{what}: want one of {errors:?}\n{e}"
    );
    assert!(e.err.contains("timeoutsock: "), "{what}: no log line\n{e}");
}

/// (label, program, args, op, errors)
type CCase = (
    &'static str,
    PathBuf,
    Vec<String>,
    &'static str,
    &'static [&'static str],
);

#[test]
fn a_static_musl_client_and_an_io_uring_client_end_within_t_and_hang_without() {
    let musl = c_client(
        "muslclient-static",
        "muslclient.c",
        "musl-gcc",
        &["-static"],
        "musl-tools",
    );
    let uring = c_client(
        "uringclient",
        "uringclient.c",
        "gcc",
        &["-luring"],
        "liburing-dev",
    );
    let silent = silent_server(V4);
    let hole = full_queue_server(V4);
    let mut cases: Vec<CCase> = Vec::new();
    if let Some(m) = &musl {
        let port = silent.port.to_string();
        // musl's strerror: "Connection aborted" (ECONNABORTED, SOCK_DESTROY),
        // "Connection reset by peer" (the fallback abort).
        let silent_errors: &[&str] = &["errno=Connection aborted", "errno=Connection reset"];
        cases.push((
            "static musl, silent server",
            m.clone(),
            vec![port, "recv".into()],
            "recv",
            silent_errors,
        ));
        let port = hole.port.to_string();
        let hole_errors: &[&str] = &["errno=ETIMEDOUT", "errno=Connection aborted"];
        cases.push((
            "static musl, connect black hole",
            m.clone(),
            vec![port, "connect".into()],
            "connect",
            hole_errors,
        ));
    }
    if let Some(u) = &uring {
        // glibc's strerror: ECONNABORTED, ECONNRESET.
        let errors: &[&str] = &[
            "errno=Software caused connection abort",
            "errno=Connection reset by peer",
        ];
        cases.push((
            "io_uring recv, silent server",
            u.clone(),
            vec![silent.port.to_string()],
            "uring_recv",
            errors,
        ));
    }
    let mut children = Vec::new();
    for (_, prog, args, _, _) in &cases {
        let mut a = vec![s(prog)];
        a.extend(args.iter().cloned());
        let refs: Vec<&str> = a.iter().map(|x| x.as_str()).collect();
        let (c, t0) = start(supervised(&refs));
        children.push((c, t0, Duration::from_secs_f64(T + LATE + 3.0)));
        let mut control = cmd(prog);
        control.args(args);
        let (c, t0) = start(control);
        children.push((c, t0, CONTROL));
    }
    let ended = finish_all(children);
    for (i, (what, _, _, op, errors)) in cases.iter().enumerate() {
        assert_c_client_failed_in_time(&ended[2 * i], what, op, errors);
        let control = &ended[2 * i + 1];
        assert!(
            control.killed,
            "control {what}: did not hang without timeoutsock\n{control}"
        );
    }
}
