//! The library's stderr lines, exact shapes: every line names the program
//! and its pid (`timeoutsock: PROGRAM[PID]: ...`), `TIMEOUTSOCK_LOG=2`
//! adds one line per process at load, a timeout line names the pid of the
//! process that timed out (a fork child its own).

mod common;

use common::{V4, preload_lib, python3, scrub_env, silent_server, split_who};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `prog args` with the library and `env`; returns (stdout, stderr).
/// Bounded: killed after 20 s.
fn run(prog: &str, args: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let mut cmd = Command::new(prog);
    scrub_env(&mut cmd)
        .args(args)
        .env("LD_PRELOAD", preload_lib())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `sh -c 'echo $$; exec /bin/true'`: the shell and the program it execs
/// share one pid; each load prints its line with its own name.
fn load_lines(env: &[(&str, &str)]) -> (u32, Vec<String>) {
    let (out, err) = run("/bin/sh", &["-c", "echo $$; exec /bin/true"], env);
    let pid: u32 = out.trim().parse().unwrap_or_else(|_| panic!("{out:?}"));
    (pid, err.lines().map(str::to_string).collect())
}

#[test]
fn level_2_prints_the_settings_in_force_at_load() {
    let (pid, lines) = load_lines(&[
        ("TIMEOUTSOCK_SECS", "2.5"),
        ("TIMEOUTSOCK_READ_SECS", "0"),
        ("TIMEOUTSOCK_ACCEPT_SECS", "1"),
        ("TIMEOUTSOCK_EXCLUDE", "10.0.0.0/8,[::1]:6379"),
        ("TIMEOUTSOCK_ONLY", "127.0.0.1"),
        ("TIMEOUTSOCK_LOG", "2"),
    ]);
    let settings = "on: connect 2.5s, read off, write 2.5s, accept 1s, \
                    exclude 2 entries, only 1 entry";
    assert_eq!(
        lines,
        [
            format!("timeoutsock: sh[{pid}]: {settings}"),
            format!("timeoutsock: true[{pid}]: {settings}"),
        ]
    );
}

#[test]
fn level_2_says_why_the_library_is_off() {
    let (pid, lines) = load_lines(&[("TIMEOUTSOCK_LOG", "2")]);
    assert_eq!(
        lines,
        [
            format!("timeoutsock: sh[{pid}]: off: no timeout set"),
            format!("timeoutsock: true[{pid}]: off: no timeout set"),
        ]
    );
    let (out, err) = run(
        "/bin/true",
        &[],
        &[("TIMEOUTSOCK_SECS", "twenty"), ("TIMEOUTSOCK_LOG", "2")],
    );
    assert_eq!(out, "");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    let (prog, _, warning) = split_who(lines[0]).unwrap();
    assert_eq!(prog, "true");
    assert!(
        warning.starts_with("timeoutsock: ignoring TIMEOUTSOCK_SECS=\"twenty\": not a number"),
        "{err}"
    );
    let (prog, _, off) = split_who(lines[1]).unwrap();
    assert_eq!(prog, "true");
    assert_eq!(
        off,
        "timeoutsock: off: no timeout set (refused values count as unset)"
    );
}

#[test]
fn levels_0_and_1_print_nothing_at_load() {
    for level in ["", "0", "1"] {
        let (_, lines) = load_lines(&[("TIMEOUTSOCK_SECS", "5"), ("TIMEOUTSOCK_LOG", level)]);
        assert!(lines.is_empty(), "LOG={level:?}: {lines:?}");
    }
}

/// A timeout line names the program and the pid of the process that timed
/// out: a python parent and its fork child each time out on their own
/// connection, each line with its own pid.
#[test]
fn timeout_lines_name_program_and_pid() {
    let srv = silent_server(V4);
    let script = r#"
import os, socket, sys
def one():
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    try:
        s.recv(1)
        print("recv returned")
    except OSError as e:
        print("errno", e.errno)
    sys.stdout.flush()
one()
pid = os.fork()
if pid == 0:
    print("child", os.getpid()); sys.stdout.flush()
    one()
    os._exit(0)
os.waitpid(pid, 0)
print("parent", os.getpid())
"#;
    let py = python3();
    let (out, err) = run(
        py.to_str().unwrap(),
        &["-c", script, V4, &srv.port_s()],
        &[("TIMEOUTSOCK_SECS", "0.5"), ("TIMEOUTSOCK_LOG", "1")],
    );
    let field = |k: &str| -> u32 {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {out:?}"))
    };
    let (parent, child) = (field("parent "), field("child "));
    assert_eq!(out.matches("errno 110").count(), 2, "{out}\n{err}");
    let prog = py.file_name().unwrap().to_str().unwrap();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    for (line, pid) in lines.iter().zip([parent, child]) {
        let (p, got_pid, rest) = split_who(line).unwrap_or_else(|| panic!("{line:?}"));
        assert_eq!((p, got_pid), (prog, pid), "{err}");
        let peer = format!("({V4}:{})", srv.port);
        assert!(
            rest.starts_with("timeoutsock: recv on fd ")
                && rest.ends_with(&format!("{peer} timed out after 0.5s")),
            "{line:?}"
        );
    }
}
