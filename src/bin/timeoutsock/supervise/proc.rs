//! Processes seen from /proc: the tree below a root, a process's socket
//! descriptors, its name, and whether the library is in effect in it.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
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
///
/// This runs every scan for every process, once per descriptor: the names
/// come from getdents64 into one buffer and each link is read with
/// readlinkat relative to the open directory (a one-component lookup,
/// where a full /proc/PID/fd/N path is walked from the root each time),
/// with no allocation per descriptor.
pub(crate) fn fds(pid: i32, out: &mut Fds) -> Result<(), i32> {
    out.sockets.clear();
    out.io_uring = false;
    let path = std::ffi::CString::new(format!("/proc/{pid}/fd")).expect("no NUL in a number");
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let dir = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if dir < 0 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::ENOENT));
    }
    // SAFETY: a fresh descriptor we own.
    let dir = unsafe { OwnedFd::from_raw_fd(dir) };
    let mut buf = [0u8; 16384];
    let mut link = [0u8; 64];
    // bounded: each getdents64 call moves through the directory, 0 at its end
    for _ in 0..1 << 20 {
        // SAFETY: buf is ours, of the length given.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n <= 0 {
            break;
        }
        let mut off = 0;
        while off + 19 < n as usize {
            // struct linux_dirent64: ino u64, off i64, reclen u16, type u8, name
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            if reclen == 0 || off + reclen > n as usize {
                break;
            }
            let name = &buf[off + 19..off + reclen];
            let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(name.len())];
            let fd = std::str::from_utf8(name)
                .ok()
                .and_then(|n| n.parse::<i32>().ok());
            if let Some(fd) = fd {
                // The name is NUL-terminated in buf (checked above).
                let at = buf[off + 19..].as_ptr() as *const libc::c_char;
                // SAFETY: a NUL-terminated name in buf and our own link buffer.
                let len = unsafe {
                    libc::readlinkat(
                        dir.as_raw_fd(),
                        at,
                        link.as_mut_ptr() as *mut libc::c_char,
                        link.len(),
                    )
                };
                if len > 0 {
                    classify_link(fd, &link[..len as usize], out);
                }
            }
            off += reclen;
        }
    }
    Ok(())
}

/// What one /proc/PID/fd link says (`socket:[INODE]`, io_uring).
fn classify_link(fd: i32, b: &[u8], out: &mut Fds) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// fds() lists exactly our sockets, with the inode fstat gives, and
    /// skips other descriptors (a pipe, files).
    #[test]
    fn fds_lists_sockets_by_inode() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (p0, p1) = std::io::pipe().expect("pipe");
        let mut out = Fds::default();
        // SAFETY: getpid has no preconditions.
        fds(unsafe { libc::getpid() }, &mut out).expect("read /proc/self/fd");
        let ino = |fd: i32| {
            // SAFETY: fd is open for the duration (owned above).
            let f = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(fd) });
            f.metadata().expect("fstat").ino()
        };
        for fd in [l.as_raw_fd(), c.as_raw_fd()] {
            assert!(
                out.sockets.contains(&(fd, ino(fd))),
                "fd {fd} missing from {:?}",
                out.sockets
            );
        }
        for fd in [p0.as_raw_fd(), p1.as_raw_fd()] {
            assert!(out.sockets.iter().all(|s| s.0 != fd), "pipe {fd} listed");
        }
        assert!(!out.io_uring);
    }
}
