//! Waiting for a socket with a deadline: the one place that blocks.
//!
//! `wait` polls one descriptor until it is ready, its idle period (see
//! `fdtable::Slot`) exceeds the timeout, the program's own socket timeout
//! (SO_RCVTIMEO/SO_SNDTIMEO, per call, as the kernel counts it) expires, or
//! a signal interrupts it in a way the program must see.

use crate::fdtable::Clock;
use crate::real;
use crate::sys::{errno, now_ns};
use libc::c_int;

const NS_PER_MS: u64 = 1_000_000;

#[derive(Debug, PartialEq, Eq)]
pub enum Wait {
    /// poll reported the socket (readable, writable, error or hang-up):
    /// the next attempt will tell which.
    Ready,
    /// Our idle timeout expired.
    TimedOut,
    /// The program's own SO_RCVTIMEO/SO_SNDTIMEO expired first.
    OwnTimeout,
    /// A signal whose handler the kernel would not restart.
    Interrupted,
    /// poll itself failed with this errno.
    Failed(c_int),
}

/// The program's own kernel timeout for this direction (SO_RCVTIMEO for
/// reading and accepting, SO_SNDTIMEO for writing and connecting), in ns;
/// 0 when none is set.
pub fn own_timeout(fd: c_int, opt: c_int) -> u64 {
    // A kernel timeout the library itself set (fdopen) is not the program's.
    let ours = if opt == libc::SO_RCVTIMEO {
        crate::fdtable::OUR_RCVTIMEO
    } else {
        crate::fdtable::OUR_SNDTIMEO
    };
    if crate::fdtable::slot(fd)
        .is_some_and(|s| s.flags.load(core::sync::atomic::Ordering::Relaxed) & ours != 0)
    {
        return 0;
    }
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = core::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: tv/len are valid for getsockopt to write a timeval.
    let r = unsafe { real::getsockopt(fd, libc::SOL_SOCKET, opt, (&raw mut tv).cast(), &mut len) };
    if r != 0 || tv.tv_sec < 0 || tv.tv_usec < 0 {
        return 0;
    }
    (tv.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(tv.tv_usec as u64 * 1000)
}

/// Waits for `events` on `fd`. `t` is the idle timeout (ns, non-zero),
/// `own_deadline` the program's own per-call deadline (0: none), `clock`
/// the direction's idle clock. With `acks`, the peer acknowledging data
/// counts as progress (see `peer_acks`).
pub fn wait(fd: c_int, events: i16, t: u64, own_deadline: u64, clock: &Clock, acks: bool) -> Wait {
    let mut now = now_ns();
    let mut since = clock.begin_wait(now, t);
    let result = loop {
        since = clock.refresh(since, now);
        if let Some((acked, at)) = acks.then(|| peer_acks(fd, now)).flatten() {
            since = clock.note_peer(since, acked, at);
        }
        let idle_deadline = since.saturating_add(t);
        let (deadline, own) = if own_deadline != 0 && own_deadline <= idle_deadline {
            (own_deadline, true)
        } else {
            (idle_deadline, false)
        };
        if now >= deadline {
            break if own {
                Wait::OwnTimeout
            } else {
                Wait::TimedOut
            };
        }
        // Round up: never wake before the deadline, at most 1 ms after it.
        let ms = (deadline - now).div_ceil(NS_PER_MS).min(i32::MAX as u64) as c_int;
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd; the real poll, not our hook.
        let r = unsafe { real::poll(&mut pfd, 1, ms) };
        if r > 0 {
            return Wait::Ready;
        }
        if r < 0 {
            let e = errno();
            if e != libc::EINTR {
                break Wait::Failed(e);
            }
            // The kernel never restarts a socket call that has its own
            // timeout (sock_intr_errno); otherwise follow the handlers.
            if own_deadline != 0 || !signals_restart() {
                break Wait::Interrupted;
            }
        }
        now = now_ns();
    };
    clock.end_wait(now_ns());
    result
}

/// The EINTR heuristic. poll() returns EINTR whatever SA_RESTART says, and
/// nothing tells which signal fired. A blocking recv would have been
/// restarted if that signal's handler had SA_RESTART. So: restart when every
/// signal that could have interrupted us (not blocked in this thread) and
/// has a handler was installed with SA_RESTART; otherwise report EINTR, as
/// the kernel does for a non-restarting handler (alarm() + handler to break
/// out of a read). Rare path: up to 64 sigaction calls.
pub fn signals_restart() -> bool {
    let saved = crate::sys::SavedErrno::save();
    // SAFETY: sigset_t and sigaction are plain C structs, valid when
    // zeroed; pthread_sigmask with a null new set only reads the mask;
    // sigaction with a null new action only reads. Both are async-signal-
    // safe and not interposed by us.
    let restart = unsafe {
        let mut blocked: libc::sigset_t = core::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, core::ptr::null(), &mut blocked);
        let mut all = true;
        for sig in 1..libc::SIGRTMAX() + 1 {
            if libc::sigismember(&blocked, sig) == 1 {
                continue;
            }
            let mut sa: libc::sigaction = core::mem::zeroed();
            if libc::sigaction(sig, core::ptr::null(), &mut sa) != 0 {
                continue;
            }
            let h = sa.sa_sigaction;
            if h == libc::SIG_DFL || h == libc::SIG_IGN {
                continue;
            }
            if sa.sa_flags & libc::SA_RESTART == 0 {
                all = false;
                break;
            }
        }
        all
    };
    saved.restore();
    restart
}

/// What the kernel knows of a TCP connection (the parts we use).
pub struct TcpInfo {
    /// TCP_ESTABLISHED, TCP_SYN_SENT, TCP_LISTEN, ... (netinet/tcp.h).
    pub state: u8,
    /// `tcpi_bytes_acked`: bytes of ours the peer has acknowledged.
    pub acked: u64,
    /// When the last ack came (monotonic ns, from `tcpi_last_ack_recv`).
    pub last_ack: u64,
    /// `tcpi_bytes_received`: bytes the peer has sent us.
    pub received: u64,
    /// When the last data came (from `tcpi_last_data_recv`).
    pub last_data: u64,
}

/// getsockopt(TCP_INFO), errno kept. `now` turns the kernel's "ms ago"
/// into times.
pub fn tcp_info(fd: c_int, now: u64) -> Option<TcpInfo> {
    // struct tcp_info (linux/tcp.h), kernel 4.19 or later: tcpi_state is
    // byte 0, tcpi_last_data_recv the u32 at byte 52, tcpi_last_ack_recv
    // at 56, tcpi_bytes_acked the u64 at 120, tcpi_bytes_received at 128.
    let mut info = [0u64; 17];
    let mut len = core::mem::size_of_val(&info) as libc::socklen_t;
    let saved = crate::sys::SavedErrno::save();
    // SAFETY: info/len describe a writable buffer of len bytes.
    let r = unsafe {
        real::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    saved.restore();
    if r != 0 || (len as usize) < 136 {
        return None;
    }
    let ago = |ms: u64| now.saturating_sub(ms * NS_PER_MS);
    Some(TcpInfo {
        state: (info[0] & 0xff) as u8,
        acked: info[15],
        last_ack: ago(info[7] & 0xffff_ffff),
        received: info[16],
        last_data: ago(info[6] >> 32),
    })
}

/// How far the peer has acknowledged our data, and when the last ack came.
/// A writer waits on the peer, not on its own send buffer: the kernel can
/// find a few hundred KB of room in that buffer long after the peer
/// stopped reading, and counting that as progress would let a stalled
/// write run for 2·T.
fn peer_acks(fd: c_int, now: u64) -> Option<(u64, u64)> {
    tcp_info(fd, now).map(|i| (i.acked, i.last_ack))
}
