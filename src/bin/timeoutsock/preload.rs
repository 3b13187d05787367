//! The library and LD_PRELOAD: where the library is, and the LD_PRELOAD
//! value that puts it first.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::text::quote;

pub(crate) const LIB_NAME: &str = "libtimeoutsock.so";

/// `$TIMEOUTSOCK_LIB`, else the library next to this program (a build tree:
/// `target/release/`) or in `../lib` from it (an installed layout:
/// `PREFIX/bin` + `PREFIX/lib`). The program's own path comes from
/// /proc/self/exe, symlinks resolved.
pub(crate) fn find_library() -> Result<PathBuf, String> {
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
