//! The command line: options in the coreutils style (getopt_long rules:
//! unambiguous prefixes, `--opt=value`, `-tSECS`), stopping at COMMAND.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::text::quote;
use crate::{peerlist, secs};

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub(crate) enum Action {
    Help,
    Version,
    Run(Opts),
}

#[derive(Debug, PartialEq, Default)]
pub(crate) struct Opts {
    /// Variables to set, in the order given (a later one wins).
    pub(crate) vars: Vec<(&'static str, OsString)>,
    pub(crate) force: bool,
    /// `--pid PID`: attach to a running process instead of running COMMAND.
    pub(crate) pid: Option<i32>,
    /// `--preload-only`: the library alone, executed in place (no supervisor).
    pub(crate) preload_only: bool,
    /// `--check` or `--env` instead of running COMMAND.
    pub(crate) mode: Mode,
    /// COMMAND and its arguments, never empty (empty with `--pid`, `--env`).
    pub(crate) command: Vec<OsString>,
}

/// What to do with COMMAND.
#[derive(Clone, Copy, PartialEq, Debug, Default)]
pub(crate) enum Mode {
    /// Execute it.
    #[default]
    Run,
    /// Say what it would get and why, without running it.
    Check,
    /// No COMMAND: print the environment lines (`NAME=value`) that give
    /// programs started later the library and the settings.
    Env,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// Takes SECS, sets this variable.
    Secs(&'static str),
    /// Takes a peer list, sets this variable.
    Peers(&'static str),
    Log,
    Force,
    Pid,
    PreloadOnly,
    Check,
    Env,
    Help,
    Version,
}

impl Kind {
    fn takes_value(self) -> bool {
        matches!(self, Kind::Secs(_) | Kind::Peers(_) | Kind::Pid)
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
    ("pid", Kind::Pid),
    ("preload-only", Kind::PreloadOnly),
    ("check", Kind::Check),
    ("env", Kind::Env),
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
pub(crate) fn parse_args(args: &[OsString]) -> Result<Action, String> {
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
            (Kind::Peers(var), Some(v)) => {
                check_peers(v.as_bytes())
                    .map_err(|why| format!("invalid peer list {}: {why}", quote(v.as_bytes())))?;
                opts.vars.push((var, v));
            }
            (Kind::Log, _) => opts.vars.push(("TIMEOUTSOCK_LOG", "1".into())),
            (Kind::Force, _) => opts.force = true,
            (Kind::Pid, Some(v)) => {
                let pid = v
                    .to_str()
                    .and_then(|s| s.parse::<i32>().ok())
                    .filter(|&p| p > 0)
                    .ok_or_else(|| format!("invalid process id {}", quote(v.as_bytes())))?;
                opts.pid = Some(pid);
            }
            (Kind::PreloadOnly, _) => opts.preload_only = true,
            (Kind::Check, _) => opts.mode = Mode::Check,
            (Kind::Env, _) => opts.mode = Mode::Env,
            (Kind::Help, _) => return Ok(Action::Help),
            (Kind::Version, _) => return Ok(Action::Version),
            (_, None) => unreachable!("option values are read above"),
        }
        i += 1;
    }
    if opts.pid.is_some() {
        if opts.mode != Mode::Run {
            return Err("--pid cannot be combined with --check or --env".into());
        }
        if i < args.len() {
            return Err(format!(
                "--pid takes no COMMAND (extra operand {})",
                quote(args[i].as_bytes())
            ));
        }
    } else if opts.mode == Mode::Env {
        if i < args.len() {
            return Err(format!(
                "--env takes no COMMAND (extra operand {})",
                quote(args[i].as_bytes())
            ));
        }
    } else if i >= args.len() {
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

/// The library's own rule for a peer list (src/peerlist.rs, shared with
/// `#[path]`): comma-separated `ADDRESS[/PREFIX][:PORT]`, IPv6 in brackets
/// before a port, empty entries skipped, at most 64; an unbracketed IPv6
/// address whose last group could be a port (`::1:5432`) is ambiguous.
pub(crate) fn check_peers(list: &[u8]) -> Result<(), String> {
    let mut rules = [peerlist::Rule::ANY; peerlist::MAX_RULES];
    match peerlist::parse_list(list, &mut rules) {
        Ok(_) => Ok(()),
        Err((peerlist::Bad::TooMany, _)) => Err(peerlist::Bad::TooMany.reason().into()),
        Err((peerlist::Bad::Ambiguous { colon }, e)) => {
            let (b, l) = (
                String::from_utf8_lossy(&e[..colon]),
                String::from_utf8_lossy(&e[colon + 1..]),
            );
            let text = String::from_utf8_lossy(e);
            Err(format!(
                "{}: ambiguous: write [{b}]:{l} for port {l} of {b}, or [{text}] for the address",
                quote(e)
            ))
        }
        Err((peerlist::Bad::Syntax, e)) => Err(format!(
            "{}: not ADDRESS[/PREFIX][:PORT] (IPv6 as [ADDRESS]:PORT)",
            quote(e)
        )),
    }
}

/// The library's rule for a number of seconds (src/secs.rs). Unlike the
/// library (where empty means unset), an empty value is refused: an option
/// was given without a number.
pub(crate) fn check_secs(s: &[u8]) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err(secs::Bad::NotANumber.reason());
    }
    secs::parse_secs(s).map(|_| ()).map_err(secs::Bad::reason)
}

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
    fn peer_lists_follow_the_library_rules_and_refuse_ambiguity() {
        for ok in [
            "10.0.0.0/8",
            "127.0.0.1:5432",
            "[::1]:6379",
            "[::1]",
            "::1",
            "fe80::1",
            "2001:db8::/32",
            "[2001:db8::1/64]:80",
            "::ffff:127.0.0.1",
            "10.0.0.0/8,,127.0.0.1:5432,",
            "",
            "1:2:3:4:5:6:7:8",
        ] {
            assert_eq!(check_peers(ok.as_bytes()), Ok(()), "{ok}");
        }
        for bad in [
            "localhost",
            "10.0.0.0/33",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "01.2.3.4",
            "[::1]:",
            "[::1",
            "::1/129",
            "1.2.3.4 ",
            "10.0.0.0/8;[::1]",
        ] {
            assert!(check_peers(bad.as_bytes()).is_err(), "{bad}");
        }
        let why = check_peers(b"::1:5432").unwrap_err();
        assert!(
            why.contains("ambiguous") && why.contains("[::1]:5432"),
            "{why}"
        );
        assert!(
            check_peers(b"2001:db8::1:80")
                .unwrap_err()
                .contains("ambiguous")
        );
        let many = vec!["127.0.0.1"; 65].join(",");
        assert!(
            check_peers(many.as_bytes())
                .unwrap_err()
                .contains("too many")
        );
        assert!(err(&["--only", "localhost", "cmd"]).starts_with("invalid peer list 'localhost'"));
        assert!(err(&["--exclude=::1:5432", "cmd"]).contains("ambiguous"));
    }

    #[test]
    fn check_and_env_modes() {
        assert_eq!(opts(&["--check", "--", "curl"]).mode, Mode::Check);
        assert_eq!(opts(&["--env", "-t", "5"]).mode, Mode::Env);
        assert_eq!(opts(&["curl"]).mode, Mode::Run);
        assert!(err(&["--env", "curl"]).contains("--env takes no COMMAND"));
        assert!(err(&["--check"]).contains("missing operand"));
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
}
