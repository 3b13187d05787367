//! Finding the real functions without `dlsym`: the objects loaded after
//! this library, in load order (which at preload time is the order
//! `dlsym(RTLD_NEXT, ...)` searches: the other preloads after us, then the
//! program's libraries breadth-first), each searched with its GNU hash
//! table. Imports nothing from the crate.
//!
//! Only the answer `dlsym` would give is accepted: a defined `STT_FUNC`
//! symbol of the default version (the versym hidden bit clear). Anything
//! else found under the name (an IFUNC, data), or an object that cannot be
//! searched this way (no `DT_GNU_HASH`), makes the caller ask `dlsym` for
//! that name instead. A torsocks-style wrapper preloaded after us comes
//! first in the walk, exactly as with `RTLD_NEXT`, so it still chains.

use core::ffi::c_void;
use libc::{Elf64_Sym, dl_phdr_info, size_t};

/// The GNU hash of a name (djb2 with 33), evaluated at compile time for
/// the names in `real`.
pub const fn gnu_hash(name: &[u8]) -> u32 {
    let mut h: u32 = 5381;
    let mut i = 0;
    while i < name.len() && name[i] != 0 {
        h = h.wrapping_mul(33).wrapping_add(name[i] as u32);
        i += 1;
    }
    h
}

/// One searchable object.
#[derive(Clone, Copy)]
struct Obj {
    base: usize,
    gnu_hash: *const u32,
    symtab: *const Elf64_Sym,
    strtab: *const u8,
    versym: *const u16,
}

const MAX_OBJS: usize = 32;
const STT_FUNC: u8 = 2;
const STT_OBJECT: u8 = 1;

/// The loaded objects other than this library, as far as they can be
/// searched; those after it from `after` on.
pub struct Objs {
    objs: [Obj; MAX_OBJS],
    n: usize,
    after: usize,
    /// Where our own object was seen (`me`: an address inside it).
    me: usize,
    seen_me: bool,
    /// Every object after us was searchable and fitted: a name not found is
    /// not defined after us (else: ask dlsym).
    complete: bool,
}

/// What the walk says about one name.
pub enum Found {
    /// The address `dlsym(RTLD_NEXT, name)` returns.
    At(usize),
    /// Not defined in any object after us (only if the walk was complete).
    Nowhere,
    /// Ask dlsym.
    Ask,
}

const EMPTY: Obj = Obj {
    base: 0,
    gnu_hash: core::ptr::null(),
    symtab: core::ptr::null(),
    strtab: core::ptr::null(),
    versym: core::ptr::null(),
};

impl Objs {
    /// Walks the loaded objects (`dl_iterate_phdr`, load order); `me` is
    /// the address of something inside this library.
    pub fn after(me: usize) -> Objs {
        let mut objs = Objs {
            objs: [EMPTY; MAX_OBJS],
            n: 0,
            after: 0,
            me,
            seen_me: false,
            complete: true,
        };
        // SAFETY: the callback only reads the headers the loader hands it
        // and writes into `objs`, which outlives the call.
        unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut objs).cast()) };
        if !objs.seen_me {
            objs.complete = false;
        }
        objs
    }

    /// Looks `name` (NUL-padded) with hash `h` up in the objects after us.
    ///
    /// Not after us but before us (libc before this library: we were
    /// dlopen'ed, not preloaded): ask dlsym, which knows which objects a
    /// dlopen'ed library's RTLD_NEXT covers.
    #[cfg_attr(not(test), unsafe(link_section = ".text.startup"))]
    pub fn find(&self, name: &[u8], h: u32) -> Found {
        match self.find_typed(self.after, self.n, name, h, STT_FUNC) {
            Found::Nowhere => match self.find_typed(0, self.after, name, h, STT_FUNC) {
                Found::Nowhere => Found::Nowhere,
                _ => Found::Ask,
            },
            found => found,
        }
    }

    /// Looks `name` up in every object but ours, in load order (what
    /// `dlsym(RTLD_DEFAULT, ...)` would find from outside this library):
    /// for `dlsym` itself, which this library never defines and which is
    /// before us when we were dlopen'ed.
    pub fn find_anywhere(&self, name: &[u8], h: u32) -> Found {
        self.find_typed(0, self.n, name, h, STT_FUNC)
    }

    /// The address of the data object `name` (default version) in any
    /// object but ours, if the walk finds it.
    pub fn find_object_anywhere(&self, name: &[u8], h: u32) -> Option<usize> {
        match self.find_typed(0, self.n, name, h, STT_OBJECT) {
            Found::At(a) => Some(a),
            _ => None,
        }
    }

    #[inline(always)]
    #[cfg_attr(not(test), unsafe(link_section = ".text.startup"))]
    fn find_typed(&self, from: usize, to: usize, name: &[u8], h: u32, want: u8) -> Found {
        for o in &self.objs[from..to] {
            // SAFETY: the tables were taken from a loaded object's dynamic
            // section; objects are not unloaded during the constructor.
            match unsafe { lookup(o, name, h, want) } {
                Found::Nowhere => continue,
                found => return found,
            }
        }
        if self.complete {
            Found::Nowhere
        } else {
            Found::Ask
        }
    }
}

/// `dl_iterate_phdr` callback: notes each object after ours.
#[cfg_attr(not(test), unsafe(link_section = ".text.startup"))]
unsafe extern "C" fn visit(info: *mut dl_phdr_info, _size: size_t, data: *mut c_void) -> i32 {
    // SAFETY: data is the Objs passed to dl_iterate_phdr.
    let objs = unsafe { &mut *data.cast::<Objs>() };
    // SAFETY: the loader passes a valid dl_phdr_info.
    let info = unsafe { &*info };
    // SAFETY: dlpi_phdr points to dlpi_phnum program headers.
    let phdrs = unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let base = info.dlpi_addr as usize;
    if !objs.seen_me {
        let mine = phdrs.iter().any(|p| {
            let start = base.wrapping_add(p.p_vaddr as usize);
            p.p_type == libc::PT_LOAD && (start..start + p.p_memsz as usize).contains(&objs.me)
        });
        if mine {
            objs.seen_me = true;
            objs.after = objs.n;
            return 0;
        }
    }
    let Some(dynamic) = phdrs.iter().find(|p| p.p_type == libc::PT_DYNAMIC) else {
        return 0; // nothing to search (no symbols)
    };
    // SAFETY: PT_DYNAMIC of a loaded object, mapped.
    let obj = unsafe { obj_of(base, base.wrapping_add(dynamic.p_vaddr as usize)) };
    match obj {
        Some(o) if objs.n < MAX_OBJS => {
            objs.objs[objs.n] = o;
            objs.n += 1;
        }
        // Before us: such an object only matters to find_anywhere (dlsym),
        // which then asks nobody; skip it.
        None if !objs.seen_me => {}
        _ => {
            objs.complete = false;
            return 1; // stop: later objects cannot be searched in order
        }
    }
    0
}

/// The tables of the object at `base` with dynamic section `dynamic`.
/// glibc relocates the pointers of a writable dynamic section in place,
/// not those of a read-only one (the vDSO's): a value below `base` is an
/// offset.
#[cfg_attr(not(test), unsafe(link_section = ".text.startup"))]
unsafe fn obj_of(base: usize, dynamic: usize) -> Option<Obj> {
    let mut o = Obj { base, ..EMPTY };
    let fix = |p: u64| -> usize {
        let p = p as usize;
        if p < base { base + p } else { p }
    };
    // Elf64_Dyn: d_tag, then d_val/d_ptr.
    let mut d = dynamic as *const [u64; 2];
    loop {
        // SAFETY: the dynamic section is an array ending in DT_NULL.
        let [tag, val] = unsafe { *d };
        match tag {
            0 => break,                                         // DT_NULL
            0x6fff_fef5 => o.gnu_hash = fix(val) as *const u32, // DT_GNU_HASH
            6 => o.symtab = fix(val) as *const Elf64_Sym,       // DT_SYMTAB
            5 => o.strtab = fix(val) as *const u8,              // DT_STRTAB
            0x6fff_fff0 => o.versym = fix(val) as *const u16,   // DT_VERSYM
            _ => {}
        }
        // SAFETY: not past DT_NULL.
        d = unsafe { d.add(1) };
    }
    (!o.gnu_hash.is_null() && !o.symtab.is_null() && !o.strtab.is_null()).then_some(o)
}

/// One object's GNU hash lookup (bloom filter, bucket, chain).
#[inline(always)]
#[cfg_attr(not(test), unsafe(link_section = ".text.startup"))]
unsafe fn lookup(o: &Obj, name: &[u8], h: u32, want: u8) -> Found {
    let gh = o.gnu_hash;
    // SAFETY: (whole function) the GNU hash section of a loaded object:
    // header, bloom words, buckets, then the chain for every hashed symbol;
    // symtab/strtab/versym of the same object.
    unsafe {
        let (nbuckets, symoffset, bloom_size, shift) = (*gh, *gh.add(1), *gh.add(2), *gh.add(3));
        if nbuckets == 0 || bloom_size == 0 {
            return Found::Nowhere;
        }
        let bloom = gh.add(4).cast::<u64>();
        let w = *bloom.add(((h / 64) % bloom_size) as usize);
        if (w >> (h % 64)) & (w >> ((h >> shift) % 64)) & 1 == 0 {
            return Found::Nowhere;
        }
        let buckets = bloom.add(bloom_size as usize).cast::<u32>();
        let chain = buckets.add(nbuckets as usize);
        let mut i = *buckets.add((h % nbuckets) as usize);
        if i < symoffset {
            return Found::Nowhere;
        }
        loop {
            let h2 = *chain.add((i - symoffset) as usize);
            if (h | 1) == (h2 | 1) {
                let s = &*o.symtab.add(i as usize);
                if same_name(o.strtab.add(s.st_name as usize), name)
                    && s.st_shndx != 0
                    && (o.versym.is_null() || *o.versym.add(i as usize) & 0x8000 == 0)
                {
                    return if s.st_info & 0xf == want && s.st_value != 0 {
                        Found::At(o.base + s.st_value as usize)
                    } else {
                        Found::Ask // IFUNC, data, ...: what dlsym does with it
                    };
                }
            }
            if h2 & 1 != 0 {
                return Found::Nowhere;
            }
            i += 1;
        }
    }
}

/// Does the NUL-terminated string at `s` equal `name` (up to its first NUL)?
unsafe fn same_name(s: *const u8, name: &[u8]) -> bool {
    let mut i = 0;
    loop {
        let want = if i < name.len() { name[i] } else { 0 };
        // SAFETY: s is NUL-terminated; we stop at its NUL or earlier.
        let got = unsafe { *s.add(i) };
        if got != want {
            return false;
        }
        if got == 0 {
            return true;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_as_the_loader() {
        // Values from the ELF gABI GNU hash (djb2, h * 33 + c, from 5381).
        assert_eq!(gnu_hash(b""), 5381);
        assert_eq!(gnu_hash(b"a"), 177_670);
        assert_eq!(gnu_hash(b"printf"), 0x156b_2bb8);
        assert_eq!(gnu_hash(b"read\0\0\0"), gnu_hash(b"read"));
    }

    /// In the test binary itself, every libc function found by the walk is
    /// the one dlsym finds (the walk starts after the test binary).
    #[test]
    fn finds_what_dlsym_finds() {
        let me = finds_what_dlsym_finds as fn() as usize;
        let objs = Objs::after(me);
        assert!(objs.seen_me && objs.n > objs.after);
        let mut found = 0;
        for name in [
            &b"read\0"[..],
            b"write\0",
            b"poll\0",
            b"connect\0",
            b"close_range\0",
            b"getsockopt\0",
        ] {
            // SAFETY: a NUL-terminated name.
            let d = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) } as usize;
            match objs.find(name, gnu_hash(name)) {
                Found::At(a) => {
                    assert_eq!(a, d, "{:?}", String::from_utf8_lossy(name));
                    found += 1;
                }
                Found::Ask => {}
                Found::Nowhere => assert_eq!(d, 0),
            }
        }
        assert!(found >= 4, "{found}");
        assert!(matches!(
            objs.find(
                b"no_such_function_here\0",
                gnu_hash(b"no_such_function_here")
            ),
            Found::Nowhere
        ));
    }
}
