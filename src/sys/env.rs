//! The environment, read once in the constructor, in one pass.
//!
//! glibc calls `.init_array` functions with `(argc, argv, envp)`: the
//! constructor hands `envp` here and the `TIMEOUTSOCK_*` variables are
//! picked out in one walk (no `getenv` per variable, no `getenv` import).
//! musl passes no arguments to `.init_array` functions: there `getenv`
//! reads each variable.

use core::ffi::c_char;

/// Every variable the library reads, without the `TIMEOUTSOCK_` prefix,
/// in the order their warnings are printed.
pub const NAMES: [&str; 8] = [
    "SECS",
    "CONNECT_SECS",
    "READ_SECS",
    "WRITE_SECS",
    "ACCEPT_SECS",
    "EXCLUDE",
    "ONLY",
    "LOG",
];
pub const PREFIX: &[u8] = b"TIMEOUTSOCK_";

/// The values found, index as in [`NAMES`]; `None`: unset.
pub type Vars = [Option<&'static [u8]>; NAMES.len()];

/// The variables from the process environment `envp` (NULL-terminated
/// array of `NAME=value` strings), or, when the constructor was given no
/// environment (NULL: a loader other than glibc's called it, or the
/// arguments did not look like glibc's), one getenv per variable. The
/// first of duplicate entries wins, as with getenv.
///
/// # Safety
/// Only for the constructor: single-threaded, before main, while nobody
/// modifies the environment; `envp` is the environment glibc passed to it.
#[cfg(not(target_env = "musl"))]
pub unsafe fn read(envp: *const *const c_char) -> Vars {
    let mut vars: Vars = [None; NAMES.len()];
    if envp.is_null() {
        // SAFETY: the caller's contract, passed on.
        return unsafe { read_one_by_one(|name| crate::real::getenv(name)) };
    }
    let mut i = 0;
    loop {
        // SAFETY: envp is NULL-terminated; we stop at the NULL.
        let e = unsafe { *envp.add(i) };
        if e.is_null() {
            return vars;
        }
        i += 1;
        // SAFETY: each entry is a NUL-terminated string that stays valid
        // while nobody modifies the environment (nobody does during load).
        if unsafe { *e } as u8 != b'T' {
            continue; // most entries: one load
        }
        // SAFETY: as above.
        let entry = unsafe { c_bytes(e) };
        pick(entry, &mut vars);
    }
}

/// The bytes of a NUL-terminated string, without its NUL (a loop of our
/// own: `CStr::from_ptr` would import `strlen`, one more symbol for the
/// loader to look up in every process).
///
/// # Safety
/// `p` is a NUL-terminated string that stays valid and unchanged for the
/// process (argv, the initial environment).
pub unsafe fn c_bytes(p: *const c_char) -> &'static [u8] {
    let mut n = 0;
    // SAFETY: we stop at the NUL. (Volatile: else the compiler turns the
    // loop back into a strlen call.)
    while unsafe { p.add(n).read_volatile() } != 0 {
        n += 1;
    }
    // SAFETY: n bytes before the NUL, valid for the process.
    unsafe { core::slice::from_raw_parts(p.cast(), n) }
}

/// Files `NAME=value` into `vars` if NAME is one of ours (and not yet set).
#[cfg_attr(target_env = "musl", allow(dead_code))]
fn pick(entry: &'static [u8], vars: &mut Vars) {
    let Some(rest) = entry.strip_prefix(PREFIX) else {
        return;
    };
    for (v, name) in vars.iter_mut().zip(NAMES) {
        if let Some(value) = rest
            .strip_prefix(name.as_bytes())
            .and_then(|r| r.strip_prefix(b"="))
        {
            if v.is_none() {
                *v = Some(value);
            }
            return;
        }
    }
}

/// musl: one getenv per variable.
///
/// # Safety
/// As above; `_envp` is not used (musl passes nothing).
#[cfg(target_env = "musl")]
pub unsafe fn read(_envp: *const *const c_char) -> Vars {
    // SAFETY: the caller's contract, passed on; getenv is not interposed.
    unsafe { read_one_by_one(|name| libc::getenv(name)) }
}

/// One `getenv(name)` per variable.
///
/// # Safety
/// As `read`; `getenv` behaves as libc's.
unsafe fn read_one_by_one(getenv: impl Fn(*const c_char) -> *mut c_char) -> Vars {
    let mut vars: Vars = [None; NAMES.len()];
    for (v, name) in vars.iter_mut().zip(NAMES) {
        let mut buf = [0u8; 32];
        buf[..PREFIX.len()].copy_from_slice(PREFIX);
        buf[PREFIX.len()..PREFIX.len() + name.len()].copy_from_slice(name.as_bytes());
        // buf is NUL-terminated (zero-filled past the name).
        let p = getenv(buf.as_ptr().cast());
        if !p.is_null() {
            // SAFETY: getenv returned a NUL-terminated string that stays
            // valid while nobody modifies the environment.
            *v = Some(unsafe { c_bytes(p) });
        }
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_picks_ours_first_wins() {
        let env: Vec<std::ffi::CString> = [
            "PATH=/bin",
            "TIMEOUTSOCK_SECSX=9",
            "TIMEOUTSOCK_SECS=5",
            "TIMEOUTSOCK_READ_SECS=",
            "TIMEOUTSOCK_SECS=7",
            "TIMEOUTSOCK_LOG=2",
            "TIMEOUTSOCK_ONLY",
            "TERM=xterm",
        ]
        .iter()
        .map(|s| std::ffi::CString::new(*s).unwrap())
        .collect();
        let env: &'static [std::ffi::CString] = Box::leak(env.into_boxed_slice());
        let mut ptrs: Vec<*const c_char> = env.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(core::ptr::null());
        // SAFETY: a NULL-terminated array of strings that live forever.
        let v = unsafe { read(ptrs.as_ptr()) };
        assert_eq!(v[0], Some(&b"5"[..]));
        assert_eq!(v[2], Some(&b""[..]));
        assert_eq!(v[7], Some(&b"2"[..]));
        assert_eq!(v[6], None);
        assert_eq!(v[1], None);
    }
}
