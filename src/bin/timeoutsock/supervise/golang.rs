//! Is an ELF file a Go program? Go binaries, static or dynamic (cgo), carry
//! a `.go.buildinfo` section and a `Go` build-id note (`.note.go.buildid`,
//! note type 4). A Go program makes its socket system calls itself, never
//! through libc: the preload never reaches it, even when it is mapped.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Whether the file read through `read(offset, buf)` (fills all of buf or
/// returns false) is a Go program. 64- and 32-bit, either byte order.
pub(crate) fn is_go(read: &mut dyn FnMut(u64, &mut [u8]) -> bool) -> bool {
    let mut h = [0u8; 64];
    if !read(0, &mut h[..52]) || &h[..4] != b"\x7fELF" {
        return false;
    }
    let wide = h[4] == 2;
    let big = h[5] == 2;
    if wide && !read(0, &mut h) {
        return false;
    }
    let rd = |b: &[u8], o: usize, n: usize| -> u64 {
        let mut v = 0u64;
        for i in 0..n {
            let byte = b[o + if big { i } else { n - 1 - i }] as u64;
            v = v << 8 | byte;
        }
        v
    };
    let w = if wide { 8 } else { 4 };
    let (phoff, phent, phnum, shoff, shent, shnum, shstrndx) = if wide {
        (
            rd(&h, 32, 8),
            rd(&h, 54, 2),
            rd(&h, 56, 2),
            rd(&h, 40, 8),
            rd(&h, 58, 2),
            rd(&h, 60, 2),
            rd(&h, 62, 2),
        )
    } else {
        (
            rd(&h, 28, 4),
            rd(&h, 42, 2),
            rd(&h, 44, 2),
            rd(&h, 32, 4),
            rd(&h, 46, 2),
            rd(&h, 48, 2),
            rd(&h, 50, 2),
        )
    };
    // PT_NOTE segments: a note named "Go" of type 4 (the Go build id).
    if phent >= if wide { 56 } else { 32 } && phnum <= 256 {
        let mut ph = vec![0u8; (phent * phnum) as usize];
        if read(phoff, &mut ph) {
            for e in ph.chunks_exact(phent as usize) {
                if rd(e, 0, 4) != 4 {
                    continue;
                }
                let (off, size) = if wide {
                    (rd(e, 8, 8), rd(e, 32, 8))
                } else {
                    (rd(e, 4, 4), rd(e, 16, 4))
                };
                let mut n = vec![0u8; size.min(4096) as usize];
                if read(off, &mut n) && has_go_note(&n, &rd) {
                    return true;
                }
            }
        }
    }
    // Section headers: one named ".go.buildinfo".
    let sh_min = if wide { 64 } else { 40 };
    if shent < sh_min || shnum == 0 || shnum > 4096 || shstrndx >= shnum {
        return false;
    }
    let mut sh = vec![0u8; (shent * shnum) as usize];
    if !read(shoff, &mut sh) {
        return false;
    }
    let sect = |i: u64| &sh[(i * shent) as usize..((i + 1) * shent) as usize];
    let strtab = sect(shstrndx);
    let (str_off, str_size) = (rd(strtab, 16 + w, w), rd(strtab, 16 + 2 * w, w));
    let mut names = vec![0u8; str_size.min(1 << 16) as usize];
    if !read(str_off, &mut names) {
        return false;
    }
    (0..shnum).any(|i| {
        let name = rd(sect(i), 0, 4) as usize;
        names
            .get(name..)
            .is_some_and(|n| n.starts_with(b".go.buildinfo\0"))
    })
}

fn has_go_note(mut n: &[u8], rd: &dyn Fn(&[u8], usize, usize) -> u64) -> bool {
    // bounded: every pass consumes at least the 12-byte header
    while n.len() >= 12 {
        let namesz = rd(n, 0, 4) as usize;
        let descsz = rd(n, 4, 4) as usize;
        let kind = rd(n, 8, 4);
        let name_end = 12 + namesz.div_ceil(4) * 4;
        if kind == 4 && namesz == 3 && n.get(12..15) == Some(b"Go\0") {
            return true;
        }
        let next = name_end.saturating_add(descsz.div_ceil(4) * 4);
        if next > n.len() {
            return false;
        }
        n = &n[next..];
    }
    false
}

pub(crate) fn file_is_go(f: &File) -> bool {
    is_go(&mut |off, buf| f.read_exact_at(buf, off).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_go_files_are_not_go() {
        let f = File::open("/proc/self/exe").unwrap();
        assert!(!file_is_go(&f), "this test binary is Rust");
        let sh = File::open("/bin/sh").unwrap();
        assert!(!file_is_go(&sh));
        assert!(!is_go(&mut |_, _| false));
    }
}
