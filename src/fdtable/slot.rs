//! One descriptor's state. Fields are private: each concern has its
//! accessors here (class, own-timeout flags, pending error, connect
//! destination, peer progress, clocks); epoll membership is kept by
//! `super::epoll`.

use super::clock::Clock;
use crate::addr::Peer;
use crate::sys::sockopt::{TcpInfo, tcp_info};
use crate::sys::{Dir, Instant};
use core::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use libc::c_int;

pub struct Slot {
    pub(super) class: AtomicU8,
    /// Which descriptor the number refers to: a fresh value of the
    /// process-wide sequence `super::SEQUENCE` every time the number stops
    /// referring to what it referred to (close, fclose, close_range,
    /// closefrom, dup2/dup3 over it) and every time a creating hook hands
    /// it out. A call that waits records it at its start and compares
    /// before every retry, attempt and abort: see `generation`.
    generation: AtomicU64,
    /// The peer's progress counters when last looked at (TCP_INFO's
    /// bytes received and bytes acknowledged), and the latest time either
    /// moved: see `peer_progress`.
    seen_received: AtomicU64,
    seen_acked: AtomicU64,
    /// When the counters were last looked at (0: never): a baseline from
    /// before the current idle period is no baseline.
    seen_at: AtomicU64,
    progress: AtomicU64,
    /// Bit 0: the receive timeout on the socket is ours (fdopen), not the
    /// program's; bit 1: the send timeout.
    ours: AtomicU8,
    /// An error the kernel reported to us while a call of ours returned a
    /// partial count: the program's next call on the socket gets it, as the
    /// kernel would have kept it pending (sk_err) for that call (low 32
    /// bits); and SO_RCVLOWAT as the program set it, when above 1 (high 32
    /// bits). One word, so that the transfer's one load tells whether
    /// anything unusual applies (see `needs_attention`).
    attention: AtomicU64,
    /// The epoll set this socket was last added to, plus one (0: none),
    /// and the events it asked for there.
    pub(super) ep_fd: AtomicI32,
    /// The set's generation when the socket joined it: a set closed (or
    /// its number reused) since has no members.
    pub(super) ep_gen: AtomicU64,
    pub(super) ep_events: AtomicU32,
    /// The membership counts in the set's `ep_count` (a TCP socket, or a
    /// set with TCP members); 0: recorded only (a descriptor that may be
    /// an epoll set which has no TCP member yet).
    pub(super) ep_counted: AtomicU8,
    /// For an epoll descriptor: how many TCP sockets are registered in it,
    /// and a lower bound of their earliest idle deadline (0: unknown, scan).
    pub(super) ep_count: AtomicU32,
    pub(super) ep_next: AtomicU64,
    /// For a socket in an epoll set: when it was added or modified there.
    pub(super) ep_joined: AtomicU64,
    /// Where the program connected it (for the log while still connecting,
    /// when getpeername has nothing): address words and port | 1 << 16.
    dest: [AtomicU64; 3],
    /// What may be cached about a socket only this process controls
    /// (`super::trust`): flags and epochs; and the program's own timeouts
    /// (ns, 0: none), meaningful only while trusted.
    pub(super) trust: AtomicU64,
    pub(super) own_rx: AtomicU64,
    pub(super) own_tx: AtomicU64,
    /// Receiving (and accepting): progress is bytes received.
    rx: Clock,
    /// Sending (and connecting): progress is bytes the peer acknowledged;
    /// bytes that merely went into our own send buffer do not count.
    tx: Clock,
}

impl Default for Slot {
    fn default() -> Self {
        Self::new()
    }
}

/// The pending-error part of `Slot::attention`.
const LOW: u64 = 0x7fff_ffff;
/// The low half of `Slot::attention`: the pending error and `POLL_FIRST`.
const HALF: u64 = 0xffff_ffff;
/// In `Slot::attention`: the next read polls before its first attempt (a
/// request/response turn on a trusted blocking socket, see `trust`).
const POLL_FIRST: u64 = 1 << 31;

fn ours_bit(dir: Dir) -> u8 {
    match dir {
        Dir::In => 1,
        Dir::Out => 2,
    }
}

impl Slot {
    pub const fn new() -> Self {
        Slot {
            class: AtomicU8::new(super::UNKNOWN),
            generation: AtomicU64::new(0),
            seen_received: AtomicU64::new(0),
            seen_acked: AtomicU64::new(0),
            seen_at: AtomicU64::new(0),
            progress: AtomicU64::new(0),
            ours: AtomicU8::new(0),
            attention: AtomicU64::new(0),
            ep_fd: AtomicI32::new(0),
            ep_gen: AtomicU64::new(0),
            ep_events: AtomicU32::new(0),
            ep_counted: AtomicU8::new(0),
            ep_count: AtomicU32::new(0),
            ep_next: AtomicU64::new(0),
            ep_joined: AtomicU64::new(0),
            dest: [const { AtomicU64::new(0) }; 3],
            trust: AtomicU64::new(0),
            own_rx: AtomicU64::new(0),
            own_tx: AtomicU64::new(0),
            rx: Clock::new(),
            tx: Clock::new(),
        }
    }

    #[inline(always)]
    pub fn class(&self) -> u8 {
        self.class.load(Relaxed)
    }

    /// The descriptor's identity as far as the hooks know: a call that
    /// records it at its start and finds it unchanged later still acts on
    /// the socket it started with (no close, dup2 over it or reuse of the
    /// number went through a hook meanwhile). A load. A raw-syscall close
    /// is not seen here: the rare actions (abort) also compare SO_COOKIE.
    /// Values come from one increasing sequence, so a wait over many
    /// descriptors needs no per-descriptor record: a slot whose generation
    /// is above `fdtable::sequence()` read at the wait's start changed
    /// under the wait.
    #[inline(always)]
    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// The number is about to stop referring to its descriptor (called
    /// before the real close, so that a call blocked on it sees the change
    /// as soon as it wakes).
    pub(super) fn retire(&self) {
        self.generation.store(super::next_generation(), Relaxed);
    }

    /// The idle clock of one direction.
    #[inline(always)]
    pub fn clock(&self, dir: Dir) -> &Clock {
        match dir {
            Dir::In => &self.rx,
            Dir::Out => &self.tx,
        }
    }

    /// An epoll set's own wait clock: when the program started waiting on
    /// the set, and when it last did (the set's descriptor is not a TCP
    /// socket, so its receive clock is free for this).
    pub fn set_clock(&self) -> &Clock {
        &self.rx
    }

    /// Is the kernel timeout for `dir` one the library set (fdopen)?
    pub fn own_timeout_is_ours(&self, dir: Dir) -> bool {
        self.ours.load(Relaxed) & ours_bit(dir) != 0
    }

    /// The library set (`true`) or the program set (`false`) the kernel
    /// timeout for `dir`.
    pub fn mark_own_timeout_ours(&self, dir: Dir, ours: bool) {
        if ours {
            self.ours.fetch_or(ours_bit(dir), Relaxed);
        } else {
            self.ours.fetch_and(!ours_bit(dir), Relaxed);
        }
    }

    /// Keeps `e` for the program's next call (see `attention`).
    pub fn keep_pending(&self, e: c_int) {
        let _ = self
            .attention
            .fetch_update(Relaxed, Relaxed, |a| Some(a & !LOW | e as u32 as u64));
    }

    /// Is an error kept for the program's next call?
    pub fn has_pending(&self) -> bool {
        self.attention.load(Relaxed) & LOW != 0
    }

    /// Does a transfer need more than the plain path: an error kept for
    /// it, or a low-water mark? One load.
    #[inline(always)]
    pub fn needs_attention(&self) -> bool {
        self.attention.load(Relaxed) != 0
    }

    /// The low-water mark a blocking receive waits for (SO_RCVLOWAT, at
    /// least 1).
    #[inline(always)]
    pub fn lowat(&self) -> usize {
        (self.attention.load(Relaxed) >> 32).max(1) as usize
    }

    /// Does a receive wait for more than 1 byte (SO_RCVLOWAT > 1)?
    pub fn has_lowat(&self) -> bool {
        self.attention.load(Relaxed) >> 32 > 1
    }

    /// SO_RCVLOWAT as recorded (0: the kernel's default of 1).
    pub fn lowat_set(&self) -> c_int {
        (self.attention.load(Relaxed) >> 32) as c_int
    }

    /// The program set SO_RCVLOWAT to `v` (or the socket inherited it).
    pub fn set_lowat(&self, v: c_int) {
        let high = if v > 1 { (v as u32 as u64) << 32 } else { 0 };
        let _ = self
            .attention
            .fetch_update(Relaxed, Relaxed, |a| Some(a & HALF | high));
    }

    /// The next read polls before its first attempt.
    pub fn arm_poll_first(&self) {
        self.attention.fetch_or(POLL_FIRST, Relaxed);
    }

    /// Was a poll-first read armed? Disarms it.
    pub fn take_poll_first(&self) -> bool {
        self.attention.load(Relaxed) & POLL_FIRST != 0
            && self.attention.fetch_and(!POLL_FIRST, Relaxed) & POLL_FIRST != 0
    }

    /// A connect of ours is about to set O_NONBLOCK on top of the
    /// program's flags (which lack it): the class becomes `BORROWED`, and
    /// every hook that sees it takes O_NONBLOCK off again first (see
    /// `blocking::connect::give_back`). False if the socket is not a plain TCP
    /// socket (nothing lent).
    pub fn lend_flags(&self) -> bool {
        self.class
            .compare_exchange(super::TCP, super::BORROWED, Relaxed, Relaxed)
            .is_ok()
    }

    /// Ends a loan; true if this call is the one that ended it (the class
    /// is TCP again) and must put the program's flags back.
    pub fn take_lent(&self) -> bool {
        self.class
            .compare_exchange(super::BORROWED, super::TCP, Relaxed, Relaxed)
            .is_ok()
    }

    /// The error kept from a call that returned a partial count, if any
    /// (taken: the next call does not see it again). One load when none.
    #[inline(always)]
    pub fn take_pending(&self) -> Option<c_int> {
        if self.attention.load(Relaxed) & LOW == 0 {
            return None;
        }
        Some((self.attention.fetch_and(!LOW, Relaxed) & LOW) as c_int).filter(|&e| e != 0)
    }

    /// When the peer last made progress, as far as we know (Instant(0):
    /// never seen): "nothing happened on the socket" means neither counter
    /// moved. Bytes the peer sent, or bytes of ours it acknowledged, in
    /// either direction — an upload whose acks flow is not idle while the
    /// program waits for the reply. Room reappearing in our own send buffer
    /// is not progress. One getsockopt(TCP_INFO); only called when a
    /// deadline has passed.
    pub fn peer_progress(&self, fd: c_int, now: Instant) -> Instant {
        match tcp_info(fd, now) {
            Some(info) => self.note_progress(&info, now),
            None => self.last_progress(),
        }
    }

    /// The last peer progress seen so far, without asking the kernel.
    pub fn last_progress(&self) -> Instant {
        Instant(self.progress.load(Relaxed))
    }

    /// The start of the oldest idle period running on the socket (0: none).
    fn period_start(&self) -> u64 {
        let (r, t) = (self.rx.since_raw(), self.tx.since_raw());
        match (r, t) {
            (0, x) | (x, 0) => x,
            (r, t) => r.min(t),
        }
    }

    /// Compares `info`'s counters (looked at `now`) with the baseline of
    /// the current idle period; returns the latest progress.
    ///
    /// Bytes received: the kernel's `last_data_recv` dates them. Bytes
    /// acknowledged: `last_ack_recv` cannot, since every ACK refreshes it,
    /// replies to zero-window probes that acknowledge nothing included. A
    /// change against a baseline of this period counts as progress when it
    /// is seen (now: at most one look late, never early). Without such a
    /// baseline (first look of the period), an ACK since the period began
    /// is progress at its time when nothing of ours is outstanding (no
    /// zero-window probe runs then); with bytes outstanding it may be a
    /// probe's reply: the baseline is taken now and the deadline moved by
    /// an eighth of the time waited, for a second look.
    pub fn note_progress(&self, info: &TcpInfo, now: Instant) -> Instant {
        let start = self.period_start();
        let seen_at = self.seen_at.swap(now.0, Relaxed);
        let fresh = seen_at != 0 && seen_at >= start;
        let rx_moved = self.seen_received.swap(info.received, Relaxed) != info.received;
        let ack_moved = self.seen_acked.swap(info.acked, Relaxed) != info.acked;
        let mut p = 0;
        if rx_moved || (!fresh && info.received != 0) {
            p = info.last_data.0;
        }
        if fresh {
            if ack_moved {
                p = p.max(now.0);
            }
        } else if start != 0
            && info.acks_mean_something()
            && info.last_ack.0 >= start
            && now.0 > start
        {
            p = p.max(if info.queued_out {
                // Data of ours waits: the ACK may be a zero-window probe's
                // reply, which acknowledges nothing.
                start + (now.0 - start) / 8
            } else {
                // Nothing waits to be sent or acknowledged: no probe runs,
                // so the last ACK acknowledged bytes (the request the
                // program now waits on the reply to): progress, at its time.
                info.last_ack.0
            });
        }
        Instant(self.progress.fetch_max(p, Relaxed).max(p))
    }

    pub fn set_dest(&self, p: &Peer) {
        let w = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&p.addr[i * 8..i * 8 + 8]);
            u64::from_ne_bytes(b)
        };
        self.dest[0].store(w(0), Relaxed);
        self.dest[1].store(w(1), Relaxed);
        self.dest[2].store(p.port as u64 | 1 << 16, Relaxed);
    }

    pub fn dest(&self) -> Option<Peer> {
        let port = self.dest[2].load(Relaxed);
        if port & 1 << 16 == 0 {
            return None;
        }
        let mut addr = [0u8; 16];
        addr[..8].copy_from_slice(&self.dest[0].load(Relaxed).to_ne_bytes());
        addr[8..].copy_from_slice(&self.dest[1].load(Relaxed).to_ne_bytes());
        Some(Peer {
            addr,
            port: port as u16,
        })
    }

    /// `other`'s own-timeout flags (dup).
    pub(super) fn copy_flags(&self, other: &Slot) {
        self.ours.store(other.ours.load(Relaxed), Relaxed);
        self.set_lowat(other.lowat_set());
    }

    pub(super) fn reset(&self, class: u8) {
        self.retire();
        self.class.store(class, Relaxed);
        self.seen_received.store(0, Relaxed);
        self.seen_acked.store(0, Relaxed);
        self.seen_at.store(0, Relaxed);
        self.progress.store(0, Relaxed);
        self.ours.store(0, Relaxed);
        self.attention.store(0, Relaxed);
        self.ep_fd.store(0, Relaxed);
        self.ep_gen.store(0, Relaxed);
        self.ep_events.store(0, Relaxed);
        self.ep_counted.store(0, Relaxed);
        self.ep_count.store(0, Relaxed);
        self.ep_next.store(0, Relaxed);
        self.ep_joined.store(0, Relaxed);
        self.dest[2].store(0, Relaxed);
        self.trust.store(0, Relaxed);
        self.rx.reset();
        self.tx.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Nanos;
    use crate::sys::sockopt::tcp_state;

    const MS: u64 = 1_000_000;

    fn info(state: u8, last_ack_ms: u64, queued_out: bool) -> TcpInfo {
        TcpInfo {
            state,
            acked: 100,
            last_ack: Instant(last_ack_ms * MS),
            received: 0,
            last_data: Instant(0),
            queued_out,
        }
    }

    /// A period started at 1,000 ms with T = 200 ms, first looked at, at
    /// its deadline (1,200 ms).
    fn first_look(i: &TcpInfo) -> Instant {
        let s = Slot::new();
        s.clock(Dir::In)
            .begin_wait(Instant(1_000 * MS), Nanos::from_ms(200));
        s.note_progress(i, Instant(1_200 * MS))
    }

    #[test]
    fn an_ack_of_the_request_is_progress_at_its_time() {
        // Nothing outstanding: the ACK at 1,003 ms acknowledged the
        // request; the deadline moves by 3 ms, not by T/8 (25 ms).
        let p = first_look(&info(1, 1_003, false));
        assert_eq!(p, Instant(1_003 * MS));
    }

    #[test]
    fn an_ack_with_bytes_outstanding_gets_a_second_look() {
        // Bytes wait: the ACK may be a zero-window probe's reply.
        let p = first_look(&info(1, 1_150, true));
        assert_eq!(p, Instant(1_025 * MS));
    }

    #[test]
    fn a_listener_or_a_connect_has_no_ack_progress() {
        for state in [tcp_state::LISTEN, tcp_state::SYN_SENT, tcp_state::SYN_RECV] {
            assert_eq!(
                first_look(&info(state, 1_199, false)),
                Instant(0),
                "{state}"
            );
        }
    }
}
