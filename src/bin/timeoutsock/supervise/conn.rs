//! One connection: its first sight (user timeout armed, baseline of the
//! progress counters, the idle time already elapsed, a connect's age), the
//! check at its deadline, the decision (next deadline or abort), and the
//! log line.

use std::cmp::Reverse;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use super::settings::{MARGIN, MS, secs_text};
use super::sys::{self, now_ns};
use super::tcp::{self, ESTABLISHED, LISTEN, Look, SYN_SENT};
use super::{Supervisor, diag, proc, rules};

/// The operation a connection is timed for, by its state.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Op {
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

/// A socket of the tree, by inode.
pub(super) struct Sock {
    /// One process and descriptor that hold it (as of the last scan).
    pub(super) pid: i32,
    pub(super) fd: i32,
    pub(super) pass: u64,
    /// Not ours to time (not TCP, listening, filtered out, accepted
    /// without --accept): remembered so that it is not looked at again.
    pub(super) ignored: bool,
    pub(super) state: u8,
    pub(super) local: Option<SocketAddr>,
    pub(super) peer: Option<SocketAddr>,
    pub(super) family: i32,
    pub(super) cookie: u64,
    /// Progress counters at the last change, and when it happened.
    pub(super) base: (u64, u64),
    pub(super) since: u64,
    /// The TCP_USER_TIMEOUT we set (ms), if we did.
    pub(super) armed: Option<u32>,
    /// The program's (or our) TCP_USER_TIMEOUT is on: the kernel fails a
    /// stalled connect or send by itself.
    pub(super) kernel_timer: bool,
    pub(super) deadline: u64,
}

impl Sock {
    /// A socket seen now, not (yet) timed.
    pub(super) fn new(pid: i32, fd: i32, pass: u64, now: u64) -> Sock {
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

impl Supervisor {
    pub(super) fn first_sight(
        &mut self,
        pid: i32,
        fd: i32,
        ino: u64,
        d: OwnedFd,
        look: Option<Look>,
    ) {
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
    pub(super) fn connect_age(
        &self,
        sock: &Sock,
        look: &Look,
        clamped: bool,
        now: u64,
    ) -> (u64, Option<u64>) {
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
    /// network namespace as ours, as of the last scan).
    pub(super) fn diag_for(&self, pid: i32) -> Option<&diag::Diag> {
        let ns = match self.procs.get(&pid) {
            Some(p) => p.netns,
            None => proc::netns(&pid.to_string()),
        };
        let same_ns = self.my_netns.is_some() && self.my_netns == ns;
        self.diag.as_ref().filter(|_| same_ns)
    }

    /// Sets TCP_USER_TIMEOUT to the timeout of `op` (0 clears ours).
    pub(super) fn arm(&mut self, d: &OwnedFd, sock: &mut Sock, op: Op) {
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

    pub(super) fn check(&mut self, ino: u64, now: u64) {
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
    pub(super) fn decide(&mut self, ino: u64, mut sock: Sock, d: &OwnedFd, look: &Look, now: u64) {
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

    pub(super) fn abort(&mut self, sock: &Sock, d: &OwnedFd, op: Op, t: u64) {
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

    /// `timeoutsock: client[42]: read on fd 3 (127.0.0.1:8080) timed out
    /// after 20s: aborted` — the library's line (`PROGRAM[PID]: ...`, see
    /// src/log.rs) for the supervised process, plus what was done.
    pub(super) fn log(&self, sock: &Sock, op: Op, t: u64, what: &str) {
        if !self.s.log {
            return;
        }
        let peer = sock
            .peer
            .map_or("peer unknown".to_string(), |p| p.to_string());
        let comm = self.procs.get(&sock.pid).map_or("?", |p| p.comm.as_str());
        let who = format!(
            "{}: {comm}[{}]: {} on fd {} ({peer})",
            crate::PROG,
            sock.pid,
            op.name(),
            sock.fd
        );
        let line = if what == "user timeout armed" {
            format!("{who}: user timeout armed, fails after {}s", secs_text(t))
        } else {
            format!("{who} timed out after {}s: {what}", secs_text(t))
        };
        eprintln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervise::{Scope, Settings};

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
}
