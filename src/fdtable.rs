//! Per-descriptor state: what the descriptor is (a hint) and its idle clock.
//!
//! A two-level table indexed by fd number, lock-free: chunks of 8192 slots
//! are mapped with `mmap` the first time a descriptor in their range needs
//! a slot (a system call, safe in a signal handler; nothing here calls
//! malloc or takes a lock). Nothing is mapped until the library is enabled
//! and a descriptor is used, and the static part is 1 KiB, which keeps the
//! library cheap to load into every process (no extra mapping for .bss). Descriptors past
//! `MAX_FDS` have no slot: they are classified on every call and get a
//! clock per call instead of per socket.
//!
//! The class is only a hint. Hooks that create descriptors (socket,
//! socketpair, accept, dup*, fcntl(F_DUPFD), SCM_RIGHTS in recvmsg) and
//! close/close_range keep it true; a descriptor closed behind our back
//! (fclose) and reused by open/pipe keeps a stale "TCP" hint, which the
//! engine notices at once (`ENOTSOCK`) and corrects. Blocking mode is never
//! cached: it is read with F_GETFL when a call has to wait.

use crate::real;
use core::ptr;
use core::sync::atomic::{AtomicI32, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use libc::c_int;

/// Not classified yet (or closed): ask the kernel when first used.
pub const UNKNOWN: u8 = 0;
/// A TCP socket (AF_INET/AF_INET6), not listening.
pub const TCP: u8 = 1;
/// Anything else: file, pipe, tty, Unix socket, UDP, ...
pub const OTHER: u8 = 2;
/// A listening TCP socket: accept may be timed, waits on it never are.
pub const LISTEN: u8 = 3;
/// A TCP socket whose connection the library aborted because the program
/// waited on it (poll, select, epoll) for T with nothing happening: every
/// later call on it fails with ETIMEDOUT.
pub const TIMED_OUT: u8 = 4;

/// Slot flags: the kernel timeout on the socket was set by us (fdopen),
/// not by the program, so the engine does not take it for the program's.
pub const OUR_RCVTIMEO: u8 = 1;
pub const OUR_SNDTIMEO: u8 = 2;

const CHUNK: usize = 8192;
const CHUNKS: usize = 128;
pub const MAX_FDS: usize = CHUNK * CHUNKS;

/// One direction's idle clock.
pub struct Clock {
    /// Start of the current idle period (monotonic ns), 0: none.
    idle_since: AtomicU64,
    /// When a call last waited on, or gave up on, this direction.
    last_wait: AtomicU64,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    pub const fn new() -> Self {
        Clock {
            idle_since: AtomicU64::new(0),
            last_wait: AtomicU64::new(0),
        }
    }

    fn reset(&self) {
        self.idle_since.store(0, Relaxed);
        self.last_wait.store(0, Relaxed);
    }

    /// Bytes moved: the idle period (if any) is over. Costs one load when
    /// the socket was not idle, so the ready-data path stays cheap.
    #[inline(always)]
    pub fn progress(&self) {
        if self.idle_since.load(Relaxed) != 0 {
            self.idle_since.store(0, Relaxed);
        }
    }

    /// A call starts waiting at `now` with timeout `t`: returns the start of
    /// the idle period it belongs to. The period carries on from an earlier
    /// call (a retry after a partial count, EINTR or a timeout) as long as
    /// no byte moved since and that call waited within `t` of now;
    /// otherwise a new one starts now. (`last_wait` is refreshed only when
    /// it is more than t/16 old: an event loop that waits on a thousand
    /// sockets thousands of times a second does not rewrite them all.)
    pub fn begin_wait(&self, now: u64, t: u64) -> u64 {
        let since = self.idle_since.load(Relaxed);
        let last = self.last_wait.load(Relaxed);
        if now.saturating_sub(last) > t / 16 {
            self.last_wait.store(now, Relaxed);
        }
        if since != 0 && since <= now && now.saturating_sub(last) <= t {
            since
        } else {
            self.idle_since.store(now, Relaxed);
            now
        }
    }

    /// While waiting, `since` is our idea of the idle start; the socket may
    /// know better (another thread moved bytes, or started a later period).
    pub fn refresh(&self, since: u64, now: u64) -> u64 {
        match self.idle_since.load(Relaxed) {
            0 => {
                self.idle_since.store(now, Relaxed);
                now
            }
            cur if cur > since => cur,
            _ => since,
        }
    }

    /// The start of the current idle period, starting one now if none.
    pub fn current(&self, now: u64) -> u64 {
        self.refresh(0, now)
    }

    /// Moves the start of the idle period to `at` if that is later (the
    /// peer made progress then); returns the start.
    pub fn advance(&self, at: u64) -> u64 {
        self.idle_since.fetch_max(at, Relaxed).max(at)
    }

    /// A call stops waiting without having moved a byte (timeout, EINTR).
    pub fn end_wait(&self, now: u64) {
        self.last_wait.store(now, Relaxed);
    }

    /// A call failed with ETIMEDOUT: the period is spent. The next call
    /// starts a fresh one, so a program that retries after the error waits
    /// T again instead of spinning on immediate failures. (A call that
    /// returned a partial count keeps the period: its retry fails at once.)
    pub fn expire(&self) {
        self.idle_since.store(0, Relaxed);
    }
}

pub struct Slot {
    class: AtomicU8,
    /// The peer's progress counters when last looked at (TCP_INFO's
    /// bytes received and bytes acknowledged), and the latest time either
    /// moved: see `peer_progress`.
    seen_received: AtomicU64,
    seen_acked: AtomicU64,
    progress: AtomicU64,
    /// OUR_RCVTIMEO | OUR_SNDTIMEO.
    pub flags: AtomicU8,
    /// An error the kernel reported to us while a call of ours returned a
    /// partial count: the program's next call on the socket gets it, as the
    /// kernel would have kept it pending (sk_err) for that call.
    pub pending: AtomicI32,
    /// The epoll set this socket was last added to, plus one (0: none),
    /// and the events it asked for there.
    pub ep_fd: AtomicI32,
    pub ep_events: AtomicU32,
    /// For an epoll descriptor: how many TCP sockets are registered in it,
    /// and a lower bound of their earliest idle deadline (0: unknown, scan).
    ep_count: AtomicU32,
    pub ep_next: AtomicU64,
    /// For a socket in an epoll set: when it was added or modified there.
    pub ep_joined: AtomicU64,
    /// Where the program connected it (for the log while still connecting,
    /// when getpeername has nothing): address words and port | 1 << 16.
    dest: [AtomicU64; 3],
    /// Receiving (and accepting): progress is bytes received.
    pub rx: Clock,
    /// Sending (and connecting): progress is bytes the peer acknowledged;
    /// bytes that merely went into our own send buffer do not count.
    pub tx: Clock,
}

impl Default for Slot {
    fn default() -> Self {
        Self::new()
    }
}

impl Slot {
    pub const fn new() -> Self {
        Slot {
            class: AtomicU8::new(UNKNOWN),
            seen_received: AtomicU64::new(0),
            seen_acked: AtomicU64::new(0),
            progress: AtomicU64::new(0),
            flags: AtomicU8::new(0),
            pending: AtomicI32::new(0),
            ep_fd: AtomicI32::new(0),
            ep_events: AtomicU32::new(0),
            ep_count: AtomicU32::new(0),
            ep_next: AtomicU64::new(0),
            ep_joined: AtomicU64::new(0),
            dest: [const { AtomicU64::new(0) }; 3],
            rx: Clock::new(),
            tx: Clock::new(),
        }
    }

    pub fn class(&self) -> u8 {
        self.class.load(Relaxed)
    }

    /// When the peer last made progress, as far as we know (0: never seen):
    /// "nothing happened on the socket" means neither counter moved. Bytes
    /// the peer sent, or bytes of ours it acknowledged, in either direction
    /// — an upload whose acks flow is not idle while the program waits for
    /// the reply. Room reappearing in our own send buffer is not progress.
    /// One getsockopt(TCP_INFO); only called when a deadline has passed.
    pub fn peer_progress(&self, fd: c_int, now: u64) -> u64 {
        let Some(info) = crate::tcpinfo::tcp_info(fd, now) else {
            return self.progress.load(Relaxed);
        };
        self.note_progress(&info)
    }

    /// The last peer progress seen so far, without asking the kernel.
    pub fn last_progress(&self) -> u64 {
        self.progress.load(Relaxed)
    }

    /// An epoll set's own wait clock: when the program started waiting on
    /// the set, and when it last did (the set's descriptor is not a TCP
    /// socket, so its receive clock is free for this).
    pub fn set_clock(&self) -> &Clock {
        &self.rx
    }

    pub fn note_progress(&self, info: &crate::tcpinfo::TcpInfo) -> u64 {
        let mut p = 0;
        if self.seen_received.swap(info.received, Relaxed) != info.received {
            p = info.last_data;
        }
        if self.seen_acked.swap(info.acked, Relaxed) != info.acked {
            p = p.max(info.last_ack);
        }
        self.progress.fetch_max(p, Relaxed).max(p)
    }

    pub fn set_dest(&self, p: &crate::peers::Peer) {
        let w = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&p.addr[i * 8..i * 8 + 8]);
            u64::from_ne_bytes(b)
        };
        self.dest[0].store(w(0), Relaxed);
        self.dest[1].store(w(1), Relaxed);
        self.dest[2].store(p.port as u64 | 1 << 16, Relaxed);
    }

    pub fn dest(&self) -> Option<crate::peers::Peer> {
        let port = self.dest[2].load(Relaxed);
        if port & 1 << 16 == 0 {
            return None;
        }
        let mut addr = [0u8; 16];
        addr[..8].copy_from_slice(&self.dest[0].load(Relaxed).to_ne_bytes());
        addr[8..].copy_from_slice(&self.dest[1].load(Relaxed).to_ne_bytes());
        Some(crate::peers::Peer {
            addr,
            port: port as u16,
        })
    }

    fn reset(&self, class: u8) {
        self.class.store(class, Relaxed);
        self.seen_received.store(0, Relaxed);
        self.seen_acked.store(0, Relaxed);
        self.progress.store(0, Relaxed);
        self.flags.store(0, Relaxed);
        self.pending.store(0, Relaxed);
        self.ep_fd.store(0, Relaxed);
        self.ep_events.store(0, Relaxed);
        self.ep_count.store(0, Relaxed);
        self.ep_next.store(0, Relaxed);
        self.ep_joined.store(0, Relaxed);
        self.dest[2].store(0, Relaxed);
        self.rx.reset();
        self.tx.reset();
    }
}

static CHUNK_PTRS: [AtomicPtr<Slot>; CHUNKS] = [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS];

/// The slot of `fd` if it exists already (no allocation).
#[inline(always)]
pub fn slot(fd: c_int) -> Option<&'static Slot> {
    let i = fd as usize; // negative fds become huge and fall out below
    if i >= MAX_FDS {
        return None;
    }
    let p = CHUNK_PTRS[i / CHUNK].load(Relaxed);
    if p.is_null() {
        return None;
    }
    // SAFETY: a published chunk pointer points to CHUNK zero-initialised
    // (valid, all-UNKNOWN) slots that are never unmapped.
    Some(unsafe { &*p.add(i % CHUNK) })
}

/// The slot of `fd`, mapping its chunk if needed. `None` past MAX_FDS or
/// if the kernel refuses the mapping.
pub fn slot_alloc(fd: c_int) -> Option<&'static Slot> {
    if let Some(s) = slot(fd) {
        return Some(s);
    }
    let i = fd as usize;
    if i >= MAX_FDS {
        return None;
    }
    // Zero-filled memory is a valid Slot array (atomics of 0 = UNKNOWN,
    // no clock).
    map_once(&CHUNK_PTRS[i / CHUNK], CHUNK * core::mem::size_of::<Slot>())?;
    slot(fd)
}

/// Maps `size` zeroed bytes into `at` unless another thread did first;
/// returns the published pointer (None if the kernel refuses).
fn map_once<T>(at: &AtomicPtr<T>, size: usize) -> Option<*mut T> {
    // SAFETY: an anonymous private mapping, zero-filled.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    match at.compare_exchange(ptr::null_mut(), p.cast(), Relaxed, Relaxed) {
        Ok(_) => Some(p.cast()),
        Err(theirs) => {
            // Another thread published first: use theirs.
            // SAFETY: p is our own mapping, never published.
            unsafe { libc::munmap(p, size) };
            Some(theirs)
        }
    }
}

/// The class hint of `fd` without asking the kernel: UNKNOWN when there
/// is no slot. A load.
#[inline(always)]
pub fn hint(fd: c_int) -> u8 {
    slot(fd).map_or(UNKNOWN, |s| s.class.load(Relaxed))
}

/// The class of `fd`; an unknown descriptor is classified once with
/// getsockopt (errno kept).
#[inline(always)]
pub fn class(fd: c_int) -> u8 {
    match hint(fd) {
        UNKNOWN => classify_slow(fd),
        c => c,
    }
}

/// Is `fd` a TCP socket (AF_INET/AF_INET6), listening or not, and not
/// timed out?
#[inline(always)]
pub fn is_tcp(fd: c_int) -> bool {
    matches!(class(fd), TCP | LISTEN)
}

/// Could `fd` be a TCP socket? True for TCP and for not-yet-classified
/// descriptors; a load and no system call.
#[inline(always)]
pub fn maybe_tcp(fd: c_int) -> bool {
    hint(fd) != OTHER
}

#[cold]
#[inline(never)]
fn classify_slow(fd: c_int) -> u8 {
    if fd < 0 {
        return OTHER;
    }
    let class = probe(fd);
    if let Some(s) = slot_alloc(fd) {
        // Only fill an UNKNOWN slot: a creating hook that ran meanwhile on
        // a reused number knows better than our probe.
        if let Err(known) = s.class.compare_exchange(UNKNOWN, class, Relaxed, Relaxed) {
            return known;
        }
    }
    class
}

/// Is `fd` still the socket we aborted? A timed-out mark must never outlive
/// its socket: glibc-internal closes (closefrom, fclose of a stream opened
/// elsewhere) do not pass through our hooks, and a pipe or file that takes
/// the number must not fail with ETIMEDOUT. An aborted TCP socket stays in
/// TCP_CLOSE; anything else means the mark is stale, and it is forgotten.
/// One getsockopt, on the failing path only.
pub fn confirm_timed_out(fd: c_int) -> bool {
    const TCP_CLOSE: u8 = 7;
    match crate::tcpinfo::tcp_info(fd, 0) {
        Some(info) if info.state == TCP_CLOSE => true,
        _ => {
            forget(fd);
            false
        }
    }
}

/// Sets the class of an open descriptor, keeping the rest of its state
/// (listen() on a TCP socket, a wait timing it out).
pub fn set_class(fd: c_int, class: u8) {
    if let Some(s) = slot_alloc(fd) {
        s.class.store(class, Relaxed);
    }
}

/// Asks the kernel what `fd` is: SO_PROTOCOL is IPPROTO_TCP only for TCP
/// sockets, SO_DOMAIN tells inet from the rest. Fails on non-sockets.
fn probe(fd: c_int) -> u8 {
    let saved = crate::sys::SavedErrno::save();
    let get = |opt: c_int| -> Option<c_int> {
        let mut v: c_int = 0;
        let mut len = core::mem::size_of::<c_int>() as libc::socklen_t;
        // SAFETY: v and len are valid for getsockopt to write an int.
        let r =
            unsafe { real::getsockopt(fd, libc::SOL_SOCKET, opt, (&raw mut v).cast(), &mut len) };
        (r == 0).then_some(v)
    };
    let class = match get(libc::SO_PROTOCOL) {
        Some(p) if p == libc::IPPROTO_TCP => match get(libc::SO_DOMAIN) {
            Some(d) if d == libc::AF_INET || d == libc::AF_INET6 => {
                if get(libc::SO_ACCEPTCONN) == Some(1) {
                    LISTEN
                } else {
                    peer_class(crate::peers::Peer::of_socket(fd))
                }
            }
            _ => OTHER,
        },
        _ => OTHER,
    };
    saved.restore();
    class
}

/// A connected TCP socket is ours unless TIMEOUTSOCK_EXCLUDE/ONLY say
/// otherwise; one with no peer yet is decided at connect.
pub fn peer_class(peer: Option<crate::peers::Peer>) -> u8 {
    match peer {
        Some(p) if crate::peers::filtering() && !crate::peers::wanted(&p) => OTHER,
        _ => TCP,
    }
}

/// The class a new socket gets from its `socket()` arguments.
pub fn class_for(domain: c_int, ty: c_int, proto: c_int) -> u8 {
    let stream = ty & 0xf == libc::SOCK_STREAM;
    let inet = domain == libc::AF_INET || domain == libc::AF_INET6;
    if inet && stream && (proto == 0 || proto == libc::IPPROTO_TCP) {
        TCP
    } else {
        OTHER
    }
}

/// The pid of a process that called vfork and has not changed the table
/// since (0: none). See the vfork hook.
static VFORK_PARENT: AtomicI32 = AtomicI32::new(0);
/// The thread of that process that called vfork.
static VFORK_TID: AtomicI32 = AtomicI32::new(0);

pub fn vfork_begin(pid: c_int, tid: c_int) {
    VFORK_TID.store(tid, Relaxed);
    VFORK_PARENT.store(pid, Relaxed);
}

/// May this process change descriptor hints? Not a vfork child: it shares
/// our memory but not the parent's descriptors.
#[inline(always)]
fn may_change() -> bool {
    let p = VFORK_PARENT.load(Relaxed);
    p == 0 || vfork_check(p)
}

#[cold]
#[inline(never)]
fn vfork_check(parent: c_int) -> bool {
    // SAFETY: getpid and gettid have no preconditions.
    if unsafe { libc::getpid() } != parent {
        return false; // the vfork child
    }
    // The parent: its other threads run on during the vfork; only the
    // calling thread's own change shows that the child has exec'd or exited.
    if unsafe { libc::gettid() } == VFORK_TID.load(Relaxed) {
        VFORK_PARENT.store(0, Relaxed);
    }
    true
}

/// A descriptor was created (or re-created) as `class`.
pub fn set(fd: c_int, class: u8) {
    if fd < 0 || !may_change() {
        return;
    }
    if let Some(s) = slot_alloc(fd) {
        ep_leave(fd, s);
        s.reset(class);
    }
}

/// A descriptor was closed: its number may come back as anything.
#[inline(always)]
pub fn forget(fd: c_int) {
    if !may_change() {
        return;
    }
    if let Some(s) = slot(fd) {
        ep_leave(fd, s);
        s.reset(UNKNOWN);
    }
}

// ------------------------------------------------------ epoll membership
//
// epoll_wait returns the program's data, not descriptors, and the set lives
// in the kernel: the epoll_ctl hook records, per TCP socket, the epoll set
// it was added to and its events, marks it in a bitmap, and counts the
// members of each set, so that epoll_wait can find its sockets with a scan
// of the bitmap (and skip everything when a set has no TCP socket). A
// socket in more than one epoll set is watched in the last one only.

const WORDS: usize = MAX_FDS / 64;
/// WORDS words, mapped at the first epoll_ctl of a TCP socket.
static EP_BITS: AtomicPtr<AtomicU64> = AtomicPtr::new(ptr::null_mut());

fn ep_bits() -> Option<&'static [AtomicU64]> {
    let p = EP_BITS.load(Relaxed);
    // SAFETY: a published pointer is a mapping of WORDS zeroed words,
    // never unmapped.
    (!p.is_null()).then(|| unsafe { core::slice::from_raw_parts(p, WORDS) })
}

fn ep_bits_alloc() -> Option<&'static [AtomicU64]> {
    if EP_BITS.load(Relaxed).is_null() {
        map_once(&EP_BITS, WORDS * 8)?;
    }
    ep_bits()
}
/// Highest descriptor ever registered, +1 (0: none).
static EP_END: AtomicI32 = AtomicI32::new(0);

/// epoll_ctl(ADD/MOD) of TCP socket `fd` into `epfd` with `events`.
pub fn ep_join(epfd: c_int, fd: c_int, events: u32) {
    let (Some(s), Some(e)) = (slot_alloc(fd), slot_alloc(epfd)) else {
        return;
    };
    if s.ep_fd.load(Relaxed) != epfd + 1 {
        ep_leave(fd, s);
        s.ep_fd.store(epfd + 1, Relaxed);
        e.ep_count.fetch_add(1, Relaxed);
    }
    s.ep_events.store(events, Relaxed);
    if let Some(bits) = ep_bits_alloc() {
        bits[fd as usize / 64].fetch_or(1 << (fd % 64), Relaxed);
    }
    EP_END.fetch_max(fd + 1, Relaxed);
}

/// epoll_ctl(DEL) of `fd` from `epfd`.
pub fn ep_del(epfd: c_int, fd: c_int) {
    if let Some(s) = slot(fd).filter(|s| s.ep_fd.load(Relaxed) == epfd + 1) {
        ep_leave(fd, s);
    }
}

fn ep_leave(fd: c_int, s: &Slot) {
    let ep = s.ep_fd.swap(0, Relaxed);
    if ep == 0 {
        return;
    }
    if let Some(e) = slot(ep - 1) {
        let _ = e
            .ep_count
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
    }
    if let Some(bits) = ep_bits() {
        bits[fd as usize / 64].fetch_and(!(1 << (fd % 64)), Relaxed);
    }
}

/// Does the epoll set `epfd` have TCP sockets in it? A load.
#[inline(always)]
pub fn ep_has_members(epfd: c_int) -> bool {
    slot(epfd).is_some_and(|e| e.ep_count.load(Relaxed) != 0)
}

/// Calls `f(fd, events)` for every TCP socket registered in `epfd`.
pub fn ep_members(epfd: c_int, f: &mut dyn FnMut(c_int, u32)) {
    let end = EP_END.load(Relaxed).max(0) as usize;
    let Some(bits) = ep_bits() else {
        return;
    };
    for (w, word) in bits.iter().enumerate().take(end.div_ceil(64)) {
        let mut bits = word.load(Relaxed);
        while bits != 0 {
            let fd = (w * 64 + bits.trailing_zeros() as usize) as c_int;
            bits &= bits - 1;
            if let Some(s) = slot(fd).filter(|s| s.ep_fd.load(Relaxed) == epfd + 1) {
                f(fd, s.ep_events.load(Relaxed));
            }
        }
    }
}

/// `new` now refers to what `old` refers to.
pub fn copy(old: c_int, new: c_int) {
    if old == new || new < 0 {
        return;
    }
    set(new, hint(old));
    if let (Some(o), Some(n)) = (slot(old), slot(new)) {
        n.flags.store(o.flags.load(Relaxed), Relaxed);
    }
}

/// Forgets every slot in `first..=last` that exists.
pub fn forget_range(first: u32, last: u32) {
    if !may_change() {
        return;
    }
    let last = (last as usize).min(MAX_FDS - 1);
    let mut i = first as usize;
    while i <= last {
        if slot(i as c_int).is_none() {
            // Whole chunk unmapped: nothing to forget in it.
            i = (i / CHUNK + 1) * CHUNK;
            continue;
        }
        forget(i as c_int);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_from_socket_arguments() {
        assert_eq!(class_for(libc::AF_INET, libc::SOCK_STREAM, 0), TCP);
        assert_eq!(
            class_for(
                libc::AF_INET6,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::IPPROTO_TCP
            ),
            TCP
        );
        assert_eq!(class_for(libc::AF_INET, libc::SOCK_DGRAM, 0), OTHER);
        assert_eq!(class_for(libc::AF_UNIX, libc::SOCK_STREAM, 0), OTHER);
        assert_eq!(class_for(libc::AF_INET, libc::SOCK_STREAM, 262), OTHER);
    }

    #[test]
    fn idle_clock_carries_over_retries_but_not_stale_periods() {
        let s = Clock::new();
        let t = 1000;
        assert_eq!(s.begin_wait(10_000, t), 10_000);
        s.end_wait(11_000);
        // Retry soon after giving up: same period.
        assert_eq!(s.begin_wait(11_100, t), 10_000);
        s.end_wait(11_200);
        // A call that failed with ETIMEDOUT spends the period.
        s.expire();
        assert_eq!(s.begin_wait(11_300, t), 11_300);
        s.end_wait(11_400);
        // Came back much later: a new period.
        assert_eq!(s.begin_wait(50_000, t), 50_000);
        // Bytes moved: a new period.
        s.progress();
        assert_eq!(s.begin_wait(50_500, t), 50_500);
        // Another thread moved bytes while we waited.
        s.progress();
        assert_eq!(s.refresh(50_500, 50_900), 50_900);
        // Peer progress moves the start later, never earlier.
        assert_eq!(s.advance(51_000), 51_000);
        assert_eq!(s.advance(50_000), 51_000);
    }

    #[test]
    fn high_descriptors_get_mapped_slots() {
        let fd = 5 * CHUNK as c_int + 7;
        assert!(slot(fd).is_none());
        set(fd, TCP);
        assert!(is_tcp(fd));
        forget_range(0, u32::MAX);
        assert_eq!(slot(fd).unwrap().class.load(Relaxed), UNKNOWN);
        assert!(slot(-1).is_none());
        assert!(slot_alloc(MAX_FDS as c_int).is_none());
    }
}
