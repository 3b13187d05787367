//! The library and LD_PRELOAD: where the library is, and the LD_PRELOAD
//! value that puts it first.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::elf::Libc;
use crate::text::quote;

pub(crate) const LIB_NAME: &str = "libtimeoutsock.so";

/// The musl build's file name, next to the glibc build's in every layout:
/// a distinct name, so that no path to the glibc build can name it.
pub(crate) const MUSL_LIB_NAME: &str = "libtimeoutsock-musl.so";

/// The two builds of the library, where found.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Libraries {
    pub(crate) glibc: Option<PathBuf>,
    pub(crate) musl: Option<PathBuf>,
}

/// A library file named by an environment variable: it must exist.
fn from_env(var: &str) -> Result<Option<PathBuf>, String> {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(v) => {
            let p = std::path::absolute(&v).unwrap_or_else(|_| PathBuf::from(&v));
            if !p.is_file() {
                return Err(format!("{var}={}: no such file", quote(v.as_bytes())));
            }
            Ok(Some(p))
        }
        None => Ok(None),
    }
}

/// The builds of the library. The glibc build: `$TIMEOUTSOCK_LIB`, else
/// `libtimeoutsock.so` next to this program (a build tree:
/// `target/release/`), in `../lib` from it (an installed layout:
/// `PREFIX/bin` + `PREFIX/lib`) or in `../lib/ARCH-linux-gnu` (Debian's
/// multiarch directory, where the package puts it). The musl build:
/// `$TIMEOUTSOCK_MUSL_LIB`, else (unless `$TIMEOUTSOCK_LIB` is set)
/// `libtimeoutsock-musl.so` in the same
/// directories, or the musl target's build next to this build
/// (`target/ARCH-unknown-linux-musl/PROFILE/libtimeoutsock.so`). The
/// program's own path comes from /proc/self/exe, symlinks resolved. An
/// error when neither is found.
pub(crate) fn find_libraries() -> Result<Libraries, String> {
    let mut libs = Libraries {
        glibc: from_env("TIMEOUTSOCK_LIB")?,
        musl: from_env("TIMEOUTSOCK_MUSL_LIB")?,
    };
    let exe = std::fs::read_link("/proc/self/exe")
        .map_err(|e| format!("cannot read /proc/self/exe: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let mut dirs = vec![dir.to_path_buf()];
    if let Some(prefix) = dir.parent() {
        dirs.push(prefix.join("lib"));
        dirs.push(
            prefix
                .join("lib")
                .join(format!("{}-linux-gnu", std::env::consts::ARCH)),
        );
    }
    let glibc_looked: Vec<PathBuf> = dirs.iter().map(|d| d.join(LIB_NAME)).collect();
    let mut musl_looked: Vec<PathBuf> = dirs.iter().map(|d| d.join(MUSL_LIB_NAME)).collect();
    if let (Some(target), Some(profile)) = (dir.parent(), dir.file_name()) {
        musl_looked.push(
            target
                .join(format!("{}-unknown-linux-musl", std::env::consts::ARCH))
                .join(profile)
                .join(LIB_NAME),
        );
    }
    // A library named by TIMEOUTSOCK_LIB alone is the library for every
    // program: no musl build is looked for then.
    let named = libs.glibc.is_some();
    if !named {
        libs.glibc = glibc_looked.iter().find(|p| p.is_file()).cloned();
    }
    if libs.musl.is_none() && !named {
        libs.musl = musl_looked.iter().find(|p| p.is_file()).cloned();
    }
    if libs.glibc.is_none() && libs.musl.is_none() {
        let list: Vec<String> = glibc_looked
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(format!(
            "cannot find {LIB_NAME} (looked for {}); set TIMEOUTSOCK_LIB to its path",
            list.join(" and ")
        ));
    }
    for lib in [&libs.glibc, &libs.musl].into_iter().flatten() {
        carriable(lib)?;
    }
    Ok(libs)
}

/// The loader splits LD_PRELOAD at spaces and colons, with no escape, and
/// expands `$ORIGIN`-style tokens: a path with one of those cannot go in.
fn carriable(lib: &Path) -> Result<(), String> {
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
    Ok(())
}

/// Which build of the library.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Build {
    Glibc,
    Musl,
}

impl Build {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Build::Glibc => "glibc",
            Build::Musl => "musl",
        }
    }
}

/// Whether glibc programs run on this system: a glibc dynamic loader
/// (`ld-linux*`) in /lib64 or /lib.
pub(crate) fn host_has_glibc() -> bool {
    ["/lib64", "/lib"].iter().any(|d| {
        std::fs::read_dir(d).is_ok_and(|mut r| {
            r.any(|e| e.is_ok_and(|e| e.file_name().as_bytes().starts_with(b"ld-linux")))
        })
    })
}

/// The build to preload for a program whose first loader is `libc`, and
/// why. The rule never puts the musl build where a glibc program can meet
/// it: LD_PRELOAD is inherited by every program the command starts, and the
/// musl build stops a glibc program from starting (its loader fails on
/// glibc's `libc.so`, exit 127), while the glibc build loads in musl
/// programs (musl's loader takes `libc.so.6` as itself; the musl client
/// tests run against both builds). So a musl program gets the musl build
/// only where no glibc program can run (no glibc loader: Alpine), or when
/// the glibc build is missing.
pub(crate) fn choose(
    libc: Libc,
    libs: &Libraries,
    host_glibc: bool,
) -> Result<(Build, PathBuf, &'static str), String> {
    match (libc, &libs.glibc, &libs.musl) {
        (Libc::Musl, _, Some(m)) if !host_glibc => Ok((
            Build::Musl,
            m.clone(),
            "the build for the program's musl loader",
        )),
        (Libc::Musl, Some(g), _) => Ok((
            Build::Glibc,
            g.clone(),
            if libs.musl.is_some() {
                "a musl program, but this system runs glibc programs too: a glibc program it \
                 starts would not start with the musl build in LD_PRELOAD (inherited), and the \
                 glibc build loads in musl programs"
            } else {
                "a musl program and no musl build installed: the glibc build loads in musl programs"
            },
        )),
        (Libc::Musl, None, Some(m)) => Ok((
            Build::Musl,
            m.clone(),
            "the build for the program's musl loader (no glibc build installed: a glibc program \
             it starts would not start)",
        )),
        (Libc::Glibc, Some(g), _) => Ok((
            Build::Glibc,
            g.clone(),
            "the build for the program's glibc loader",
        )),
        (Libc::Unknown, Some(g), _) => Ok((Build::Glibc, g.clone(), "the default build")),
        (Libc::Unknown, None, Some(m)) if !host_glibc => {
            Ok((Build::Musl, m.clone(), "the only build installed"))
        }
        _ => Err(format!(
            "cannot find {LIB_NAME}, the glibc build (only {MUSL_LIB_NAME}, which would stop a \
             glibc program from starting); set TIMEOUTSOCK_LIB to its path"
        )),
    }
}

/// The loader's LD_PRELOAD separators (glibc: space and colon; neither can
/// be escaped, so no entry contains one).
fn is_preload_sep(c: &u8) -> bool {
    *c == b' ' || *c == b':'
}

/// `LIB:EXISTING`; `LIB` alone when LD_PRELOAD is unset or empty; EXISTING
/// unchanged when one of its entries already names the library (the same
/// path, or the same file through another path).
pub(crate) fn preload_value(existing: Option<&OsStr>, lib: &Path) -> OsString {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_musl_build_never_meets_a_glibc_program() {
        let g = || Some(PathBuf::from("/l/libtimeoutsock.so"));
        let m = || Some(PathBuf::from("/l/libtimeoutsock-musl.so"));
        let libs = |glibc, musl| Libraries { glibc, musl };
        let build = |libc, l: &Libraries, host| choose(libc, l, host).map(|(b, _, _)| b);
        let both = libs(g(), m());
        assert_eq!(build(Libc::Glibc, &both, true), Ok(Build::Glibc));
        assert_eq!(build(Libc::Glibc, &both, false), Ok(Build::Glibc));
        assert_eq!(build(Libc::Unknown, &both, false), Ok(Build::Glibc));
        assert_eq!(build(Libc::Musl, &both, false), Ok(Build::Musl));
        assert_eq!(build(Libc::Musl, &both, true), Ok(Build::Glibc));
        assert_eq!(build(Libc::Musl, &libs(g(), None), false), Ok(Build::Glibc));
        let musl_only = libs(None, m());
        assert_eq!(build(Libc::Musl, &musl_only, true), Ok(Build::Musl));
        assert_eq!(build(Libc::Unknown, &musl_only, false), Ok(Build::Musl));
        assert!(build(Libc::Glibc, &musl_only, false).is_err());
        assert!(build(Libc::Glibc, &musl_only, true).is_err());
        assert!(build(Libc::Unknown, &musl_only, true).is_err());
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
}
