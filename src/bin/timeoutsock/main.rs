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
//!
//! The files, one concern each: `cli` (options, help), `preload` (finding
//! the library, the LD_PRELOAD value), `command` (PATH search, exec),
//! `reach` (can the preload work for the command: scripts, privileges,
//! static, architecture), `elf` (the ELF header reader), `text` (quoting,
//! errno strings). `secs` is the library's own rule for SECS (src/secs.rs).
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code))]

mod cli;
mod command;
mod elf;
mod preload;
mod reach;
#[path = "../../secs.rs"]
#[allow(dead_code)]
mod secs;
mod supervise;
mod text;

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use cli::{Action, help_text, parse_args};
use command::{exec, resolve_command};
use elf::{ET_DYN, read_elf};
use preload::{find_library, preload_value};
use reach::preload_blocker;
use text::{quote, strerror};

const PROG: &str = "timeoutsock";
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
        let s = unsafe { std::ffi::CStr::from_ptr(p) };
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
                if let Err(why) = cli::check_secs(v.as_bytes()) {
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

    if let Some(pid) = opts.pid {
        for (k, v) in vars {
            env.set(k, v);
        }
        return match supervise_settings(&env) {
            Ok(s) => supervise::run::attach(pid, s),
            Err(e) => {
                eprintln!("{PROG}: {e}");
                EXIT_ERROR
            }
        };
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
    for (k, v) in vars {
        env.set(k, v);
    }
    // Supervised unless told otherwise or nothing is timed: then the
    // command is executed in place, as a preload-only wrapper would.
    let settings = match supervise_settings(&env) {
        Ok(s) => Some(s).filter(|s| s.any() && !opts.preload_only),
        Err(e) => {
            eprintln!("{PROG}: {e}");
            return EXIT_ERROR;
        }
    };
    let blocker = preload_blocker(&target, &lib_elf, path_var.as_deref(), 0)
        .filter(|b| settings.is_none() || !b.supervisable());
    if let Some(b) = blocker {
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

    let preload = preload_value(env.get("LD_PRELOAD"), &lib);
    env.set("LD_PRELOAD", preload);
    if let Some(s) = settings {
        return supervise::run::run_child(&target, command, &env.0, s, opts.force);
    }

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

/// The supervisor's settings from the variables the command gets.
fn supervise_settings(env: &Env) -> Result<supervise::Settings, String> {
    supervise::Settings::from_vars(&|k| env.get(k).map(|v| v.to_string_lossy().into_owned()))
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
