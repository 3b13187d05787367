//! The tree scan: the processes below the root (held by pidfds), whether
//! the library is in effect in each, and their sockets, deduplicated by
//! inode; new sockets are handed to the per-connection checks.

use std::os::fd::OwnedFd;

use super::tcp::{self, LISTEN};
use super::{Denied, Scope, Supervisor, proc, sys};

/// A process of the tree.
pub(super) struct Proc {
    pub(super) pidfd: OwnedFd,
    pub(super) comm: String,
    pub(super) exe: Option<proc::Exe>,
    /// The library is in effect: mapped, and the program is neither Go nor
    /// static nor an io_uring user.
    pub(super) reached: bool,
    /// Scans left in which to look for the library again (a process seen
    /// between exec and the loader's mapping of the preload).
    pub(super) maps_retries: u8,
    pub(super) pass: u64,
    /// Its network namespace (inode of /proc/PID/ns/net), read again every
    /// scan: sock_diag reaches only the sockets of ours, and this is asked
    /// for every connection checked.
    pub(super) netns: Option<u64>,
}

impl Supervisor {
    pub(super) fn scan(&mut self) {
        self.stats.scans += 1;
        self.pass += 1;
        let pass = self.pass;
        let mut pids = std::mem::take(&mut self.pids);
        proc::tree(self.root, &mut pids);
        let mut new: Vec<(i32, i32, u64)> = Vec::new();
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() };
        for &pid in &pids {
            if pid == me {
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(v) = self.procs.entry(pid) {
                let Ok(pidfd) = sys::pidfd_open(pid) else {
                    continue;
                };
                v.insert(Proc {
                    pidfd,
                    comm: String::new(),
                    exe: None,
                    reached: false,
                    maps_retries: 0,
                    pass,
                    netns: None,
                });
            }
            let p = self.procs.get_mut(&pid).expect("inserted above");
            p.pass = pass;
            p.netns = proc::netns(&pid.to_string());
            let exe = proc::exe(pid);
            if exe.map(|e| e.id) != p.exe.map(|e| e.id) {
                // A new program (exec): judge it afresh.
                p.exe = exe;
                p.comm = proc::comm(pid);
                p.maps_retries = 3;
                p.reached = false;
            }
            if let Err(e) = proc::fds(pid, &mut self.fds) {
                if e == libc::EACCES || e == libc::EPERM {
                    self.denied.get_or_insert(Denied {
                        pid,
                        comm: p.comm.clone(),
                        errno: e,
                    });
                }
                continue;
            }
            // The pidfd was opened before /proc was read: if the process is
            // still alive now, what we read was its own.
            if sys::pidfd_exited(&p.pidfd) {
                continue;
            }
            if self.scope == Scope::Unreached && !p.reached && p.maps_retries > 0 {
                p.maps_retries -= 1;
                let e = p.exe;
                p.reached = e.is_some_and(|e| !e.go && !e.is_static) && proc::maps_library(pid);
                if p.reached {
                    p.maps_retries = 0;
                }
            }
            if p.reached && !self.fds.io_uring {
                continue;
            }
            for &(fd, ino) in &self.fds.sockets {
                match self.socks.get_mut(&ino) {
                    Some(s) => {
                        if s.pass != pass {
                            s.pass = pass;
                            s.pid = pid;
                            s.fd = fd;
                        }
                    }
                    None => {
                        if !new.iter().any(|n| n.2 == ino) {
                            new.push((pid, fd, ino));
                        }
                    }
                }
            }
        }
        self.procs.retain(|_, p| p.pass == pass);
        self.socks.retain(|_, s| s.pass == pass);
        self.pids = pids;
        // Listening sockets first: they tell accepted connections apart.
        let mut looked: Vec<_> = new
            .into_iter()
            .filter_map(|(pid, fd, ino)| {
                let d = self.dup(pid, fd, ino)?;
                let look = if tcp::is_tcp(&d) { tcp::look(&d) } else { None };
                Some((pid, fd, ino, d, look))
            })
            .collect();
        looked.sort_by_key(|l| l.4.is_none_or(|l| l.state != LISTEN));
        for (pid, fd, ino, d, look) in looked {
            self.first_sight(pid, fd, ino, d, look);
        }
    }

    /// A duplicate of the socket `ino` held as `fd` by `pid`, if it still is.
    pub(super) fn dup(&mut self, pid: i32, fd: i32, ino: u64) -> Option<OwnedFd> {
        let p = self.procs.get(&pid)?;
        match sys::pidfd_getfd(&p.pidfd, fd) {
            Ok(d) => (sys::fstat_ino(&d).map(|x| x.1) == Some(ino)).then_some(d),
            Err(e) => {
                if e == libc::EPERM || e == libc::EACCES {
                    self.denied.get_or_insert(Denied {
                        pid,
                        comm: p.comm.clone(),
                        errno: e,
                    });
                }
                None
            }
        }
    }
}
