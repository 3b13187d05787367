//! Building what the tests run: the preload library (cargo), the C clients
//! and C preloads (one gcc path), and reading a built file's dynamic
//! symbols (one `nm` reader) and the library's hook list.

use super::run::Run;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn preload_dir() -> PathBuf {
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
    c_client("tsclient")
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

/// tests/c/NAME.c.
pub fn c_source(name: &str) -> PathBuf {
    manifest_dir()
        .join("tests")
        .join("c")
        .join(format!("{name}.c"))
}

/// The one gcc path: `CC -o OUT SRC FLAGS...` (libraries may follow in
/// FLAGS), written under a temporary name and renamed to `out` when it
/// worked, so that a parallel test never runs a half-written file. Fails
/// the test when the compiler fails or writes anything (warnings are
/// errors). Returns `out`.
pub fn gcc(cc: &str, src: &Path, out: &Path, flags: &[&str]) -> PathBuf {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let r = Command::new(cc)
        .arg("-o")
        .arg(&tmp)
        .arg(src)
        .args(flags)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {cc} (Debian package gcc, or musl-tools for musl-gcc): {e}")
        });
    assert!(
        r.status.success() && r.stderr.is_empty(),
        "{cc} {flags:?} {} failed or warned:\n{}",
        src.display(),
        String::from_utf8_lossy(&r.stderr)
    );
    std::fs::rename(&tmp, out).unwrap();
    out.to_path_buf()
}

/// `gcc(cc, tests/c/NAME.c, target/preload/OUT, flags)` once per test
/// binary and output path.
pub fn c_build(cc: &str, name: &str, out: &str, flags: &[&str]) -> PathBuf {
    static BUILT: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());
    let out = preload_dir().join(out);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = built.iter().find(|(o, _)| *o == out) {
        return p.clone();
    }
    let p = gcc(cc, &c_source(name), &out, flags);
    built.push((out, p.clone()));
    p
}

/// Flags of the C test clients: fortified, so that they call the `_chk`
/// variants of the functions that have them.
pub const CLIENT_FLAGS: &[&str] = &["-O2", "-D_FORTIFY_SOURCE=2", "-Wall"];

/// tests/c/NAME.c built as a client into target/preload/NAME.
pub fn c_client(name: &str) -> PathBuf {
    c_build("gcc", name, name, CLIENT_FLAGS)
}

/// tests/c/waitclient.c, compiled fortified: its `poll_chk`/`ppoll_chk`
/// kinds call `__poll_chk`/`__ppoll_chk`.
pub fn waitclient() -> PathBuf {
    c_client("waitclient")
}

/// tests/c/adverse.c, compiled like the other clients: one mode per
/// adversarial case of issue 10.
pub fn adverse() -> PathBuf {
    c_client("adverse")
}

/// tests/c/NAME.c built as a shared library (a second preload), once per
/// test binary, into target/preload/libNAME.so.
pub fn c_preload(name: &str) -> PathBuf {
    let so = format!("lib{name}.so");
    c_build(
        "gcc",
        name,
        &so,
        &["-shared", "-fPIC", "-O2", "-Wall", "-ldl"],
    )
}

/// The wait client with arguments.
pub fn wclient<S: AsRef<str>>(args: &[S]) -> Run {
    Run::new(waitclient()).args(args)
}

// ---------------------------------------------------------------------------
// Symbols
// ---------------------------------------------------------------------------

/// One line of `nm -D`: the symbol's type letter (`U`, `T`, `W`, ...) and
/// its name without the version suffix (`read@GLIBC_2.2.5` gives `read`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynSym {
    pub kind: char,
    pub name: String,
}

/// The one `nm` reader: the dynamic symbols of `file` (`nm -D EXTRA...`).
pub fn dynamic_symbols(file: &Path, extra: &[&str]) -> Vec<DynSym> {
    let out = Command::new("nm")
        .arg("-D")
        .args(extra)
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run nm (binutils)");
    assert!(
        out.status.success(),
        "nm -D {} failed:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            // "ADDRESS T name" or, undefined, "         U name@VERSION"
            let mut w = l.split_whitespace().rev();
            let name = w.next()?;
            let kind = w.next()?.chars().next()?;
            let name = name.split('@').next().unwrap_or(name).to_string();
            Some(DynSym { kind, name })
        })
        .collect()
}

/// The dynamic symbols that `file` imports (`nm -D --undefined-only`),
/// without their version suffix.
pub fn imported_symbols(file: &Path) -> Vec<String> {
    names(dynamic_symbols(file, &["--undefined-only"]))
}

/// The dynamic symbols that `file` defines (`nm -D --defined-only`).
pub fn exported_symbols(file: &Path) -> Vec<String> {
    names(dynamic_symbols(file, &["--defined-only"]))
}

fn names(syms: Vec<DynSym>) -> Vec<String> {
    syms.into_iter().map(|s| s.name).collect()
}

/// The hook list, from its one source of truth: the functions of the
/// `real_fns! { ... }` table in src/ (every hook calls the real function of
/// its name). Read from the source text, tolerantly: the table is found in
/// whichever file of src/ invokes `real_fns!` with a brace, and every
/// `fn NAME(` in it counts. exports.rs checks that the library exports
/// exactly these.
pub fn hooks() -> Vec<String> {
    static HOOKS: OnceLock<Vec<String>> = OnceLock::new();
    HOOKS.get_or_init(read_hook_table).clone()
}

/// Asserts that `client` imports every name in `calls` (so it really calls
/// them, fortified ones included) and that each is a hook of the library.
pub fn assert_client_hooked(client: &Path, calls: &[&str]) {
    let imports = imported_symbols(client);
    let missing: Vec<&&str> = calls
        .iter()
        .filter(|c| !imports.iter().any(|i| i == *c))
        .collect();
    assert!(
        missing.is_empty(),
        "{} does not import {missing:?}: {imports:?}",
        client.display()
    );
    assert_hooked(calls);
}

/// Asserts that every name in `calls` is a hook (in the real_fns! table)
/// and that the built library exports it.
pub fn assert_hooked(calls: &[&str]) {
    let hooks = hooks();
    let exports = exported_symbols(&preload_lib());
    let missing: Vec<&&str> = calls
        .iter()
        .filter(|c| !hooks.iter().any(|h| h == *c) || !exports.iter().any(|e| e == *c))
        .collect();
    assert!(
        missing.is_empty(),
        "no hook for {missing:?}: the real_fns! table has {hooks:?}, the library exports {exports:?}"
    );
}

fn read_hook_table() -> Vec<String> {
    let mut files = Vec::new();
    let mut dirs = vec![manifest_dir().join("src")];
    // bounded: by the files under src/
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    files.sort();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let Some(at) = text.find("\nreal_fns! {") else {
            continue;
        };
        let table = &text[at..];
        let table = &table[..table.find("\n}").unwrap_or(table.len())];
        // The table lists the hooks first; the functions it resolves only
        // for the library's own use follow a `// Not hooked` comment.
        let table = &table[..table.find("// Not hooked").unwrap_or(table.len())];
        let mut hooks: Vec<String> = table
            .lines()
            .filter_map(|l| {
                let rest = l.trim_start().strip_prefix("fn ")?;
                let name = &rest[..rest.find('(')?];
                Some(name.trim().to_string())
            })
            .collect();
        hooks.sort();
        hooks.dedup();
        assert!(
            hooks.len() > 10,
            "the real_fns! table in {} reads as {hooks:?}",
            f.display()
        );
        return hooks;
    }
    panic!("no `real_fns! {{` table found in src/: where does the hook list live now?");
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

/// Builds the Go program `src` into `out`, statically (`cgo` false:
/// CGO_ENABLED=0, Go's default for most CLIs) or dynamically linked with
/// the C library (cgo). Fails the test when `go` is missing (.ci/run
/// installs golang-go) or the build fails.
pub fn go_build(src: &Path, out: &Path, cgo: bool) -> PathBuf {
    let go = require_program("go", "golang-go");
    let dir = out.parent().expect("go_build: out has a directory");
    let o = Command::new(go)
        .args(["build", "-o"])
        .arg(out)
        .arg(src)
        .env("CGO_ENABLED", if cgo { "1" } else { "0" })
        .env("GOCACHE", std::env::temp_dir().join("timeoutsock-gocache"))
        .env("GOPATH", dir.join("gopath"))
        .env("GO111MODULE", "off")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run go build");
    assert!(
        o.status.success(),
        "go build {}: {}",
        src.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    out.to_path_buf()
}
