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

pub(crate) mod diag;
pub(crate) mod golang;
pub(crate) mod proc;
pub(crate) mod rules;
pub(crate) mod run;
pub(crate) mod sys;
pub(crate) mod tcp;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use rules::Rule;
use sys::now_ns;
use tcp::{ESTABLISHED, LISTEN, Look, SYN_SENT};

const MS: u64 = 1_000_000;
/// Kept over each deadline: the kernel's idle times have jiffy (4 ms at
/// HZ=250) resolution; two jiffies so that no abort fires early.
const MARGIN: u64 = 8 * MS;

/// The timeouts and filters, as the library reads them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Settings {
    pub(crate) connect: u64,
    pub(crate) read: u64,
    pub(crate) write: u64,
    pub(crate) accept: u64,
    pub(crate) only: Vec<Rule>,
    pub(crate) exclude: Vec<Rule>,
    pub(crate) log: bool,
}

impl Settings {
    /// From the variables the command will see (`get(NAME)`), with the
    /// library's fallbacks: each timeout falls back to TIMEOUTSOCK_SECS,
    /// accept does not. A bad value is an error naming it.
    pub(crate) fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let secs = |name: &str| -> Result<Option<u64>, String> {
            match get(name).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => crate::secs::parse_secs(v.as_bytes())
                    .map(Some)
                    .map_err(|why| format!("invalid {name}={v}: {}", why.reason())),
            }
        };
        let list = |name: &str| -> Result<Vec<Rule>, String> {
            rules::parse_list(&get(name).unwrap_or_default()).map_err(|e| {
                format!("invalid {name}: bad entry '{e}' (want ADDRESS[/PREFIX][:PORT])")
            })
        };
        let default = secs("TIMEOUTSOCK_SECS")?.unwrap_or(0);
        Ok(Settings {
            connect: secs("TIMEOUTSOCK_CONNECT_SECS")?.unwrap_or(default),
            read: secs("TIMEOUTSOCK_READ_SECS")?.unwrap_or(default),
            write: secs("TIMEOUTSOCK_WRITE_SECS")?.unwrap_or(default),
            accept: secs("TIMEOUTSOCK_ACCEPT_SECS")?.unwrap_or(0),
            only: list("TIMEOUTSOCK_ONLY")?,
            exclude: list("TIMEOUTSOCK_EXCLUDE")?,
            log: get("TIMEOUTSOCK_LOG").as_deref() == Some("1"),
        })
    }

    /// Anything to supervise at all?
    pub(crate) fn any(&self) -> bool {
        self.connect != 0 || self.read != 0 || self.write != 0
    }

    /// How often the tree is walked for new processes and sockets: a
    /// quarter of the shortest timeout, 20 ms to 5 s. Deadlines come from
    /// the kernel's own idle times, so a late first sight does not make an
    /// abort late.
    pub(crate) fn scan_period(&self) -> u64 {
        let t = [self.connect, self.read, self.write]
            .into_iter()
            .filter(|&t| t != 0)
            .min()
            .unwrap_or(20_000 * MS);
        (t / 4).clamp(20 * MS, 5_000 * MS)
    }
}

/// `20`, `2.5`, `0.25`: the library's way of printing T.
pub(crate) fn secs_text(ns: u64) -> String {
    let ms = ns.div_ceil(MS);
    let (s, f) = (ms / 1000, ms % 1000);
    if f == 0 {
        format!("{s}")
    } else {
        format!("{s}.{}", format!("{f:03}").trim_end_matches('0'))
    }
}

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

struct Proc {
    pidfd: OwnedFd,
    comm: String,
    exe: Option<proc::Exe>,
    /// The library is in effect: mapped, and the program is neither Go nor
    /// static nor an io_uring user.
    reached: bool,
    /// Scans left in which to look for the library again (a process seen
    /// between exec and the loader's mapping of the preload).
    maps_retries: u8,
    pass: u64,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Op {
    Connect,
    Read,
    Write,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Connect => "connect",
            Op::Read => "read",
            Op::Write => "write",
        }
    }
}

struct Sock {
    /// One process and descriptor that hold it (as of the last scan).
    pid: i32,
    fd: i32,
    pass: u64,
    /// Not ours to time (not TCP, listening, filtered out, accepted
    /// without --accept): remembered so that it is not looked at again.
    ignored: bool,
    state: u8,
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
    family: i32,
    cookie: u64,
    /// Progress counters at the last change, and when it happened.
    base: (u64, u64),
    since: u64,
    /// The TCP_USER_TIMEOUT we set (ms), if we did.
    armed: Option<u32>,
    /// The program's (or our) TCP_USER_TIMEOUT is on: the kernel fails a
    /// stalled connect or send by itself.
    kernel_timer: bool,
    deadline: u64,
}

impl Sock {
    /// A socket seen now, not (yet) timed.
    fn new(pid: i32, fd: i32, pass: u64, now: u64) -> Sock {
        Sock {
            pid,
            fd,
            pass,
            ignored: true,
            state: 0,
            local: None,
            peer: None,
            family: 0,
            cookie: 0,
            base: (0, 0),
            since: now,
            armed: None,
            kernel_timer: false,
            deadline: 0,
        }
    }
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

    fn scan(&mut self) {
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
                });
            }
            let p = self.procs.get_mut(&pid).expect("inserted above");
            p.pass = pass;
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
    fn dup(&mut self, pid: i32, fd: i32, ino: u64) -> Option<OwnedFd> {
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

    fn first_sight(&mut self, pid: i32, fd: i32, ino: u64, d: OwnedFd, look: Option<Look>) {
        let now = now_ns();
        let mut sock = Sock::new(pid, fd, self.pass, now);
        let Some(look) = look else {
            self.socks.insert(ino, sock);
            return;
        };
        if look.state == LISTEN {
            sock.state = LISTEN;
            sock.local = sys::sock_addr(&d, false);
            self.socks.insert(ino, sock);
            return;
        }
        if look.state != SYN_SENT && look.state != ESTABLISHED {
            // Not yet connecting, or already closing: looked at again next scan.
            return;
        }
        sock.state = look.state;
        sock.family = tcp::domain(&d).unwrap_or(libc::AF_INET);
        sock.cookie = tcp::cookie(&d).unwrap_or(u64::MAX);
        sock.local = sys::sock_addr(&d, false);
        sock.peer = tcp::peer(&d);
        // Accepted: a listening socket in the tree has its local port.
        let accepted = sock.local.is_some_and(|l| {
            self.socks.values().any(|s| {
                s.state == LISTEN
                    && s.local.is_some_and(|r| {
                        r.port() == l.port() && (r.ip().is_unspecified() || r.ip() == l.ip())
                    })
            })
        });
        let wanted = match sock.peer {
            Some(p) => rules::wanted(&self.s.only, &self.s.exclude, &p),
            None => self.s.only.is_empty(),
        };
        if !wanted || (accepted && self.s.accept == 0) {
            self.socks.insert(ino, sock);
            return;
        }
        sock.ignored = false;
        let ut = tcp::user_timeout_ms(&d).unwrap_or(0);
        if ut == 0 {
            self.arm(
                &d,
                &mut sock,
                if look.state == SYN_SENT {
                    Op::Connect
                } else {
                    Op::Write
                },
            );
        }
        sock.kernel_timer = ut != 0 || sock.armed.is_some();
        sock.base = (look.acked, look.received);
        sock.since = if look.state == SYN_SENT {
            // The connect began before we saw it (up to a scan period, more
            // on a loaded machine): its deadline counts from its first SYN.
            let (age, next_syn) = self.connect_age(&sock, &look, ut != 0, now);
            let since = now.saturating_sub(age);
            // The kernel looks at the user timeout only when its SYN
            // retransmit timer fires. A timer set before the timeout was
            // (the connect seen after a retransmission) can fire after the
            // deadline: then the kernel fails the connect late, and the
            // abort is the timeout itself, not a backstop.
            let ut_ns = if ut != 0 {
                ut as u64 * MS
            } else {
                self.s.connect
            };
            if sock.kernel_timer && next_syn.is_none_or(|at| at > since + ut_ns + MARGIN) {
                sock.kernel_timer = false;
            }
            since
        } else if look.inq > 0 {
            now
        } else {
            // Idle already: since the last data either way (jiffy
            // resolution; "never" reads as a huge number, ignored).
            let ago = look.ago_recv.min(look.ago_sent) * MS;
            if ago < now { now - ago } else { now }
        };
        self.stats.checks += 1;
        self.decide(ino, sock, &d, &look, now);
    }

    /// How long ago a connect in SYN_SENT sent its first SYN (a lower
    /// bound), and when the kernel retransmits it next (monotonic ns), if
    /// known. The kernel keeps the first SYN's time (retrans_stamp) but
    /// shows it nowhere. What it shows: the retransmissions so far (k), the
    /// current RTO r after b doublings (so r0 = r >> b, the initial one;
    /// `tcp_syn_linear_timeouts` keeps b at 0 for the first ones), and, by
    /// sock_diag, when its retransmit timer fires (in e). The last SYN went
    /// out r - e ago (its timer was set to r: exact for the first SYN; for
    /// a retransmission only if no user timeout shortened it), each earlier
    /// one at least r0 before the next: age >= k*r0 + (r - e). Without
    /// sock_diag (another network namespace): k*r0, and the next SYN at
    /// most r from now.
    fn connect_age(&self, sock: &Sock, look: &Look, clamped: bool, now: u64) -> (u64, Option<u64>) {
        let r = look.rto_us.saturating_mul(1000);
        let r0 = r >> look.backoff.min(63);
        let k = look.retransmits as u64;
        let timer = self
            .diag_for(sock.pid)
            .zip(sock.local.zip(sock.peer))
            .and_then(|(diag, (l, p))| diag.timer(sock.family, l, p, sock.cookie).ok())
            .and_then(|t| t.retransmit_in_ms());
        let earlier = k.saturating_mul(r0);
        match timer {
            Some(e) if k == 0 || !clamped => {
                let e = e as u64 * MS;
                (earlier + r.saturating_sub(e), Some(now + e))
            }
            Some(e) => (earlier, Some(now + e as u64 * MS)),
            // At the latest one RTO from now.
            None => (earlier, Some(now + r)),
        }
    }

    /// The sock_diag socket, if it can reach the sockets of `pid` (the same
    /// network namespace as ours).
    fn diag_for(&self, pid: i32) -> Option<&diag::Diag> {
        let same_ns = self.my_netns.is_some() && self.my_netns == proc::netns(&pid.to_string());
        self.diag.as_ref().filter(|_| same_ns)
    }

    /// Sets TCP_USER_TIMEOUT to the timeout of `op` (0 clears ours).
    fn arm(&mut self, d: &OwnedFd, sock: &mut Sock, op: Op) {
        let t = if op == Op::Connect {
            self.s.connect
        } else {
            self.s.write
        };
        let ms = t.div_ceil(MS).min(i32::MAX as u64) as u32;
        if ms == 0 && sock.armed.is_none() {
            return;
        }
        if sys::setsockopt_int(d, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, ms as i32).is_err() {
            return;
        }
        sock.armed = (ms != 0).then_some(ms);
        if ms != 0 {
            self.stats.armed += 1;
            self.log(sock, op, t, "user timeout armed");
        }
    }

    fn check(&mut self, ino: u64, now: u64) {
        self.stats.checks += 1;
        let Some(mut sock) = self.socks.remove(&ino) else {
            return;
        };
        let Some(d) = self.dup(sock.pid, sock.fd, ino) else {
            // Closed or moved: the next scan finds it again if it lives on.
            return;
        };
        let Some(look) = tcp::look(&d) else {
            return;
        };
        let now = now.max(now_ns());
        if look.state != SYN_SENT && look.state != ESTABLISHED {
            return;
        }
        if sock.state == SYN_SENT && look.state == ESTABLISHED {
            // Connected: our user timeout now guards writes.
            if sock.armed.is_some() && tcp::user_timeout_ms(&d) == sock.armed {
                self.arm(&d, &mut sock, Op::Write);
                sock.kernel_timer = sock.armed.is_some();
            }
            sock.since = now;
        }
        sock.state = look.state;
        let cur = (look.acked, look.received);
        if cur != sock.base {
            // Progress: the latest of the changed counters' last events.
            let mut ago = u64::MAX;
            if cur.0 != sock.base.0 {
                ago = ago.min(look.ago_ack);
            }
            if cur.1 != sock.base.1 {
                ago = ago.min(look.ago_recv);
            }
            let ago = ago.saturating_mul(MS);
            sock.since = sock.since.max(now.saturating_sub(ago));
            sock.base = cur;
        }
        if look.inq > 0 {
            sock.since = now;
        }
        self.decide(ino, sock, &d, &look, now);
    }

    /// Schedules the next check of `sock`, or aborts it if it is due.
    fn decide(&mut self, ino: u64, mut sock: Sock, d: &OwnedFd, look: &Look, now: u64) {
        let (op, kernel) = if look.state == SYN_SENT {
            (Op::Connect, sock.kernel_timer)
        } else if look.outq > 0 {
            (Op::Write, sock.kernel_timer)
        } else {
            (Op::Read, false)
        };
        let t = match op {
            Op::Connect => self.s.connect,
            Op::Read => self.s.read,
            Op::Write => self.s.write,
        };
        let deadline = if t == 0 {
            // Not timed in this state: look again a scan period later.
            now + self.s.scan_period()
        } else {
            let grace = if kernel {
                (t / 4).clamp(250 * MS, 2_000 * MS)
            } else {
                0
            };
            sock.since + t + MARGIN + grace
        };
        if t != 0 && deadline <= now {
            self.abort(&sock, d, op, t);
            return;
        }
        sock.deadline = deadline;
        self.heap.push(Reverse((deadline, ino)));
        self.socks.insert(ino, sock);
    }

    fn abort(&mut self, sock: &Sock, d: &OwnedFd, op: Op, t: u64) {
        let destroyed = match (self.diag_for(sock.pid), sock.local, sock.peer) {
            (Some(diag), Some(l), Some(p)) => diag.destroy(sock.family, l, p, sock.cookie).is_ok(),
            _ => false,
        };
        let how = if destroyed {
            "aborted"
        } else if sys::connect_unspec(d).is_ok() {
            "aborted (reset)"
        } else {
            return;
        };
        self.stats.aborted += 1;
        self.log(sock, op, t, how);
    }

    /// `timeoutsock: read on fd 3 (127.0.0.1:8080) of pid 42 (client)
    /// timed out after 20s: aborted` — the library's line, plus the process.
    fn log(&self, sock: &Sock, op: Op, t: u64, what: &str) {
        if !self.s.log {
            return;
        }
        let peer = sock
            .peer
            .map_or("peer unknown".to_string(), |p| p.to_string());
        let comm = self.procs.get(&sock.pid).map_or("?", |p| p.comm.as_str());
        let line = if what == "user timeout armed" {
            format!(
                "{}: {} on fd {} ({peer}) of pid {} ({comm}): user timeout armed, fails after {}s",
                crate::PROG,
                op.name(),
                sock.fd,
                sock.pid,
                secs_text(t)
            )
        } else {
            format!(
                "{}: {} on fd {} ({peer}) of pid {} ({comm}) timed out after {}s: {what}",
                crate::PROG,
                op.name(),
                sock.fd,
                sock.pid,
                secs_text(t)
            )
        };
        eprintln!("{line}");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_print_like_the_library() {
        assert_eq!(secs_text(20_000 * MS), "20");
        assert_eq!(secs_text(2_500 * MS), "2.5");
        assert_eq!(secs_text(250 * MS), "0.25");
        assert_eq!(secs_text(MS), "0.001");
    }

    /// A connect stuck in SYN_SENT (loopback listener with a full accept
    /// queue, GUIDE §3) and when it started.
    fn black_hole_connect() -> (Vec<OwnedFd>, OwnedFd, u64) {
        use std::os::fd::FromRawFd;
        let sock = |nonblock: bool| {
            let flags = libc::SOCK_STREAM
                | libc::SOCK_CLOEXEC
                | if nonblock { libc::SOCK_NONBLOCK } else { 0 };
            // SAFETY: plain socket(2); the descriptor is ours.
            unsafe { OwnedFd::from_raw_fd(libc::socket(libc::AF_INET, flags, 0)) }
        };
        // SAFETY: sockaddr_in is plain data, valid zeroed.
        let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        sa.sin_family = libc::AF_INET as u16;
        sa.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let l = sock(false);
        let mut got = len;
        // SAFETY: sa/len describe a valid sockaddr_in buffer throughout.
        unsafe {
            assert_eq!(libc::bind(l.as_raw_fd(), (&raw const sa).cast(), len), 0);
            assert_eq!(libc::listen(l.as_raw_fd(), 0), 0);
            libc::getsockname(l.as_raw_fd(), (&raw mut sa).cast(), &mut got);
        }
        let connect = |fd: &OwnedFd| {
            // SAFETY: as above.
            unsafe { libc::connect(fd.as_raw_fd(), (&raw const sa).cast(), len) };
        };
        let mut keep = vec![l];
        for _ in 0..3 {
            let f = sock(true);
            connect(&f);
            keep.push(f);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let c = sock(true);
        let t0 = now_ns();
        connect(&c);
        (keep, c, t0)
    }

    use std::os::fd::AsRawFd;

    /// The root cause of late connect timeouts: a connect first seen after
    /// its SYN was retransmitted must be timed from its first SYN, and the
    /// kernel (which checks TCP_USER_TIMEOUT only when the SYN timer fires)
    /// must not be trusted to fail it in time.
    #[test]
    fn a_connect_is_timed_from_its_first_syn_even_when_seen_late() {
        let (_keep, c, t0) = black_hole_connect();
        let mut sup = Supervisor::new(
            Settings {
                connect: 1_000 * MS,
                read: 1_000 * MS,
                write: 1_000 * MS,
                ..Settings::default()
            },
            // SAFETY: getpid has no preconditions.
            unsafe { libc::getpid() },
            Scope::All,
        );
        let probe = |sup: &mut Supervisor, after_ms: u64| {
            std::thread::sleep(std::time::Duration::from_nanos(
                (t0 + after_ms * MS).saturating_sub(now_ns()),
            ));
            let look = tcp::look(&c).expect("TCP_INFO");
            assert_eq!(look.state, SYN_SENT);
            let mut sock = Sock::new(0, 3, 0, now_ns());
            // SAFETY: getpid has no preconditions.
            sock.pid = unsafe { libc::getpid() };
            sock.family = libc::AF_INET;
            sock.cookie = tcp::cookie(&c).unwrap();
            sock.local = sys::sock_addr(&c, false);
            sock.peer = tcp::peer(&c);
            let now = now_ns();
            let (age, next) = sup.connect_age(&sock, &look, false, now);
            let true_age = now - t0;
            // A lower bound (never an early abort), within a jiffy or two.
            assert!(age <= true_age + 2 * 4 * MS, "age {age} > {true_age}");
            if sup.diag.is_some() {
                assert!(
                    age + 50 * MS >= true_age,
                    "age {age} << {true_age} at {after_ms} ms"
                );
                assert!(next.is_some());
            } else {
                assert!(age + 1_050 * MS >= true_age, "{age} {true_age}");
            }
            sup.stats.checks += 1;
            (look.retransmits, next.map(|n| n.saturating_sub(t0) / MS))
        };
        // Before the first retransmission: the SYN timer fires at 1 s.
        let (k, next) = probe(&mut sup, 300);
        assert_eq!(k, 0);
        if let Some(n) = next {
            assert!((950..=1_050).contains(&n), "next SYN at {n} ms");
        }
        // After it: seen at 1.3 s, the connect is 1.3 s old (not 0), and
        // the next SYN (2 s) is past a 1 s deadline: the kernel would be late.
        let (k, next) = probe(&mut sup, 1_300);
        assert!(k >= 1, "no retransmission yet");
        if let Some(n) = next {
            assert!(n > 1_000 + 8, "next SYN at {n} ms");
        }
    }

    #[test]
    fn settings_fall_back_like_the_library() {
        let vars = |v: &'static [(&'static str, &'static str)]| {
            move |k: &str| v.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let s = Settings::from_vars(&vars(&[
            ("TIMEOUTSOCK_SECS", "2"),
            ("TIMEOUTSOCK_READ_SECS", "0"),
        ]))
        .unwrap();
        assert_eq!(
            (s.connect, s.read, s.write, s.accept),
            (2_000 * MS, 0, 2_000 * MS, 0)
        );
        assert!(s.any());
        assert_eq!(s.scan_period(), 500 * MS);
        assert!(!Settings::from_vars(&vars(&[])).unwrap().any());
        assert!(Settings::from_vars(&vars(&[("TIMEOUTSOCK_ONLY", "x")])).is_err());
    }
}
