//! Smoke test of the benchmark: `scripts/bench --quick` runs every
//! measurement with tiny counts, exits 0, and writes a JSON report in which
//! every row is there with numbers. No speed is asserted (quick counts are
//! meaningless for that). A row may be "n/a" only because valgrind or perf
//! is unavailable on the machine (perf is refused in some sandboxes), never
//! because a measurement failed.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every row the report must have.
const ROWS: &[&str] = &[
    "exec.wall",
    "exec.wall_off",
    "exec.instr",
    "exec.syscalls",
    "exec.faults",
    "io.file-read.instr",
    "io.file-read.instr_off",
    "io.file-read.syscalls",
    "io.file-read.wall",
    "io.file-write.instr",
    "io.file-write.instr_off",
    "io.file-write.syscalls",
    "io.file-write.wall",
    "io.pipe.instr",
    "io.pipe.instr_off",
    "io.pipe.syscalls",
    "io.pipe.wall",
    "io.zero-read.instr",
    "io.zero-read.instr_off",
    "io.zero-read.syscalls",
    "io.zero-read.wall",
    "io.zero-write.instr",
    "io.zero-write.instr_off",
    "io.zero-write.syscalls",
    "io.zero-write.wall",
    "tcp.read.instr",
    "tcp.read.syscalls",
    "tcp.read.wall",
    "tcp.recv.instr",
    "tcp.recv.syscalls",
    "tcp.recv.wall",
    "tcp.readv.instr",
    "tcp.readv.syscalls",
    "tcp.readv.wall",
    "wait.syscalls",
    "wait.instr",
    "wait.wall",
    "evloop.poll.wall",
    "evloop.poll.instr",
    "evloop.poll.syscalls",
    "evloop.select.wall",
    "evloop.select.instr",
    "evloop.select.syscalls",
    "evloop.epoll.wall",
    "evloop.epoll.instr",
    "evloop.epoll.syscalls",
    "timeout.median",
    "timeout.max",
];

/// The whole quick run, build included, must end well within this.
const LIMIT: Duration = Duration::from_secs(110);

#[test]
fn quick_bench_reports_every_row() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let scratch = std::env::temp_dir().join(format!("timeoutsock-bench-{}", std::process::id()));
    let json = scratch.join("bench.json");
    let mut cmd = Command::new(root.join("scripts/bench"));
    cmd.arg("--quick")
        .arg("--json")
        .arg(&json)
        .arg("--out")
        .arg(&scratch)
        .current_dir(&root)
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
        let mut s = String::new();
        out.read_to_string(&mut s).ok();
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).ok();
        s
    });
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if started.elapsed() > LIMIT {
            // The bench and everything it started: its own process group.
            // SAFETY: kill(2) on the group we created for this child.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            child.wait().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out_t.join().unwrap();
    let stderr = err_t.join().unwrap();
    let report = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    let status = status.unwrap_or_else(|| panic!("bench still running after {LIMIT:?}\n{report}"));
    assert!(status.success(), "bench failed: {status}\n{report}");
    let took = started.elapsed();

    let text = std::fs::read_to_string(&json).expect("bench wrote no JSON");
    let doc = Json::parse(&text).unwrap_or_else(|e| panic!("bad JSON: {e}\n{text}"));
    let _ = std::fs::remove_dir_all(&scratch);

    let machine = doc.get("machine").expect("machine");
    assert!(machine.get("nproc").and_then(Json::num).is_some());
    assert!(machine.get("model").and_then(Json::str).is_some());
    assert!(machine.get("kernel").and_then(Json::str).is_some());
    assert_eq!(doc.get("quick"), Some(&Json::Bool(true)));

    let rows = match doc.get("rows") {
        Some(Json::Arr(r)) => r,
        _ => panic!("no rows array"),
    };
    let mut by_id = BTreeMap::new();
    for r in rows {
        let id = r.get("id").and_then(Json::str).expect("row id").to_string();
        assert!(by_id.insert(id.clone(), r).is_none(), "row {id} twice");
    }
    for id in ROWS {
        let r = by_id
            .get(*id)
            .unwrap_or_else(|| panic!("row {id} missing\n{report}"));
        check_row(id, r);
    }
    assert_eq!(
        by_id.len(),
        ROWS.len(),
        "unexpected rows: {:?}",
        by_id.keys()
    );
    println!("bench --quick: {} rows in {took:?}", rows.len());
}

/// A row has numbers where it has a measurement, or says which tool is
/// missing; never an error.
fn check_row(id: &str, r: &Json) {
    for k in ["what", "unit", "goal_text"] {
        assert!(r.get(k).and_then(Json::str).is_some(), "{id}: no {k}");
    }
    match r.get("na") {
        Some(Json::Null) => {
            for k in ["baseline", "library", "added"] {
                let v = r.get(k).and_then(Json::num);
                assert!(
                    v.is_some_and(f64::is_finite),
                    "{id}: {k} is not a number: {r:?}"
                );
            }
            let empty = r.get("empty");
            let timeout_row = id.starts_with("timeout.");
            assert!(
                empty.and_then(Json::num).is_some() || (timeout_row && empty == Some(&Json::Null)),
                "{id}: empty is not a number: {r:?}"
            );
            match (r.get("goal"), r.get("met")) {
                (Some(Json::Num(_)), Some(Json::Bool(_))) => {}
                (Some(Json::Null), Some(Json::Null)) => {}
                other => panic!("{id}: goal/met inconsistent: {other:?}"),
            }
        }
        Some(Json::Str(why)) => {
            assert!(
                why.starts_with("valgrind unavailable") || why.starts_with("perf unavailable"),
                "{id}: not measured: {why}"
            );
            let source = r.get("source").and_then(Json::str);
            assert!(
                matches!(source, Some("callgrind" | "perf")),
                "{id}: n/a ({why}) on a {source:?} row"
            );
        }
        other => panic!("{id}: bad na field {other:?}"),
    }
}

// ----------------------------------------------------------- a tiny JSON
// (the test has no JSON crate; this reads what the bench writes)

#[derive(Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(s: &str) -> Result<Json, String> {
        let mut p = Parser {
            b: s.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.b.len() {
            return Err(format!("trailing data at {}", p.i));
        }
        Ok(v)
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(kv) => kv.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn num(&self) -> Option<f64> {
        match self {
            Json::Num(n) => Some(*n),
            _ => None,
        }
    }

    fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at {}", c as char, self.i))
        }
    }

    fn lit(&mut self, word: &str, v: Json) -> Result<Json, String> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(format!("bad literal at {}", self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.b.get(self.i) {
            None => Err("unexpected end".into()),
            Some(b'n') => self.lit("null", Json::Null),
            Some(b't') => self.lit("true", Json::Bool(true)),
            Some(b'f') => self.lit("false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'[') => {
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(v));
                }
                loop {
                    v.push(self.value()?);
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(v));
                        }
                        _ => return Err(format!("bad array at {}", self.i)),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut kv = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(kv));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.eat(b':')?;
                    kv.push((k, self.value()?));
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(kv));
                        }
                        _ => return Err(format!("bad object at {}", self.i)),
                    }
                }
            }
            Some(_) => self.number(),
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.i;
        while self.i < self.b.len() && b"+-0123456789.eE".contains(&self.b[self.i]) {
            self.i += 1;
        }
        std::str::from_utf8(&self.b[start..self.i])
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .map(Json::Num)
            .ok_or_else(|| format!("bad number at {start}"))
    }

    fn string(&mut self) -> Result<String, String> {
        if self.b.get(self.i) != Some(&b'"') {
            return Err(format!("expected string at {}", self.i));
        }
        self.i += 1;
        let mut out = String::new();
        loop {
            let start = self.i;
            while self.i < self.b.len() && self.b[self.i] != b'"' && self.b[self.i] != b'\\' {
                self.i += 1;
            }
            out.push_str(std::str::from_utf8(&self.b[start..self.i]).map_err(|e| e.to_string())?);
            match self.b.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let c = *self.b.get(self.i + 1).ok_or("bad escape")?;
                    self.i += 2;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'u' => {
                            let hex = self.b.get(self.i..self.i + 4).ok_or("bad \\u")?;
                            let hex = std::str::from_utf8(hex).map_err(|e| e.to_string())?;
                            let cp = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
                            self.i += 4;
                            out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                        }
                        _ => return Err(format!("bad escape at {}", self.i)),
                    }
                }
                _ => return Err("unterminated string".into()),
            }
        }
    }
}

#[test]
fn tiny_json_reads_what_python_writes() {
    let v = Json::parse(r#"{"a": [1, -2.5e3, null, true], "b": "x\"\u00b5", "c": {}}"#).unwrap();
    assert_eq!(
        v.get("a"),
        Some(&Json::Arr(vec![
            Json::Num(1.0),
            Json::Num(-2500.0),
            Json::Null,
            Json::Bool(true)
        ]))
    );
    assert_eq!(v.get("b").and_then(Json::str), Some("x\"µ"));
    assert_eq!(v.get("c"), Some(&Json::Obj(vec![])));
}
