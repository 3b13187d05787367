//! Processes seen from /proc: the tree below a root, a process's socket
//! descriptors, its name, and whether the library is in effect in it.

use std::fs::File;
use std::os::unix::fs::MetadataExt;

/// The PIDs of `root` and all its descendants (/proc/PID/task/TID/children,
/// breadth first). A process that ends meanwhile just drops out.
pub(crate) fn tree(root: i32, out: &mut Vec<i32>) {
    out.clear();
    out.push(root);
    let mut i = 0;
    // bounded: each PID is visited once (the kernel's children lists form a tree)
    while i < out.len() && out.len() < 1 << 20 {
        let pid = out[i];
        i += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let path = t.path().join("children");
            let Ok(s) = std::fs::read_to_string(path) else {
                continue;
            };
            for c in s
                .split_ascii_whitespace()
                .filter_map(|c| c.parse::<i32>().ok())
            {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
    }
}

/// The process's name (/proc/PID/comm).
pub(crate) fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// What a process's descriptors hold, as far as the supervisor cares.
#[derive(Default)]
pub(crate) struct Fds {
    /// (fd, socket inode)
    pub(crate) sockets: Vec<(i32, u64)>,
    /// An io_uring instance: its I/O never goes through libc.
    pub(crate) io_uring: bool,
}

/// Lists /proc/PID/fd. `Err(errno)` when the directory cannot be read
/// (EACCES: not permitted; ENOENT: the process is gone).
pub(crate) fn fds(pid: i32, out: &mut Fds) -> Result<(), i32> {
    out.sockets.clear();
    out.io_uring = false;
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| e.raw_os_error().unwrap_or(libc::ENOENT))?;
    for e in dir.flatten() {
        let Some(fd) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(link) = std::fs::read_link(e.path()) else {
            continue;
        };
        let b = link.as_os_str().as_encoded_bytes();
        if let Some(ino) = b
            .strip_prefix(b"socket:[")
            .and_then(|r| r.strip_suffix(b"]"))
            .and_then(|n| std::str::from_utf8(n).ok())
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.sockets.push((fd, ino));
        } else if b == b"anon_inode:[io_uring]" {
            out.io_uring = true;
        }
    }
    Ok(())
}

/// How a program's executable is built, as far as the preload goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Exe {
    pub(crate) id: (u64, u64),
    pub(crate) is_static: bool,
    pub(crate) go: bool,
}

/// The executable the process runs now (/proc/PID/exe, opened, so that a
/// file in another mount namespace is read right).
pub(crate) fn exe(pid: i32) -> Option<Exe> {
    let f = File::open(format!("/proc/{pid}/exe")).ok()?;
    let m = f.metadata().ok()?;
    let read =
        &mut |off, buf: &mut [u8]| std::os::unix::fs::FileExt::read_exact_at(&f, buf, off).is_ok();
    let is_static = crate::elf::parse_elf(read).is_none_or(|e| e.is_static());
    Some(Exe {
        id: (m.dev(), m.ino()),
        is_static,
        go: super::golang::file_is_go(&f),
    })
}

/// Whether the process has a file named `libtimeoutsock.so` mapped
/// (/proc/PID/maps). Any copy counts: it is the loader that mapped it.
pub(crate) fn maps_library(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/maps")).is_ok_and(|m| {
        m.split(|&c| c == b'\n')
            .any(|l| l.ends_with(b"/libtimeoutsock.so"))
    })
}

/// The network namespace of a process (inode of /proc/PID/ns/net).
pub(crate) fn netns(pid: &str) -> Option<u64> {
    std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .ok()
        .map(|m| m.ino())
}
