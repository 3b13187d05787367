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
