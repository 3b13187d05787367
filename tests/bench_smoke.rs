//! Smoke test of the benchmark: `scripts/bench --quick` runs every
//! measurement with tiny counts, exits 0, and writes a JSON report; then
//! `scripts/bench --check-json` checks that report against the benchmark's
//! one declarative table (bench/tsbench/table.py): every row there once,
//! numbers where a measurement was made, "n/a" only because valgrind or perf
//! is unavailable on the machine (perf is refused in some sandboxes), never
//! because a measurement failed. No speed is asserted (quick counts are
//! meaningless for that). The test reads no JSON itself: the rows and goals
//! live in one place, the table, and the checker beside it reads both.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The whole quick run, build included, must end well within this.
const LIMIT: Duration = Duration::from_secs(150);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs scripts/bench with `args` in its own process group, killed (the
/// whole group) if it is still running after `limit`.
fn bench(args: &[&str], limit: Duration) -> (Output, Duration) {
    let mut cmd = Command::new(root().join("scripts/bench"));
    cmd.args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(cargo) = option_env!("CARGO") {
        cmd.env("CARGO", cargo);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("run scripts/bench (needs python3)");
    let pid = child.id() as i32;
    // Drain both pipes while waiting, so that a chatty run cannot block.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        out.read_to_end(&mut s).ok();
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        err.read_to_end(&mut s).ok();
        s
    });
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if started.elapsed() > limit {
            // The bench and everything it started: its own process group.
            // SAFETY: kill(2) on the group we created for this child.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            child.wait().ok();
            panic!(
                "scripts/bench {args:?} still running after {limit:?}\n{}",
                String::from_utf8_lossy(&err_t.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = started.elapsed();
    let output = Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    };
    (output, took)
}

fn report(o: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn check(json: &Path, quick: bool) -> Output {
    let mut args = vec!["--check-json", json.to_str().unwrap()];
    if quick {
        args.push("--quick");
    }
    bench(&args, Duration::from_secs(30)).0
}

#[test]
fn quick_bench_reports_every_row_of_the_table() {
    let scratch = std::env::temp_dir().join(format!("timeoutsock-bench-{}", std::process::id()));
    let json = scratch.join("bench.json");
    let (run, took) = bench(
        &[
            "--quick",
            "--json",
            json.to_str().unwrap(),
            "--out",
            scratch.to_str().unwrap(),
        ],
        LIMIT,
    );
    assert!(run.status.success(), "bench failed\n{}", report(&run));

    let ok = check(&json, true);
    assert!(
        ok.status.success(),
        "report does not match the table\n{}",
        report(&ok)
    );
    let said = String::from_utf8_lossy(&ok.stdout);
    assert!(said.contains("rows match the table"), "{said}");

    // The checker is not a rubber stamp: a report with a row renamed, or
    // one that is not a quick run, is refused, naming the row.
    let text = std::fs::read_to_string(&json).expect("bench wrote no JSON");
    let broken = scratch.join("broken.json");
    let renamed = text.replacen("\"id\": \"wait.syscalls\"", "\"id\": \"wait.bogus\"", 1);
    assert_ne!(renamed, text, "no wait.syscalls row in the report");
    // The outside supervisor's rows (group supervise) are checked the same way.
    let sup = renamed.replacen(
        "\"id\": \"supervise.late_median_ms\"",
        "\"id\": \"supervise.bogus\"",
        1,
    );
    assert_ne!(
        sup, renamed,
        "no supervise.late_median_ms row in the report"
    );
    let renamed = sup;
    std::fs::write(&broken, renamed).unwrap();
    let bad = check(&broken, true);
    let why = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success(),
        "renamed row accepted\n{}",
        report(&bad)
    );
    assert!(
        why.contains("wait.syscalls: missing")
            && why.contains("wait.bogus: not in the table")
            && why.contains("supervise.late_median_ms: missing"),
        "{why}"
    );
    let full = check(&json, false);
    assert!(!full.status.success(), "a quick run passed as a full one");
    let readme = bench(
        &["--readme", json.to_str().unwrap()],
        Duration::from_secs(30),
    )
    .0;
    assert!(
        !readme.status.success(),
        "README table generated from a quick run"
    );

    let _ = std::fs::remove_dir_all(&scratch);
    println!("bench --quick: {took:?}");
}
