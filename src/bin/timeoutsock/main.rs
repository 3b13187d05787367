//! `timeoutsock`: runs a command with libtimeoutsock preloaded, and under
//! the outside supervisor for what the preload cannot reach.
//!
//! ```text
//! timeoutsock [-t SECS] [--connect SECS] [--read SECS] [--write SECS] [--accept SECS]
//!             [--exclude PEERS] [--only PEERS] [--log] [--force] [--preload-only]
//!             [--] COMMAND [ARG...]
//! timeoutsock --check [OPTION]... [--] COMMAND [ARG...]
//! timeoutsock --env [OPTION]...
//! timeoutsock --pid PID [OPTION]...
//! ```
//!
//! It sets the `TIMEOUTSOCK_*` variables and puts the library (the build
//! that matches the program's loader) first in `LD_PRELOAD`. Then, by
//! default, it stays the command's parent and supervises its process tree
//! from outside (`supervise`): processes in which the library is not in
//! effect (static, Go, io_uring users, other architectures) get the same
//! timeouts through pidfd_getfd. With `--preload-only`, or when every
//! timeout is 0, it executes the command in its own place (`execve` after a
//! PATH search with `execvp`'s rules) as a plain preload wrapper. Before
//! either it checks what can reach the command — the library (dynamically
//! linked, not Go, not privileged, the library's ELF class and machine), the
//! supervisor (static, Go, another architecture), or nothing (setuid,
//! setgid, file capabilities) — and refuses with exit status 122 when
//! nothing can (`--force` runs it anyway). `--check` prints that verdict
//! without running the command.
//!
//! A normal std binary, never preloaded itself. `no_main`: Rust's runtime
//! start-up (which sets SIGPIPE to ignored — inherited through exec — and
//! reopens closed standard descriptors on /dev/null) never runs, so the
//! command gets exactly the signal dispositions and descriptors the wrapper
//! was given.
//!
//! The files, one concern each: `cli` (options), `help` (the --help
//! text), `preload` (finding the library, the LD_PRELOAD value), `command`
//! (PATH search, exec),
//! `reach` (can the preload work for the command: scripts, privileges,
//! static, Go, architecture), `supervise` (the outside supervisor), `elf`
//! (the ELF header reader), `text` (quoting, errno strings). `secs` and
//! `peerlist` are the library's own rules for seconds and peer lists
//! (src/secs.rs, src/peerlist.rs).
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code))]

mod cli;
mod command;
mod elf;
mod help;
#[path = "../../peerlist.rs"]
#[allow(dead_code)]
mod peerlist;
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

use cli::{Action, Mode, parse_args};
use command::{exec, resolve_command};
use elf::{ET_DYN, Libc, read_elf};
use help::help_text;
use preload::{Build, choose, find_libraries, host_has_glibc, preload_value};
use reach::{Reach, Verdict, verdict};
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
            let (glibc, musl) = match find_libraries() {
                Ok(l) => (shown(&l.glibc), shown(&l.musl)),
                Err(e) => (format!("not found ({e})"), "not found".into()),
            };
            let _ = writeln!(
                std::io::stdout(),
                "{PROG} (libtimeoutsock) {}\nlibrary: {glibc}\nmusl library: {musl}",
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
    for (k, v) in vars {
        env.set(k, v);
    }

    // The supervisor runs unless told otherwise or nothing is timed: then
    // the command is executed in place, as a preload-only wrapper would.
    let supervision = match supervise_settings(&env) {
        Ok(s) => Some(s).filter(|s| s.any() && !opts.preload_only),
        Err(e) => {
            eprintln!("{PROG}: {e}");
            return EXIT_ERROR;
        }
    };
    if let Some(pid) = opts.pid {
        // --pid supervises even with all timeouts 0 (nothing to do then).
        return match supervise_settings(&env) {
            Ok(s) => supervise::run::attach(pid, s),
            Err(e) => {
                eprintln!("{PROG}: {e}");
                EXIT_ERROR
            }
        };
    }

    let libs = match find_libraries() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{PROG}: {e}");
            return EXIT_ERROR;
        }
    };
    let mut lib_elf = None;
    for lib in [&libs.glibc, &libs.musl].into_iter().flatten() {
        match read_elf(lib) {
            Some(e) if e.e_type == ET_DYN => lib_elf = lib_elf.or(Some(e)),
            _ => {
                eprintln!(
                    "{PROG}: {} is not an ELF shared library",
                    quote(lib.as_os_str().as_bytes())
                );
                return EXIT_ERROR;
            }
        }
    }
    let Some(lib_elf) = lib_elf else {
        return EXIT_ERROR; // find_libraries found one at least
    };
    let host_glibc = host_has_glibc();

    if opts.mode == Mode::Env {
        let (_, lib, _) = match choose(Libc::Unknown, &libs, host_glibc) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{PROG}: {e}");
                return EXIT_ERROR;
            }
        };
        let preload = preload_value(env.get("LD_PRELOAD"), &lib);
        env.set("LD_PRELOAD", preload);
        let mut out = String::new();
        for (k, v) in settings(&env) {
            out.push_str(&format!("{k}={}\n", v.to_string_lossy()));
        }
        let _ = std::io::stdout().write_all(out.as_bytes());
        return 0;
    }

    let command = &opts.command;
    let path_var = env.get("PATH").map(|v| v.to_os_string());
    let target = match resolve_command(&command[0], path_var.as_deref()) {
        Ok(p) => p,
        Err(errno) => return cannot_run(&command[0], errno),
    };
    let verdict = verdict(
        &target,
        &lib_elf,
        path_var.as_deref(),
        supervision.is_some(),
    );
    let libc = match verdict.reach {
        Reach::Library(libc) => libc,
        Reach::Supervised | Reach::Nothing => Libc::Unknown,
    };
    let chosen = choose(libc, &libs, host_glibc);

    if opts.mode == Mode::Check {
        return check_report(&target, &verdict, &chosen, &env);
    }

    if verdict.reach == Reach::Nothing {
        let what = &verdict.why;
        let neither = if supervision.is_some() {
            format!(", nor can the outside supervisor ({NOT_DUMPABLE})")
        } else {
            String::new()
        };
        if !opts.force {
            eprintln!(
                "{PROG}: {what}: LD_PRELOAD cannot work for it{neither} (no timeouts); \
                 use --force to run it anyway"
            );
            return EXIT_NO_PRELOAD;
        }
        eprintln!(
            "{PROG}: warning: {what}: LD_PRELOAD cannot work for it; running it without timeouts"
        );
    }
    let lib = match chosen {
        Ok((_, lib, _)) => lib,
        Err(e) => {
            eprintln!("{PROG}: {e}");
            return EXIT_ERROR;
        }
    };
    let preload = preload_value(env.get("LD_PRELOAD"), &lib);
    env.set("LD_PRELOAD", preload);
    if let Some(s) = supervision {
        return supervise::run::run_child(&target, command, &env.0, s, opts.force);
    }

    let errno = exec(&target, command, &env.0);
    cannot_run(&command[0], errno)
}

fn shown(p: &Option<std::path::PathBuf>) -> String {
    p.as_ref()
        .map_or("not found".into(), |p| p.display().to_string())
}

/// The variables the library reads, in this order.
const LIBRARY_VARS: &[&str] = &[
    "TIMEOUTSOCK_SECS",
    "TIMEOUTSOCK_CONNECT_SECS",
    "TIMEOUTSOCK_READ_SECS",
    "TIMEOUTSOCK_WRITE_SECS",
    "TIMEOUTSOCK_ACCEPT_SECS",
    "TIMEOUTSOCK_LOG",
    "TIMEOUTSOCK_EXCLUDE",
    "TIMEOUTSOCK_ONLY",
];

/// The effective settings (environment and options merged): the library's
/// variables that are set, then LD_PRELOAD if set.
fn settings(env: &Env) -> Vec<(&'static str, OsString)> {
    LIBRARY_VARS
        .iter()
        .chain(["LD_PRELOAD"].iter())
        .filter_map(|&k| env.get(k).map(|v| (k, v.to_os_string())))
        .collect()
}

/// `--check`: what COMMAND would get and why, on stdout; 0 when covered,
/// 122 when not.
fn check_report(
    target: &std::path::Path,
    verdict: &Verdict,
    chosen: &Result<(Build, std::path::PathBuf, &'static str), String>,
    env: &Env,
) -> i32 {
    let mut out = format!("command: {}\n", target.display());
    let code = match (&verdict.reach, chosen) {
        (Reach::Library(_), Ok((build, lib, why_build))) => {
            out.push_str(&format!(
                "covered: yes, by the library ({} build)\nwhy: {}\nlibrary: {}\nbuild: {why_build}\n",
                build.name(),
                verdict.why,
                lib.display()
            ));
            let mut env = Env(env.0.clone());
            let preload = preload_value(env.get("LD_PRELOAD"), lib);
            env.set("LD_PRELOAD", preload);
            for (k, v) in settings(&env) {
                out.push_str(&format!("{k}={}\n", v.to_string_lossy()));
            }
            0
        }
        (Reach::Library(_), Err(e)) => {
            out.push_str(&format!("covered: no\nwhy: {e}\n"));
            EXIT_NO_PRELOAD
        }
        (Reach::Supervised, _) => match supervise::run::may_supervise_child() {
            Ok(()) => {
                out.push_str(&format!(
                    "covered: yes, by the outside supervisor\nwhy: {}: LD_PRELOAD cannot \
                     work for it or never reaches its sockets; {PROG} stays its parent and \
                     times its TCP connections from outside (pidfd_getfd)\n",
                    verdict.why
                ));
                for (k, v) in settings(env) {
                    out.push_str(&format!("{k}={}\n", v.to_string_lossy()));
                }
                0
            }
            Err(errno) => {
                out.push_str(&format!(
                    "covered: no: neither LD_PRELOAD nor the outside supervisor can work \
                     for it (no timeouts)\nwhy: {}; {}\n",
                    verdict.why,
                    supervise::denied_message("the supervisor cannot look into it", errno)
                ));
                EXIT_NO_PRELOAD
            }
        },
        (Reach::Nothing, _) => {
            let supervisor = if verdict.blocker.as_ref().is_some_and(|b| b.supervisable()) {
                "(the outside supervisor is off: --preload-only, or all timeouts 0)".to_string()
            } else {
                format!("(nor can the outside supervisor: {NOT_DUMPABLE})")
            };
            out.push_str(&format!(
                "covered: no: LD_PRELOAD cannot work for it (no timeouts)\nwhy: {} {supervisor}\n",
                verdict.why
            ));
            EXIT_NO_PRELOAD
        }
    };
    let _ = std::io::stdout().write_all(out.as_bytes());
    code
}

/// Why the supervisor cannot take a program run with raised privileges.
const NOT_DUMPABLE: &str = "a program run with raised privileges is not dumpable: \
    its descriptors cannot be duplicated";

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
