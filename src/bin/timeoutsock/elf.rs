//! ELF headers (32- and 64-bit, either byte order): what the reach checks
//! need, read from the file header, the program headers and PT_DYNAMIC.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

pub(crate) const ELFCLASS32: u8 = 1;
pub(crate) const ELFCLASS64: u8 = 2;
pub(crate) const ET_EXEC: u16 = 2;
pub(crate) const ET_DYN: u16 = 3;
pub(crate) const PT_DYNAMIC: u32 = 2;
pub(crate) const PT_INTERP: u32 = 3;
pub(crate) const DT_SONAME: u64 = 14;
pub(crate) const PN_XNUM: u16 = 0xffff;

/// What the checks need from an ELF file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Elf {
    pub(crate) class: u8,
    pub(crate) machine: u16,
    pub(crate) e_type: u16,
    /// A PT_INTERP program header: the kernel starts the dynamic loader.
    pub(crate) interp: bool,
    /// The interpreter's path from PT_INTERP (`/lib64/ld-linux-x86-64.so.2`,
    /// `/lib/ld-musl-x86_64.so.1`), empty when none or unreadable.
    pub(crate) interp_path: Vec<u8>,
    /// A DT_SONAME in PT_DYNAMIC: a shared library (the dynamic loader run
    /// directly, `ld.so PROGRAM`, has one; a static-pie executable has not).
    pub(crate) soname: bool,
}

/// Which C library's loader a program names in PT_INTERP.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Libc {
    /// `ld-linux*.so.*` (and `ld64.so.*` of s390x/ppc64): glibc.
    Glibc,
    /// `ld-musl-*.so.1`.
    Musl,
    /// No interpreter, or one of neither kind.
    Unknown,
}

impl Elf {
    /// The C library of the program's loader, by the loader's file name.
    pub(crate) fn libc(&self) -> Libc {
        let name = self
            .interp_path
            .rsplit(|&c| c == b'/')
            .next()
            .unwrap_or(&[]);
        if name.starts_with(b"ld-musl-") {
            Libc::Musl
        } else if name.starts_with(b"ld-linux") || name.starts_with(b"ld64.so") {
            Libc::Glibc
        } else {
            Libc::Unknown
        }
    }

    /// No dynamic loader will run: no PT_INTERP, and not the loader itself
    /// (a shared object with a soname, which does read LD_PRELOAD).
    pub(crate) fn is_static(&self) -> bool {
        !(self.interp || (self.e_type == ET_DYN && self.soname))
    }
}

pub(crate) fn read_elf(path: &Path) -> Option<Elf> {
    let f = File::open(path).ok()?;
    parse_elf(&mut |off, buf| f.read_exact_at(buf, off).is_ok())
}

/// Parses the ELF header and program headers through `read(offset, buf)`
/// (fills all of `buf` or returns false). `None`: not ELF, or malformed.
pub(crate) fn parse_elf(read: &mut dyn FnMut(u64, &mut [u8]) -> bool) -> Option<Elf> {
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
    let mut interp_at = None;
    let mut dynamic = None;
    for e in ph.chunks_exact(phentsize as usize) {
        match u32_at(e, 0) {
            PT_INTERP => {
                interp = true;
                interp_at = Some(if wide {
                    (u64_at(e, 8), u64_at(e, 32))
                } else {
                    (u32_at(e, 4) as u64, u32_at(e, 16) as u64)
                });
            }
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
    let mut interp_path = Vec::new();
    if let Some((off, size)) = interp_at {
        let mut p = vec![0u8; size.min(4096) as usize];
        if read(off, &mut p) {
            p.truncate(p.iter().position(|&c| c == 0).unwrap_or(p.len()));
            interp_path = p;
        }
    }
    Some(Elf {
        class,
        machine,
        e_type,
        interp,
        interp_path,
        soname,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let with_path = |p: &[u8]| Elf {
            interp_path: p.to_vec(),
            ..parse(&img).unwrap()
        };
        assert_eq!(
            with_path(b"/lib64/ld-linux-x86-64.so.2").libc(),
            Libc::Glibc
        );
        assert_eq!(with_path(b"/lib/ld-musl-x86_64.so.1").libc(), Libc::Musl);
        assert_eq!(with_path(b"").libc(), Libc::Unknown);
        let mut bad = img.clone();
        bad[4] = 3;
        assert_eq!(parse(&bad), None, "unknown class");
    }
}
