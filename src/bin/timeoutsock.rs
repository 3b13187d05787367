//! `timeoutsock`: runs a command with libtimeoutsock preloaded.
//!
//! ```text
//! timeoutsock [-t SECS] [--connect SECS] [--read SECS] [--write SECS] [--accept SECS]
//!             [--exclude PEERS] [--only PEERS] [--log] [--force] [--] COMMAND [ARG...]
//! ```
//!
//! It sets the `TIMEOUTSOCK_*` variables, puts the library first in
//! `LD_PRELOAD` and executes the command in its own place (`execve` after a
//! PATH search with `execvp`'s rules): the command keeps the wrapper's PID, so
//! its exit status, signals, standard streams and the rest of the
//! environment are its own. Before that it checks that a preload can work for
//! the command at all — dynamically linked, not run with raised privileges
//! (setuid, setgid, file capabilities), the library's ELF class and machine —
//! and refuses with exit status 122 when it cannot (`--force` runs it anyway).
//!
//! A normal std binary, never preloaded itself. `no_main`: Rust's runtime
//! start-up (which sets SIGPIPE to ignored — inherited through exec — and
//! reopens closed standard descriptors on /dev/null) never runs, so the
//! command gets exactly the signal dispositions and descriptors the wrapper
//! was given.
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code))]

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

const PROG: &str = "timeoutsock";
const LIB_NAME: &str = "libtimeoutsock.so";
/// The idle timeout when neither `-t` nor `TIMEOUTSOCK_SECS` gives one.
const DEFAULT_SECS: &str = "30";

/// The preload cannot work for the command (static, privileged, foreign ELF).
const EXIT_NO_PRELOAD: i32 = 122;
/// timeoutsock's own failure: usage, library not found.
const EXIT_ERROR: i32 = 125;
/// The command was found but cannot be invoked.
const EXIT_CANNOT_INVOKE: i32 = 126;
/// The command was not found.
const EXIT_NOT_FOUND: i32 = 127;

/// Entry point, called by the C runtime (see the module comment for why not
/// Rust's `fn main`).
///
/// # Safety
/// Called by the C runtime with its `argc`/`argv`.
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    let mut args = Vec::with_capacity(argc.max(0) as usize);
    for i in 0..argc.max(0) as usize {
        // SAFETY: the C runtime passes argc valid NUL-terminated strings.
        let p = unsafe { *argv.add(i) };
        if p.is_null() {
            break;
        }
        // SAFETY: p is a NUL-terminated string that lives as long as the process.
        let s = unsafe { CStr::from_ptr(p) };
        args.push(OsStr::from_bytes(s.to_bytes()).to_os_string());
    }
    let code = run(args);
    let _ = std::io::stdout().flush();
    code
}

// ---------------------------------------------------------------------------
// The whole run
// ---------------------------------------------------------------------------

fn run(args: Vec<OsString>) -> i32 {
    let opts = match parse_args(&args) {
        Ok(Action::Help) => {
            let _ = std::io::stdout().write_all(help_text().as_bytes());
            return 0;
        }
        Ok(Action::Version) => {
            let lib = match find_library() {
                Ok(p) => p.display().to_string(),
                Err(e) => format!("not found ({e})"),
            };
            let _ = writeln!(
                std::io::stdout(),
                "{PROG} (libtimeoutsock) {}\nlibrary: {lib}",
                env!("CARGO_PKG_VERSION")
            );
            return 0;
        }
        Ok(Action::Run(o)) => o,
        Err(msg) => {
            eprintln!("{PROG}: {msg}");
            eprintln!("Try '{PROG} --help' for more information.");
            return EXIT_ERROR;
        }
    };
    let mut env = Env(std::env::vars_os().collect());

    // -t defaults to TIMEOUTSOCK_SECS from the environment, else 30 s.
    let mut vars = opts.vars;
    if !vars.iter().any(|(k, _)| *k == "TIMEOUTSOCK_SECS") {
        match env.get("TIMEOUTSOCK_SECS").filter(|v| !v.is_empty()) {
            Some(v) => {
                if let Err(why) = check_secs(v.as_bytes()) {
                    eprintln!(
                        "{PROG}: invalid time interval {} in TIMEOUTSOCK_SECS: {why}",
                        quote(v.as_bytes())
                    );
                    return EXIT_ERROR;
                }
            }
            None => vars.push(("TIMEOUTSOCK_SECS", DEFAULT_SECS.into())),
        }
    }

    let lib = match find_library() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{PROG}: {e}");
            return EXIT_ERROR;
        }
    };
    let lib_elf = match read_elf(&lib) {
        Some(e) if e.e_type == ET_DYN => e,
        _ => {
            eprintln!(
                "{PROG}: {} is not an ELF shared library",
                quote(lib.as_os_str().as_bytes())
            );
            return EXIT_ERROR;
        }
    };

    let command = &opts.command;
    let path_var = env.get("PATH").map(|v| v.to_os_string());
    let target = match resolve_command(&command[0], path_var.as_deref()) {
        Ok(p) => p,
        Err(errno) => return cannot_run(&command[0], errno),
    };
    if let Some(b) = preload_blocker(&target, &lib_elf, path_var.as_deref(), 0) {
        let what = b.describe(&target);
        if !opts.force {
            eprintln!(
                "{PROG}: {what}: LD_PRELOAD cannot work for it (no timeouts); \
                 use --force to run it anyway"
            );
            return EXIT_NO_PRELOAD;
        }
        eprintln!(
            "{PROG}: warning: {what}: LD_PRELOAD cannot work for it; running it without timeouts"
        );
    }

    for (k, v) in vars {
        env.set(k, v);
    }
    let preload = preload_value(env.get("LD_PRELOAD"), &lib);
    env.set("LD_PRELOAD", preload);

    let errno = exec(&target, command, &env.0);
    cannot_run(&command[0], errno)
}

/// Reports a command that could not be started, as coreutils' `timeout` does.
fn cannot_run(cmd: &OsStr, errno: i32) -> i32 {
    eprintln!(
        "{PROG}: failed to run command {}: {}",
        quote(cmd.as_bytes()),
        strerror(errno)
    );
    if errno == libc::ENOENT {
        EXIT_NOT_FOUND
    } else {
        EXIT_CANNOT_INVOKE
    }
}

/// The environment to hand over, in its original order.
struct Env(Vec<(OsString, OsString)>);

impl Env {
    fn get(&self, k: &str) -> Option<&OsStr> {
        self.0
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_os_str())
    }
    fn set(&mut self, k: &str, v: OsString) {
        match self.0.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = v,
            None => self.0.push((k.into(), v)),
        }
    }
}

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Action {
    Help,
    Version,
    Run(Opts),
}

#[derive(Debug, PartialEq, Default)]
struct Opts {
    /// Variables to set, in the order given (a later one wins).
    vars: Vec<(&'static str, OsString)>,
    force: bool,
    /// COMMAND and its arguments, never empty.
    command: Vec<OsString>,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// Takes SECS, sets this variable.
    Secs(&'static str),
    /// Takes a peer list, sets this variable.
    Peers(&'static str),
    Log,
    Force,
    Help,
    Version,
}

impl Kind {
    fn takes_value(self) -> bool {
        matches!(self, Kind::Secs(_) | Kind::Peers(_))
    }
}

const LONG_OPTS: &[(&str, Kind)] = &[
    ("timeout", Kind::Secs("TIMEOUTSOCK_SECS")),
    ("connect", Kind::Secs("TIMEOUTSOCK_CONNECT_SECS")),
    ("read", Kind::Secs("TIMEOUTSOCK_READ_SECS")),
    ("write", Kind::Secs("TIMEOUTSOCK_WRITE_SECS")),
    ("accept", Kind::Secs("TIMEOUTSOCK_ACCEPT_SECS")),
    ("exclude", Kind::Peers("TIMEOUTSOCK_EXCLUDE")),
    ("only", Kind::Peers("TIMEOUTSOCK_ONLY")),
    ("log", Kind::Log),
    ("force", Kind::Force),
    ("help", Kind::Help),
    ("version", Kind::Version),
];

/// A long option by its full name or an unambiguous prefix (as getopt_long).
fn long_opt(name: &[u8]) -> Result<(&'static str, Kind), String> {
    if let Some(&(n, k)) = LONG_OPTS.iter().find(|(n, _)| n.as_bytes() == name) {
        return Ok((n, k));
    }
    let hits: Vec<_> = LONG_OPTS
        .iter()
        .filter(|(n, _)| !name.is_empty() && n.as_bytes().starts_with(name))
        .collect();
    match hits.as_slice() {
        &[&(n, k)] => Ok((n, k)),
        [] => Err(format!(
            "unrecognized option '--{}'",
            String::from_utf8_lossy(name)
        )),
        many => Err(format!(
            "option '--{}' is ambiguous; possibilities:{}",
            String::from_utf8_lossy(name),
            many.iter()
                .map(|(n, _)| format!(" '--{n}'"))
                .collect::<String>()
        )),
    }
}

/// Parses options up to the first operand (or `--`); the rest is COMMAND.
fn parse_args(args: &[OsString]) -> Result<Action, String> {
    let mut opts = Opts::default();
    let mut i = 1;
    // bounded: i grows on every iteration
    while i < args.len() {
        let a = args[i].as_bytes();
        let (name, kind, inline): (String, Kind, Option<&[u8]>) = if a == b"--" {
            i += 1;
            break;
        } else if let Some(long) = a.strip_prefix(b"--") {
            let (n, v) = match long.iter().position(|&c| c == b'=') {
                Some(p) => (&long[..p], Some(&long[p + 1..])),
                None => (long, None),
            };
            let (full, kind) = long_opt(n)?;
            if v.is_some() && !kind.takes_value() {
                return Err(format!("option '--{full}' doesn't allow an argument"));
            }
            (format!("--{full}"), kind, v)
        } else if a.len() > 1 && a[0] == b'-' {
            if a[1] != b't' {
                return Err(format!(
                    "invalid option -- '{}'",
                    String::from_utf8_lossy(&a[1..2])
                ));
            }
            let v = if a.len() > 2 { Some(&a[2..]) } else { None };
            ("-t".to_string(), Kind::Secs("TIMEOUTSOCK_SECS"), v)
        } else {
            break;
        };
        let value: Option<OsString> = if kind.takes_value() {
            match inline {
                Some(v) => Some(OsStr::from_bytes(v).to_os_string()),
                None => {
                    i += 1;
                    match args.get(i) {
                        Some(v) => Some(v.clone()),
                        None if name == "-t" => {
                            return Err("option requires an argument -- 't'".into());
                        }
                        None => return Err(format!("option '{name}' requires an argument")),
                    }
                }
            }
        } else {
            None
        };
        match (kind, value) {
            (Kind::Secs(var), Some(v)) => {
                check_secs(v.as_bytes()).map_err(|why| {
                    format!("invalid time interval {}: {why}", quote(v.as_bytes()))
                })?;
                opts.vars.push((var, v));
            }
            (Kind::Peers(var), Some(v)) => opts.vars.push((var, v)),
            (Kind::Log, _) => opts.vars.push(("TIMEOUTSOCK_LOG", "1".into())),
            (Kind::Force, _) => opts.force = true,
            (Kind::Help, _) => return Ok(Action::Help),
            (Kind::Version, _) => return Ok(Action::Version),
            (_, None) => unreachable!("option values are read above"),
        }
        i += 1;
    }
    if i >= args.len() {
        return Err("missing operand".into());
    }
    opts.command = args[i..].to_vec();
    // A later option of the same variable wins.
    let mut seen = Vec::new();
    let mut vars = Vec::new();
    for (k, v) in opts.vars.into_iter().rev() {
        if !seen.contains(&k) {
            seen.push(k);
            vars.push((k, v));
        }
    }
    vars.reverse();
    opts.vars = vars;
    Ok(Action::Run(opts))
}

#[path = "../secs.rs"]
#[allow(dead_code)]
mod secs;

/// The library's rule for a number of seconds (src/secs.rs). Unlike the
/// library (where empty means unset), an empty value is refused: an option
/// was given without a number.
fn check_secs(s: &[u8]) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err(secs::Bad::NotANumber.reason());
    }
    secs::parse_secs(s).map(|_| ()).map_err(secs::Bad::reason)
}

/// `'text'`, with bytes that would garble a terminal line shown as `\xNN`.
fn quote(b: &[u8]) -> String {
    let mut s = String::from("'");
    for ch in String::from_utf8_lossy(b).chars() {
        if ch.is_control() {
            for byte in ch.to_string().bytes() {
                s.push_str(&format!("\\x{byte:02x}"));
            }
        } else {
            s.push(ch);
        }
    }
    s.push('\'');
    s
}

fn strerror(errno: i32) -> String {
    // SAFETY: strerror returns a valid NUL-terminated string; this program is
    // single-threaded, so its static buffer is not shared.
    unsafe { CStr::from_ptr(libc::strerror(errno)) }
        .to_string_lossy()
        .into_owned()
}

fn help_text() -> String {
    format!(
        "\
Usage: {PROG} [OPTION]... [--] COMMAND [ARG]...
Run COMMAND with libtimeoutsock preloaded: a TCP connection on which nothing
moves for SECS seconds fails with \"Connection timed out\" (ETIMEDOUT).

  -t, --timeout=SECS  idle timeout of connect, reads and writes
                        (TIMEOUTSOCK_SECS); default: $TIMEOUTSOCK_SECS if set,
                        else {DEFAULT_SECS}
      --connect=SECS  timeout of connect (TIMEOUTSOCK_CONNECT_SECS)
      --read=SECS     timeout of reads (TIMEOUTSOCK_READ_SECS)
      --write=SECS    timeout of writes (TIMEOUTSOCK_WRITE_SECS)
      --accept=SECS   timeout of accept, off unless given
                        (TIMEOUTSOCK_ACCEPT_SECS)
      --exclude=PEERS never time connections with PEERS (TIMEOUTSOCK_EXCLUDE)
      --only=PEERS    time only connections with PEERS (TIMEOUTSOCK_ONLY)
      --log           one line on stderr per timeout (TIMEOUTSOCK_LOG=1)
      --force         run COMMAND even when the preload cannot work for it
      --help          display this help and exit
      --version       output version information and exit

SECS: digits with an optional decimal point (20, 2.5, 0.25), from 0.001 to
2147483; 0 turns that timeout off. PEERS: a comma list of ADDRESS[/PREFIX]
with an optional :PORT, IPv6 in brackets before a port, for example
10.0.0.0/8,127.0.0.1:5432,[::1]:6379.

The library is $TIMEOUTSOCK_LIB if set, else {LIB_NAME} next to this
program or in ../lib from its directory. It goes first in LD_PRELOAD (joined
with ':'), unless LD_PRELOAD already names it. COMMAND is searched in PATH
and executed in place of {PROG} (same process): its exit status, signals,
standard streams and environment are its own. {PROG} refuses to run a
COMMAND that LD_PRELOAD cannot reach: statically linked, setuid or setgid,
with file capabilities, or built for another architecture.

Exit status:
  122  the preload cannot work for COMMAND (not run; --force runs it)
  125  {PROG} itself failed (bad option or SECS, library not found)
  126  COMMAND is found but cannot be invoked
  127  COMMAND cannot be found
  -    otherwise, the exit status of COMMAND

Full documentation: man {PROG}
"
    )
}

// ---------------------------------------------------------------------------
// The library and LD_PRELOAD
// ---------------------------------------------------------------------------

/// `$TIMEOUTSOCK_LIB`, else the library next to this program (a build tree:
/// `target/release/`) or in `../lib` from it (an installed layout:
/// `PREFIX/bin` + `PREFIX/lib`). The program's own path comes from
/// /proc/self/exe, symlinks resolved.
fn find_library() -> Result<PathBuf, String> {
    let lib = match std::env::var_os("TIMEOUTSOCK_LIB").filter(|v| !v.is_empty()) {
        Some(v) => {
            let p = std::path::absolute(&v).unwrap_or_else(|_| PathBuf::from(&v));
            if !p.is_file() {
                return Err(format!(
                    "TIMEOUTSOCK_LIB={}: no such file",
                    quote(v.as_bytes())
                ));
            }
            p
        }
        None => {
            let exe = std::fs::read_link("/proc/self/exe")
                .map_err(|e| format!("cannot read /proc/self/exe: {e}"))?;
            let dir = exe.parent().unwrap_or(Path::new("/"));
            let mut looked = vec![dir.join(LIB_NAME)];
            if let Some(prefix) = dir.parent() {
                looked.push(prefix.join("lib").join(LIB_NAME));
            }
            match looked.iter().find(|p| p.is_file()) {
                Some(p) => p.clone(),
                None => {
                    let list: Vec<String> =
                        looked.iter().map(|p| p.display().to_string()).collect();
                    return Err(format!(
                        "cannot find {LIB_NAME} (looked for {}); \
                         set TIMEOUTSOCK_LIB to its path",
                        list.join(" and ")
                    ));
                }
            }
        }
    };
    // The loader splits LD_PRELOAD at spaces and colons, with no escape, and
    // expands `$ORIGIN`-style tokens.
    if lib
        .as_os_str()
        .as_bytes()
        .iter()
        .any(|&c| c == b':' || c == b'$' || c.is_ascii_whitespace())
    {
        return Err(format!(
            "the library path {} contains a space, ':' or '$', which LD_PRELOAD cannot carry",
            quote(lib.as_os_str().as_bytes())
        ));
    }
    Ok(lib)
}

/// The loader's LD_PRELOAD separators (glibc: space and colon; neither can
/// be escaped, so no entry contains one).
fn is_preload_sep(c: &u8) -> bool {
    *c == b' ' || *c == b':'
}

/// `LIB:EXISTING`; `LIB` alone when LD_PRELOAD is unset or empty; EXISTING
/// unchanged when one of its entries already names the library (the same
/// path, or the same file through another path).
fn preload_value(existing: Option<&OsStr>, lib: &Path) -> OsString {
    let lib_b = lib.as_os_str().as_bytes();
    let Some(old) = existing.map(|e| e.as_bytes()) else {
        return lib.as_os_str().to_os_string();
    };
    let mut entries = old
        .split(is_preload_sep)
        .filter(|e| !e.is_empty())
        .peekable();
    if entries.peek().is_none() {
        return lib.as_os_str().to_os_string();
    }
    if entries.any(|e| {
        e == lib_b || (e.contains(&b'/') && same_file(Path::new(OsStr::from_bytes(e)), lib))
    }) {
        return OsStr::from_bytes(old).to_os_string();
    }
    let mut v = lib_b.to_vec();
    v.push(b':');
    v.extend_from_slice(old);
    OsString::from_vec(v)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Finding and executing the command
// ---------------------------------------------------------------------------

/// The file that `execvp` would run for `cmd`: `cmd` itself when it contains
/// a slash, else the first executable regular file `DIR/cmd` over `PATH`
/// (unset: `/bin:/usr/bin`; an empty entry is the current directory).
/// Errors are an errno: `ENOENT` (not found; exit 127) or another (found
/// but not executable; exit 126).
fn resolve_command(cmd: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf, i32> {
    let b = cmd.as_bytes();
    if b.is_empty() {
        return Err(libc::ENOENT);
    }
    if b.contains(&b'/') {
        let p = PathBuf::from(cmd);
        return match executable(&p) {
            Ok(()) => Ok(p),
            Err(e) => Err(e),
        };
    }
    let path = path_var.map(|p| p.as_bytes()).unwrap_or(b"/bin:/usr/bin");
    let mut denied = None;
    for dir in path.split(|&c| c == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let p = Path::new(OsStr::from_bytes(dir)).join(cmd);
        match executable(&p) {
            Ok(()) => return Ok(p),
            Err(libc::ENOENT) | Err(libc::ENOTDIR) => {}
            Err(e) => denied = Some(e),
        }
    }
    Err(denied.unwrap_or(libc::ENOENT))
}

/// Whether `execve` could run `p` as far as its type and mode tell.
fn executable(p: &Path) -> Result<(), i32> {
    let m = std::fs::metadata(p).map_err(|e| e.raw_os_error().unwrap_or(libc::ENOENT))?;
    if !m.is_file() {
        return Err(libc::EACCES);
    }
    let c = CString::new(p.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)?;
    // SAFETY: c is a valid NUL-terminated path.
    let r = unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::X_OK, libc::AT_EACCESS) };
    if r != 0 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EACCES));
    }
    Ok(())
}

/// Replaces this process with `path`, argv `argv` (argv[0] as the user wrote
/// it, like execvp), environment `env`. Returns only on failure, with the
/// errno. A file the kernel cannot execute (ENOEXEC: no `#!`, not ELF) is
/// handed to /bin/sh, as execvp does.
fn exec(path: &Path, argv: &[OsString], env: &[(OsString, OsString)]) -> i32 {
    fn cstr(b: &[u8]) -> Option<CString> {
        CString::new(b).ok()
    }
    let Some(cpath) = cstr(path.as_os_str().as_bytes()) else {
        return libc::EINVAL;
    };
    let Some(cargs) = argv
        .iter()
        .map(|a| cstr(a.as_bytes()))
        .collect::<Option<Vec<_>>>()
    else {
        return libc::EINVAL;
    };
    let Some(cenv) = env
        .iter()
        .map(|(k, v)| {
            let mut b = k.as_bytes().to_vec();
            b.push(b'=');
            b.extend_from_slice(v.as_bytes());
            cstr(&b)
        })
        .collect::<Option<Vec<_>>>()
    else {
        return libc::EINVAL;
    };
    let mut envp: Vec<*const libc::c_char> = cenv.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    let mut args: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    args.push(std::ptr::null());
    // SAFETY: NUL-terminated strings and NULL-terminated arrays that outlive the call.
    unsafe { libc::execve(cpath.as_ptr(), args.as_ptr(), envp.as_ptr()) };
    let errno = last_errno();
    if errno != libc::ENOEXEC {
        return errno;
    }
    let mut sh: Vec<*const libc::c_char> = vec![c"/bin/sh".as_ptr(), cpath.as_ptr()];
    sh.extend(cargs.iter().skip(1).map(|c| c.as_ptr()));
    sh.push(std::ptr::null());
    // SAFETY: as above.
    unsafe { libc::execve(c"/bin/sh".as_ptr(), sh.as_ptr(), envp.as_ptr()) };
    errno
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Can the preload work for the command?
// ---------------------------------------------------------------------------

/// Why the dynamic loader would not preload the library into a program.
#[derive(Debug, PartialEq)]
enum Why {
    /// No ELF interpreter: no dynamic loader runs at all.
    Static,
    /// Setuid to this uid: secure-execution mode ignores LD_PRELOAD.
    Setuid(u32),
    /// Setgid to this gid: same.
    Setgid(u32),
    /// File capabilities raise privileges: same.
    Capabilities,
    /// This wrapper already runs with effective ids other than its real ones.
    OwnPrivileges,
    /// The program's ELF class/machine, when the library has another.
    Arch { class: u8, machine: u16 },
}

#[derive(Debug, PartialEq)]
struct Blocker {
    /// The file that has the problem: the command, or the interpreter that
    /// actually runs it (`#!`).
    file: PathBuf,
    why: Why,
    /// The library's class and machine, for `Why::Arch`.
    lib: (u8, u16),
}

impl Blocker {
    fn describe(&self, command: &Path) -> String {
        let what = match &self.why {
            Why::Static => "statically linked".to_string(),
            Why::Setuid(uid) => format!("setuid (it runs as uid {uid})"),
            Why::Setgid(gid) => format!("setgid (it runs as gid {gid})"),
            Why::Capabilities => "given file capabilities".to_string(),
            Why::OwnPrivileges => {
                format!("run with {PROG}'s raised privileges (effective ids differ from real ones)")
            }
            Why::Arch { class, machine } => format!(
                "a {} program, and {LIB_NAME} is {}",
                arch_name(*class, *machine),
                arch_name(self.lib.0, self.lib.1)
            ),
        };
        let file = quote(self.file.as_os_str().as_bytes());
        if self.file == command {
            format!("{file} is {what}")
        } else {
            format!(
                "{} runs {file}, which is {what}",
                quote(command.as_os_str().as_bytes())
            )
        }
    }
}

fn arch_name(class: u8, machine: u16) -> String {
    let bits = match class {
        ELFCLASS32 => "32-bit",
        ELFCLASS64 => "64-bit",
        _ => "?-bit",
    };
    let m = match machine {
        3 => "x86".to_string(),
        8 => "MIPS".to_string(),
        20 => "PowerPC".to_string(),
        21 => "PowerPC64".to_string(),
        22 => "S/390".to_string(),
        40 => "ARM".to_string(),
        62 => "x86-64".to_string(),
        183 => "AArch64".to_string(),
        243 => "RISC-V".to_string(),
        258 => "LoongArch".to_string(),
        n => format!("machine {n}"),
    };
    format!("{bits} {m}")
}

/// What stops a preload into the program `file` (the file the kernel is
/// asked to execute), if anything. A script (`#!`) is judged by its
/// interpreter — the program that really runs; `#!/usr/bin/env NAME` also by
/// NAME found in PATH. A file that is neither ELF nor script (execvp runs it
/// with /bin/sh) and anything unreadable are let through.
fn preload_blocker(
    file: &Path,
    lib: &Elf,
    path_var: Option<&OsStr>,
    depth: u32,
) -> Option<Blocker> {
    // Linux follows at most 4 levels of interpreters.
    if depth > 4 {
        return None;
    }
    let f = File::open(file).ok()?;
    let mut head = [0u8; 256];
    let n = read_up_to(&f, 0, &mut head);
    let head = &head[..n];
    if let Some((interp, rest)) = shebang(head) {
        let interp = PathBuf::from(OsStr::from_bytes(&interp));
        if let Some(b) = preload_blocker(&interp, lib, path_var, depth + 1) {
            return Some(b);
        }
        if interp.file_name() == Some(OsStr::new("env")) {
            let name = env_command(&rest)?;
            let target = resolve_command(OsStr::from_bytes(name), path_var).ok()?;
            return preload_blocker(&target, lib, path_var, depth + 1);
        }
        return None;
    }
    let elf = parse_elf(&mut |off, buf| f.read_exact_at(buf, off).is_ok())?;
    let meta = f.metadata().ok()?;
    let blocker = |why| {
        Some(Blocker {
            file: file.to_path_buf(),
            why,
            lib: (lib.class, lib.machine),
        })
    };
    if let Some(why) = privileged_exec(file, &meta) {
        return blocker(why);
    }
    if elf.e_type != ET_EXEC && elf.e_type != ET_DYN {
        return None;
    }
    if elf.is_static() {
        return blocker(Why::Static);
    }
    if (elf.class, elf.machine) != (lib.class, lib.machine) {
        return blocker(Why::Arch {
            class: elf.class,
            machine: elf.machine,
        });
    }
    None
}

/// Reads up to `buf.len()` bytes at `off`; the count read.
fn read_up_to(f: &File, off: u64, buf: &mut [u8]) -> usize {
    let mut got = 0;
    // bounded: every pass reads at least one byte or stops
    while got < buf.len() {
        match f.read_at(&mut buf[got..], off + got as u64) {
            Ok(0) | Err(_) => break,
            Ok(k) => got += k,
        }
    }
    got
}

/// `#!INTERP REST` as Linux reads it: the first line of the first 256 bytes,
/// INTERP up to the first blank, REST the trimmed remainder (one argument).
fn shebang(head: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let line = head.strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&c| c == b'\n').unwrap_or(line.len())];
    let blank = |c: &u8| *c == b' ' || *c == b'\t';
    let start = line.iter().position(|c| !blank(c))?;
    let line = &line[start..];
    let end = line.iter().position(blank).unwrap_or(line.len());
    let rest = &line[end..];
    let rest_start = rest.iter().position(|c| !blank(c)).unwrap_or(rest.len());
    let rest_end = rest.iter().rposition(|c| !blank(c)).map_or(0, |p| p + 1);
    let rest = if rest_start < rest_end {
        &rest[rest_start..rest_end]
    } else {
        &[][..]
    };
    Some((line[..end].to_vec(), rest.to_vec()))
}

/// The command that `env` runs, from the argument of `#!/usr/bin/env ...`
/// (`python3`, `-S python3 -u`, `-u VAR node`): the first word that is
/// neither an option, an option's value nor a `NAME=value`.
fn env_command(rest: &[u8]) -> Option<&[u8]> {
    let mut words = rest
        .split(|&c| c == b' ' || c == b'\t')
        .filter(|w| !w.is_empty());
    // bounded: by the number of words
    while let Some(w) = words.next() {
        if w == b"-u" || w == b"-C" || w == b"--unset" || w == b"--chdir" {
            words.next();
        } else if w.starts_with(b"-") || w.contains(&b'=') {
            continue;
        } else {
            return Some(w);
        }
    }
    None
}

/// Whether executing `file` would raise privileges, which puts the loader in
/// secure-execution mode (AT_SECURE) where it ignores LD_PRELOAD. The
/// kernel's rule: the new effective uid/gid (the file's owner/group for a
/// setuid/setgid file — setgid only with group-execute — else ours) differs
/// from our real one, or file capabilities are gained by a non-root user.
/// Neither applies on a `nosuid` mount or under no_new_privs.
fn privileged_exec(file: &Path, meta: &std::fs::Metadata) -> Option<Why> {
    // SAFETY: PR_GET_NO_NEW_PRIVS reads a flag and takes no pointer.
    let nnp = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) } == 1;
    if nnp {
        return None;
    }
    let cfile = CString::new(file.as_os_str().as_bytes()).ok()?;
    let nosuid = {
        // SAFETY: statvfs is plain data; all-zero is a valid value.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: valid path and buffer.
        let r = unsafe { libc::statvfs(cfile.as_ptr(), &mut st) };
        r == 0 && st.f_flag & libc::ST_NOSUID != 0
    };
    // SAFETY: these four calls cannot fail and take no arguments.
    let (ruid, euid, rgid, egid) = unsafe {
        (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        )
    };
    let mode = meta.mode();
    let setuid = !nosuid && mode & libc::S_ISUID != 0;
    let setgid = !nosuid && mode & (libc::S_ISGID | libc::S_IXGRP) == libc::S_ISGID | libc::S_IXGRP;
    let new_euid = if setuid { meta.uid() } else { euid };
    let new_egid = if setgid { meta.gid() } else { egid };
    if new_euid != ruid {
        return Some(if setuid {
            Why::Setuid(new_euid)
        } else {
            Why::OwnPrivileges
        });
    }
    if new_egid != rgid {
        return Some(if setgid {
            Why::Setgid(new_egid)
        } else {
            Why::OwnPrivileges
        });
    }
    if !nosuid && ruid != 0 {
        // SAFETY: valid path and attribute name; size query with no buffer.
        let n = unsafe {
            libc::getxattr(
                cfile.as_ptr(),
                c"security.capability".as_ptr(),
                std::ptr::null_mut(),
                0,
            )
        };
        if n > 0 {
            return Some(Why::Capabilities);
        }
    }
    None
}

// ---------------------------------------------------------------------------
// ELF headers (32- and 64-bit, either byte order)
// ---------------------------------------------------------------------------

const ELFCLASS32: u8 = 1;
const ELFCLASS64: u8 = 2;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_SONAME: u64 = 14;
const PN_XNUM: u16 = 0xffff;

/// What the checks need from an ELF file.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Elf {
    class: u8,
    machine: u16,
    e_type: u16,
    /// A PT_INTERP program header: the kernel starts the dynamic loader.
    interp: bool,
    /// A DT_SONAME in PT_DYNAMIC: a shared library (the dynamic loader run
    /// directly, `ld.so PROGRAM`, has one; a static-pie executable has not).
    soname: bool,
}

impl Elf {
    /// No dynamic loader will run: no PT_INTERP, and not the loader itself
    /// (a shared object with a soname, which does read LD_PRELOAD).
    fn is_static(&self) -> bool {
        !(self.interp || (self.e_type == ET_DYN && self.soname))
    }
}

fn read_elf(path: &Path) -> Option<Elf> {
    let f = File::open(path).ok()?;
    parse_elf(&mut |off, buf| f.read_exact_at(buf, off).is_ok())
}

/// Parses the ELF header and program headers through `read(offset, buf)`
/// (fills all of `buf` or returns false). `None`: not ELF, or malformed.
fn parse_elf(read: &mut dyn FnMut(u64, &mut [u8]) -> bool) -> Option<Elf> {
    let mut ident = [0u8; 16];
    if !read(0, &mut ident) || &ident[..4] != b"\x7fELF" {
        return None;
    }
    let class = ident[4];
    let big = match ident[5] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let wide = match class {
        ELFCLASS32 => false,
        ELFCLASS64 => true,
        _ => return None,
    };
    let u16_at = |b: &[u8], o: usize| -> u16 {
        let a = [b[o], b[o + 1]];
        if big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    };
    let u32_at = |b: &[u8], o: usize| -> u32 {
        let a = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    let u64_at = |b: &[u8], o: usize| -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[o..o + 8]);
        if big {
            u64::from_be_bytes(a)
        } else {
            u64::from_le_bytes(a)
        }
    };
    // A word: 4 bytes in ELF32, 8 in ELF64.
    let word_at = |b: &[u8], o: usize| -> u64 {
        if wide {
            u64_at(b, o)
        } else {
            u32_at(b, o) as u64
        }
    };
    let mut h = [0u8; 64];
    let hlen = if wide { 64 } else { 52 };
    if !read(0, &mut h[..hlen]) {
        return None;
    }
    let e_type = u16_at(&h, 16);
    let machine = u16_at(&h, 18);
    let (phoff, phentsize, mut phnum, shoff) = if wide {
        (
            u64_at(&h, 32),
            u16_at(&h, 54),
            u16_at(&h, 56) as u32,
            u64_at(&h, 40),
        )
    } else {
        (
            u32_at(&h, 28) as u64,
            u16_at(&h, 42),
            u16_at(&h, 44) as u32,
            u32_at(&h, 32) as u64,
        )
    };
    if phnum == PN_XNUM as u32 {
        // The real count is sh_info of section header 0.
        let mut sh = [0u8; 4];
        let at = shoff.checked_add(if wide { 44 } else { 28 })?;
        if !read(at, &mut sh) {
            return None;
        }
        phnum = u32_at(&sh, 0);
    }
    let min_ent = if wide { 56 } else { 32 };
    if (phentsize as usize) < min_ent || phnum > 1 << 16 {
        return None;
    }
    let mut ph = vec![0u8; phnum as usize * phentsize as usize];
    if !read(phoff, &mut ph) {
        return None;
    }
    let mut interp = false;
    let mut dynamic = None;
    for e in ph.chunks_exact(phentsize as usize) {
        match u32_at(e, 0) {
            PT_INTERP => interp = true,
            PT_DYNAMIC => {
                dynamic = Some(if wide {
                    (u64_at(e, 8), u64_at(e, 32))
                } else {
                    (u32_at(e, 4) as u64, u32_at(e, 16) as u64)
                })
            }
            _ => {}
        }
    }
    let mut soname = false;
    if let Some((off, size)) = dynamic {
        let ent = if wide { 16 } else { 8 };
        let size = (size.min(1 << 16) as usize) / ent * ent;
        let mut d = vec![0u8; size];
        if read(off, &mut d) {
            for e in d.chunks_exact(ent) {
                match word_at(e, 0) {
                    0 => break,
                    DT_SONAME => soname = true,
                    _ => {}
                }
            }
        }
    }
    Some(Elf {
        class,
        machine,
        e_type,
        interp,
        soname,
    })
}

// ---------------------------------------------------------------------------
// Unit tests: the pure parts (the behaviour is tested in tests/wrapper.rs)
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        std::iter::once("timeoutsock")
            .chain(a.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn opts(a: &[&str]) -> Opts {
        match parse_args(&args(a)) {
            Ok(Action::Run(o)) => o,
            other => panic!("{a:?}: {other:?}"),
        }
    }

    fn err(a: &[&str]) -> String {
        parse_args(&args(a)).expect_err("expected an error")
    }

    #[test]
    fn secs_follow_the_library_rules() {
        for ok in [
            "20",
            "2.5",
            "0.25",
            ".5",
            "5.",
            "007",
            "0.001",
            "1.0000000001",
            "2147483.647",
            "0",
            "0.000",
        ] {
            assert_eq!(check_secs(ok.as_bytes()), Ok(()), "{ok}");
        }
        for bad in [
            "", "twenty", "-5", "+5", "nan", "inf", "1e3", "0x10", " 5", "5 ", "1.2.3", ".", "5s",
            "1,5", "é",
        ] {
            assert!(
                check_secs(bad.as_bytes())
                    .unwrap_err()
                    .contains("not a number"),
                "{bad}"
            );
        }
        for big in ["2147484", "2147483.648", "99999999999999999999999999"] {
            assert!(
                check_secs(big.as_bytes())
                    .unwrap_err()
                    .contains("too large"),
                "{big}"
            );
        }
        for small in ["0.0009", "0.0000000001"] {
            assert!(
                check_secs(small.as_bytes())
                    .unwrap_err()
                    .contains("too small"),
                "{small}"
            );
        }
    }

    #[test]
    fn options_set_variables_and_stop_at_the_command() {
        let o = opts(&[
            "-t",
            "5",
            "--connect=1",
            "--read",
            "0",
            "--write",
            "2.5",
            "--accept",
            "3",
            "--exclude",
            "10.0.0.0/8",
            "--only=[::1]:80",
            "--log",
            "--force",
            "curl",
            "-t",
            "x",
        ]);
        let v: Vec<(&str, &str)> = o
            .vars
            .iter()
            .map(|(k, v)| (*k, v.to_str().unwrap()))
            .collect();
        assert_eq!(
            v,
            [
                ("TIMEOUTSOCK_SECS", "5"),
                ("TIMEOUTSOCK_CONNECT_SECS", "1"),
                ("TIMEOUTSOCK_READ_SECS", "0"),
                ("TIMEOUTSOCK_WRITE_SECS", "2.5"),
                ("TIMEOUTSOCK_ACCEPT_SECS", "3"),
                ("TIMEOUTSOCK_EXCLUDE", "10.0.0.0/8"),
                ("TIMEOUTSOCK_ONLY", "[::1]:80"),
                ("TIMEOUTSOCK_LOG", "1"),
            ]
        );
        assert!(o.force);
        assert_eq!(o.command, args(&["curl", "-t", "x"])[1..]);
        assert_eq!(opts(&["-t7", "--", "-x"]).command, [OsString::from("-x")]);
        assert_eq!(
            opts(&["--tim", "7", "cmd"]).vars,
            [("TIMEOUTSOCK_SECS", "7".into())]
        );
        assert_eq!(
            opts(&["-t", "1", "--timeout", "2", "cmd"]).vars,
            [("TIMEOUTSOCK_SECS", "2".into())]
        );
        assert_eq!(opts(&["-", "x"]).command, args(&["-", "x"])[1..]);
    }

    #[test]
    fn usage_errors_read_like_coreutils() {
        assert!(err(&["-t", "x", "cmd"]).starts_with("invalid time interval 'x': not a number"));
        assert!(err(&["--read=-1", "cmd"]).starts_with("invalid time interval '-1'"));
        assert_eq!(err(&["--frob", "cmd"]), "unrecognized option '--frob'");
        assert_eq!(err(&["-x", "cmd"]), "invalid option -- 'x'");
        assert_eq!(err(&["-t"]), "option requires an argument -- 't'");
        assert_eq!(err(&["--read"]), "option '--read' requires an argument");
        assert_eq!(
            err(&["--log=1", "cmd"]),
            "option '--log' doesn't allow an argument"
        );
        assert!(err(&["-t", "1"]).contains("missing operand"));
        assert!(err(&["--"]).contains("missing operand"));
        assert!(err(&["--xyz", "cmd"]).starts_with("unrecognized option"));
        assert_eq!(parse_args(&args(&["--help", "--bogus"])), Ok(Action::Help));
        assert_eq!(parse_args(&args(&["--vers"])), Ok(Action::Version));
    }

    #[test]
    fn ld_preload_prepends_once() {
        let lib = Path::new("/opt/ts/lib/libtimeoutsock.so");
        let v = |old: Option<&str>| {
            preload_value(old.map(OsStr::new), lib)
                .into_string()
                .unwrap()
        };
        assert_eq!(v(None), "/opt/ts/lib/libtimeoutsock.so");
        assert_eq!(v(Some("")), "/opt/ts/lib/libtimeoutsock.so");
        assert_eq!(v(Some(" : ")), "/opt/ts/lib/libtimeoutsock.so");
        assert_eq!(
            v(Some("libm.so.6")),
            "/opt/ts/lib/libtimeoutsock.so:libm.so.6"
        );
        assert_eq!(
            v(Some("/a/x.so /b/y.so")),
            "/opt/ts/lib/libtimeoutsock.so:/a/x.so /b/y.so"
        );
        let present = "libm.so.6 /opt/ts/lib/libtimeoutsock.so:/b/y.so";
        assert_eq!(v(Some(present)), present);
    }

    #[test]
    fn shebang_lines() {
        let s = |h: &str| {
            shebang(h.as_bytes())
                .map(|(a, b)| (String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap()))
        };
        assert_eq!(s("#!/bin/sh\necho"), Some(("/bin/sh".into(), "".into())));
        assert_eq!(
            s("#! /bin/sh -e \nx"),
            Some(("/bin/sh".into(), "-e".into()))
        );
        assert_eq!(
            s("#!/usr/bin/env -S python3 -u\n"),
            Some(("/usr/bin/env".into(), "-S python3 -u".into()))
        );
        assert_eq!(s("#!\n"), None);
        assert_eq!(s("echo"), None);
        assert_eq!(env_command(b"python3"), Some(&b"python3"[..]));
        assert_eq!(env_command(b"-S python3 -u"), Some(&b"python3"[..]));
        assert_eq!(env_command(b"-u HOME A=b node"), Some(&b"node"[..]));
        assert_eq!(env_command(b"-i"), None);
    }

    /// A minimal ELF image: header, program headers of the given types, and
    /// a dynamic section with the given tags.
    fn elf_image(
        wide: bool,
        big: bool,
        e_type: u16,
        machine: u16,
        pts: &[u32],
        tags: &[u64],
    ) -> Vec<u8> {
        let put16 = |v: &mut Vec<u8>, x: u16| {
            v.extend(if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        let put32 = |v: &mut Vec<u8>, x: u32| {
            v.extend(if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        let put64 = |v: &mut Vec<u8>, x: u64| {
            v.extend(if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        let putw = |v: &mut Vec<u8>, x: u64| {
            if wide {
                put64(v, x)
            } else {
                put32(v, x as u32)
            }
        };
        let (ehsize, phentsize) = if wide { (64u64, 56u64) } else { (52, 32) };
        let dyn_off = ehsize + phentsize * pts.len() as u64;
        let dyn_size = (tags.len() as u64 + 1) * if wide { 16 } else { 8 };
        let mut v = b"\x7fELF".to_vec();
        v.extend([if wide { 2 } else { 1 }, if big { 2 } else { 1 }, 1]);
        v.resize(16, 0);
        put16(&mut v, e_type);
        put16(&mut v, machine);
        put32(&mut v, 1);
        putw(&mut v, 0); // entry
        putw(&mut v, ehsize); // phoff
        putw(&mut v, 0); // shoff
        put32(&mut v, 0); // flags
        put16(&mut v, ehsize as u16);
        put16(&mut v, phentsize as u16);
        put16(&mut v, pts.len() as u16);
        put16(&mut v, 0);
        put16(&mut v, 0);
        put16(&mut v, 0);
        assert_eq!(v.len() as u64, ehsize);
        for &t in pts {
            let start = v.len();
            put32(&mut v, t);
            if wide {
                put32(&mut v, 0); // flags
                put64(&mut v, dyn_off); // offset
                put64(&mut v, 0);
                put64(&mut v, 0);
                put64(&mut v, dyn_size); // filesz
                put64(&mut v, dyn_size);
                put64(&mut v, 8);
            } else {
                put32(&mut v, dyn_off as u32);
                put32(&mut v, 0);
                put32(&mut v, 0);
                put32(&mut v, dyn_size as u32);
                put32(&mut v, dyn_size as u32);
                put32(&mut v, 0);
                put32(&mut v, 4);
            }
            assert_eq!((v.len() - start) as u64, phentsize);
        }
        for &t in tags.iter().chain([0u64].iter()) {
            putw(&mut v, t);
            putw(&mut v, 0);
        }
        v
    }

    fn parse(img: &[u8]) -> Option<Elf> {
        parse_elf(&mut |off, buf| {
            let off = off as usize;
            match img.get(off..off + buf.len()) {
                Some(s) => {
                    buf.copy_from_slice(s);
                    true
                }
                None => false,
            }
        })
    }

    #[test]
    fn elf_headers_tell_static_from_dynamic() {
        for wide in [false, true] {
            for big in [false, true] {
                let dynamic = parse(&elf_image(
                    wide,
                    big,
                    ET_DYN,
                    62,
                    &[6, PT_INTERP, PT_DYNAMIC],
                    &[1],
                ))
                .unwrap();
                assert!(dynamic.interp && !dynamic.is_static(), "{wide} {big}");
                assert_eq!(
                    (dynamic.class, dynamic.machine),
                    (if wide { 2 } else { 1 }, 62)
                );
                let exec_static = parse(&elf_image(wide, big, ET_EXEC, 3, &[1], &[])).unwrap();
                assert!(exec_static.is_static());
                let static_pie =
                    parse(&elf_image(wide, big, ET_DYN, 3, &[1, PT_DYNAMIC], &[1, 5])).unwrap();
                assert!(!static_pie.soname && static_pie.is_static());
                let loader = parse(&elf_image(
                    wide,
                    big,
                    ET_DYN,
                    3,
                    &[1, PT_DYNAMIC],
                    &[5, DT_SONAME],
                ))
                .unwrap();
                assert!(loader.soname && !loader.is_static());
            }
        }
        let img = elf_image(true, false, ET_DYN, 62, &[PT_INTERP], &[]);
        assert_eq!(parse(&img[..40]), None, "truncated header");
        assert_eq!(parse(&img[..70]), None, "truncated program headers");
        assert_eq!(parse(b"#!/bin/sh\n"), None);
        let mut bad = img.clone();
        bad[4] = 3;
        assert_eq!(parse(&bad), None, "unknown class");
    }
}
