//! Finding the command the way `execvp` does, and executing it in place.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The file that `execvp` would run for `cmd`: `cmd` itself when it contains
/// a slash, else the first executable regular file `DIR/cmd` over `PATH`
/// (unset: `/bin:/usr/bin`; an empty entry is the current directory).
/// Errors are an errno: `ENOENT` (not found; exit 127) or another (found
/// but not executable; exit 126).
pub(crate) fn resolve_command(cmd: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf, i32> {
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
pub(crate) fn exec(path: &Path, argv: &[OsString], env: &[(OsString, OsString)]) -> i32 {
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
