//! Can the preload work for the command? Follows `#!` interpreters and
//! `#!/usr/bin/env NAME`, and checks what makes the loader ignore or refuse
//! LD_PRELOAD: no dynamic loader (static), raised privileges (setuid, setgid,
//! file capabilities), another ELF class or machine than the library's — and
//! what the loader would preload in vain: a Go program (static or cgo) makes
//! its socket system calls itself, never through libc. Static, Go and
//! other-architecture programs are the outside supervisor's; privileged ones
//! are no one's (not dumpable: their descriptors cannot be duplicated).

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::PROG;
use crate::command::resolve_command;
use crate::elf::{ELFCLASS32, ELFCLASS64, ET_DYN, ET_EXEC, Elf, Libc, parse_elf};
use crate::preload::LIB_NAME;
use crate::text::quote;

/// Why the dynamic loader would not preload the library into a program.
#[derive(Debug, PartialEq)]
enum Why {
    /// No ELF interpreter: no dynamic loader runs at all (`go`: a Go
    /// program, CGO_ENABLED=0).
    Static { go: bool },
    /// A dynamically linked (cgo) Go program: the library is mapped and
    /// never called for sockets.
    Go,
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
pub(crate) struct Blocker {
    /// The file that has the problem: the command, or the interpreter that
    /// actually runs it (`#!`).
    file: PathBuf,
    why: Why,
    /// The library's class and machine, for `Why::Arch`.
    lib: (u8, u16),
}

impl Blocker {
    /// The supervisor reaches such a program from outside (static, Go,
    /// another architecture); not one that runs with raised privileges (not
    /// dumpable: its descriptors cannot be duplicated).
    pub(crate) fn supervisable(&self) -> bool {
        matches!(self.why, Why::Static { .. } | Why::Go | Why::Arch { .. })
    }

    pub(crate) fn describe(&self, command: &Path) -> String {
        let what = match &self.why {
            Why::Static { go: false } => "statically linked".to_string(),
            Why::Static { go: true } => "statically linked (a Go program)".to_string(),
            Why::Go => "a Go program (dynamically linked, cgo): Go makes its socket \
                       system calls itself, never through libc"
                .to_string(),
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

/// What a command would get, and why.
#[derive(Debug, PartialEq)]
pub(crate) enum Reach {
    /// The preload library; the C library of the first program that runs
    /// (it picks the build, see `preload::choose`).
    Library(Libc),
    /// The outside supervisor: the preload cannot work or does not reach
    /// the program's sockets (static, Go, another architecture);
    /// `Verdict::blocker` says why. Whether the supervisor may look into
    /// the process is only known at run time (ptrace permission, seccomp).
    Supervised,
    /// Nothing: the preload cannot work (`Verdict::blocker` says why) and
    /// the supervisor is off (`--preload-only`, all timeouts 0) or cannot
    /// look into such a program (raised privileges).
    Nothing,
}

/// The reach of a command with its reason, one line of text.
#[derive(Debug)]
pub(crate) struct Verdict {
    pub(crate) reach: Reach,
    pub(crate) why: String,
    pub(crate) blocker: Option<Blocker>,
}

/// Judges the command file `target` (as resolved in PATH): see
/// `preload_blocker` for the rules. `supervisor`: the outside supervisor
/// will run (takes what the preload cannot reach but may be looked into).
pub(crate) fn verdict(
    target: &Path,
    lib: &Elf,
    path_var: Option<&OsStr>,
    supervisor: bool,
) -> Verdict {
    let mut first = None;
    if let Some(b) = preload_blocker(target, lib, path_var, 0, &mut first) {
        return Verdict {
            reach: if supervisor && b.supervisable() {
                Reach::Supervised
            } else {
                Reach::Nothing
            },
            why: b.describe(target),
            blocker: Some(b),
        };
    }
    let Some((file, elf)) = first else {
        return Verdict {
            reach: Reach::Library(Libc::Unknown),
            why: format!(
                "{} is not an ELF program (unreadable, or run by /bin/sh)",
                quote(target.as_os_str().as_bytes())
            ),
            blocker: None,
        };
    };
    let loader = match elf.libc() {
        Libc::Glibc => "glibc",
        Libc::Musl => "musl",
        Libc::Unknown => "unknown",
    };
    let what = format!(
        "dynamically linked ({loader} loader {})",
        quote(&elf.interp_path)
    );
    let why = if file == target {
        format!("{} is {what}", quote(target.as_os_str().as_bytes()))
    } else {
        format!(
            "{} runs {}, which is {what}",
            quote(target.as_os_str().as_bytes()),
            quote(file.as_os_str().as_bytes())
        )
    };
    Verdict {
        reach: Reach::Library(elf.libc()),
        why,
        blocker: None,
    }
}

/// What stops a preload into the program `file` (the file the kernel is
/// asked to execute), if anything. A script (`#!`) is judged by its
/// interpreter — the program that really runs; `#!/usr/bin/env NAME` also by
/// NAME found in PATH. A file that is neither ELF nor script (execvp runs it
/// with /bin/sh) and anything unreadable are let through. `first` gets the
/// first ELF program that runs (the one whose loader reads LD_PRELOAD first).
pub(crate) fn preload_blocker(
    file: &Path,
    lib: &Elf,
    path_var: Option<&OsStr>,
    depth: u32,
    first: &mut Option<(PathBuf, Elf)>,
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
        if let Some(b) = preload_blocker(&interp, lib, path_var, depth + 1, first) {
            return Some(b);
        }
        if interp.file_name() == Some(OsStr::new("env")) {
            let name = env_command(&rest)?;
            let target = resolve_command(OsStr::from_bytes(name), path_var).ok()?;
            return preload_blocker(&target, lib, path_var, depth + 1, first);
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
    let go = crate::supervise::golang::file_is_go(&f);
    if elf.is_static() {
        return blocker(Why::Static { go });
    }
    if first.is_none() {
        *first = Some((file.to_path_buf(), elf.clone()));
    }
    if (elf.class, elf.machine) != (lib.class, lib.machine) {
        return blocker(Why::Arch {
            class: elf.class,
            machine: elf.machine,
        });
    }
    if go {
        return blocker(Why::Go);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
