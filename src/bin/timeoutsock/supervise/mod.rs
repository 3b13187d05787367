//! The outside supervisor: gives the TCP connections of processes that the
//! preload does not reach (static, Go, io_uring users, processes without the
//! library) the same idle timeouts, from outside the process.
//!
//! How (GUIDE §6): the process tree below a root is walked through
//! /proc/PID/task/TID/children (the wrapper is a child subreaper, so
//! daemonizing grandchildren stay in it); each process is held by a pidfd
//! (never confused with a later process that gets its PID); its sockets
//! are found in /proc/PID/fd (`socket:[inode]`, deduplicated by inode) and
//! looked at through a duplicate from `pidfd_getfd`, closed again at once
//! (holding it would keep the connection open after the program closes it).
//!
//! At first sight of a connection:
//! - where the program left TCP_USER_TIMEOUT at 0, it is set to T: the
//!   kernel itself then fails a connect stuck in SYN_SENT and a send to a
//!   peer that stops reading with a real ETIMEDOUT;
//! - a baseline of `tcpi_bytes_acked`/`tcpi_bytes_received` is taken, and
//!   the idle time already elapsed read from `tcpi_last_data_recv/_sent`.
//!
//! Each connection is then checked at its own deadline (last progress,
//! plus T, plus two jiffies), not on a fixed tick. Progress is a change in
//! either counter; unread data in the receive queue is not idleness (it is
//! the program's turn). A silent peer (nothing outstanding, nothing
//! received for the read timeout) cannot be made to time out from outside:
//! the connection is aborted with SOCK_DESTROY (the program sees
//! ECONNABORTED, "software caused connection abort") or, where that is not
//! permitted, `connect(AF_UNSPEC)` on the duplicate (ECONNRESET/EPIPE);
//! never `shutdown`, which reads as a clean EOF. A connect or a send that
//! the kernel will time out itself is left to the kernel, with an abort as
//! a backstop T/4 (0.25 to 2 s) later.
//!
//! Which connections: the same settings as the library (connect, read and
//! write timeouts, EXCLUDE/ONLY peer lists, the log). Listening sockets are
//! never touched; connections accepted from a listener are timed only with
//! `--accept` (accept is opt-in in the library).
//!
//! Files: `settings` (timeouts and filters, as the library reads them),
//! `scan` (the process tree and its sockets), `conn` (one connection: first
//! sight, check, deadline, abort, log), `run` (the command's modes); below
//! them `proc` (/proc), `tcp` (TCP_INFO and options), `diag` (sock_diag),
//! `golang`, `rules` and `sys`. This file: the `Supervisor` and its tick.

pub(crate) mod conn;
pub(crate) mod diag;
pub(crate) mod golang;
pub(crate) mod proc;
pub(crate) mod rules;
pub(crate) mod run;
pub(crate) mod scan;
pub(crate) mod settings;
pub(crate) mod sys;
pub(crate) mod tcp;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::os::fd::OwnedFd;

use conn::Sock;
use scan::Proc;
pub(crate) use settings::Settings;

/// Which processes of the tree the supervisor looks after.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Scope {
    /// All but those in which the library is in effect (run mode).
    Unreached,
    /// Every process (`--pid`: the library's settings there are unknown).
    All,
}

/// Permission to look into a process was refused.
#[derive(Clone, Debug)]
pub(crate) struct Denied {
    pub(crate) pid: i32,
    pub(crate) comm: String,
    pub(crate) errno: i32,
}

/// What one supervisor has done (for the benchmark and the tests).
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct Stats {
    pub(crate) scans: u64,
    pub(crate) checks: u64,
    pub(crate) armed: u64,
    pub(crate) aborted: u64,
}

pub(crate) struct Supervisor {
    s: Settings,
    scope: Scope,
    root: i32,
    procs: HashMap<i32, Proc>,
    socks: HashMap<u64, Sock>,
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    pass: u64,
    next_scan: u64,
    diag: Option<diag::Diag>,
    my_netns: Option<u64>,
    pids: Vec<i32>,
    fds: proc::Fds,
    pub(crate) denied: Option<Denied>,
    pub(crate) stats: Stats,
}

impl Supervisor {
    pub(crate) fn new(s: Settings, root: i32, scope: Scope) -> Supervisor {
        Supervisor {
            s,
            scope,
            root,
            procs: HashMap::new(),
            socks: HashMap::new(),
            heap: BinaryHeap::new(),
            pass: 0,
            next_scan: 0,
            diag: diag::Diag::open(),
            my_netns: proc::netns("self"),
            pids: Vec::new(),
            fds: proc::Fds::default(),
            denied: None,
            stats: Stats::default(),
        }
    }

    /// Does what is due at `now`; returns when to be called next.
    pub(crate) fn tick(&mut self, now: u64) -> u64 {
        if now >= self.next_scan {
            self.scan();
            self.next_scan = now + self.s.scan_period();
        }
        // bounded: every pass pops one entry
        while let Some(&Reverse((at, ino))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            if self
                .socks
                .get(&ino)
                .is_some_and(|s| s.deadline == at && !s.ignored)
            {
                self.check(ino, now);
            }
        }
        let next = self.heap.peek().map_or(u64::MAX, |r| r.0.0);
        next.min(self.next_scan)
    }

    /// Is any connection in the tree being timed?
    pub(crate) fn busy(&self) -> bool {
        self.socks.values().any(|s| !s.ignored)
    }

    /// The scan period of these settings.
    pub(crate) fn period(&self) -> u64 {
        self.s.scan_period()
    }
}

/// Can this process's descriptors be duplicated? `Err(errno)` says why not.
pub(crate) fn probe(pidfd: &OwnedFd, fd: i32) -> Result<(), i32> {
    sys::pidfd_getfd(pidfd, fd).map(drop)
}

/// The message for a refused look into a process, with the fix.
pub(crate) fn denied_message(what: &str, errno: i32) -> String {
    let why = crate::text::strerror(errno);
    match errno {
        libc::ENOSYS => format!(
            "{what}: pidfd_getfd: {why} (the supervisor needs Linux 5.6 or later, \
             and a seccomp profile that allows pidfd_open and pidfd_getfd)"
        ),
        _ => format!(
            "{what}: pidfd_getfd: {why} (the supervisor needs the permission to ptrace \
             the process: run as its user or as root with CAP_SYS_PTRACE — in Docker, \
             --cap-add SYS_PTRACE, whose default seccomp profile allows pidfd_getfd only \
             with it; setuid and other non-dumpable programs refuse it)"
        ),
    }
}
