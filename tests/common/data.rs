//! Test data: the byte pattern and checksum shared with the C clients, and
//! temporary files.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

pub const FNV_INIT: u64 = 0xcbf29ce484222325;

/// FNV-1a 64, the same as in tsclient.c.
pub fn fnv(mut h: u64, data: &[u8]) -> u64 {
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The xorshift64 byte stream of tsclient.c's fill_pattern().
pub fn pattern(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E3779B97F4A7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn hex(h: u64) -> String {
    format!("{h:016x}")
}

/// A file in the temporary directory, removed when dropped.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    /// A fresh, not yet existing path whose name contains `tag`.
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::AtomicU64;
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("timeoutsock-test-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempFile { path }
    }
    /// A file holding `data`.
    pub fn with(tag: &str, data: &[u8]) -> Self {
        let f = Self::new(tag);
        std::fs::write(&f.path, data).expect("write temporary file");
        f
    }
    pub fn path_s(&self) -> String {
        self.path.to_str().expect("utf-8 temp path").to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
