//! One direction's idle clock.

use crate::sys::{Instant, Nanos};
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};

/// Set in `idle_since` when the period is spent (a call failed with
/// ETIMEDOUT in it). Monotonic ns never reach bit 63, so a flagged value
/// is above any `now`: `begin_wait`'s carry-on test (`since <= now`)
/// refuses a spent period with no extra load.
const SPENT: u64 = 1 << 63;

/// One direction's idle clock. Stored as raw ns (0: no period / never).
pub struct Clock {
    /// Start of the current idle period, 0: none; `SPENT` set once a call
    /// timed out in it.
    idle_since: AtomicU64,
    /// When a call last waited on, or gave up on, this direction.
    last_wait: AtomicU64,
    /// The start of the last period a call failed with ETIMEDOUT in (0:
    /// none): spent for new calls (the `SPENT` flag), still running for the
    /// calls that were waiting in it (they all end at its deadline, not one
    /// T later each), even once a new call started a fresh period. Read on
    /// the slow path only (`refresh`).
    spent: AtomicU64,
    /// The poll/select memos (`super::memo`) whose array waits on this
    /// direction: told when the idle period ends or is spent, the only
    /// changes after which a wait must start the period again.
    memo: AtomicU8,
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
            spent: AtomicU64::new(0),
            memo: AtomicU8::new(0),
        }
    }

    pub(super) fn reset(&self) {
        self.idle_since.store(0, Relaxed);
        self.last_wait.store(0, Relaxed);
        self.spent.store(0, Relaxed);
        self.memo.store(0, Relaxed);
    }

    /// Memo `bit` waits on this direction (or no longer does).
    pub fn watch(&self, bit: u8, on: bool) {
        if on {
            self.memo.fetch_or(bit, Relaxed);
        } else if self.memo.load(Relaxed) & bit != 0 {
            self.memo.fetch_and(!bit, Relaxed);
        }
    }

    /// Tells the memos watching this clock that its period ended.
    #[cold]
    fn notify(&self) {
        let m = self.memo.load(Relaxed);
        if m != 0 {
            super::memo::notify(m, self as *const Clock as usize);
        }
    }

    /// The start of the current idle period as stored (0: none), without
    /// starting one.
    pub fn since_raw(&self) -> u64 {
        self.idle_since.load(Relaxed) & !SPENT
    }

    /// Bytes moved: the idle period (if any) is over. Costs one load when
    /// the socket was not idle, so the ready-data path stays cheap.
    #[inline(always)]
    pub fn progress(&self) {
        if self.idle_since.load(Relaxed) != 0 {
            self.idle_since.store(0, Relaxed);
            self.spent.store(0, Relaxed);
            self.notify();
        }
    }

    /// A call starts waiting at `now` with timeout `t`: returns the start of
    /// the idle period it belongs to. The period carries on from an earlier
    /// call (a retry after a partial count, EINTR or a timeout) as long as
    /// no byte moved since and that call waited within `t` of now;
    /// otherwise a new one starts now. (`last_wait` is refreshed only when
    /// it is more than t/16 old: an event loop that waits on a thousand
    /// sockets thousands of times a second does not rewrite them all.)
    /// A period a call timed out in is spent: the next call starts afresh
    /// (its flagged start is above `now`).
    pub fn begin_wait(&self, now: Instant, t: Nanos) -> Instant {
        let (now, t) = (now.0, t.0);
        let since = self.idle_since.load(Relaxed);
        let last = self.last_wait.load(Relaxed);
        if now.saturating_sub(last) > t / 16 {
            self.last_wait.store(now, Relaxed);
        }
        if since != 0 && since <= now && now.saturating_sub(last) <= t {
            Instant(since)
        } else {
            self.idle_since.store(now, Relaxed);
            Instant(now)
        }
    }

    /// While waiting, `since` is our idea of the idle start; the socket may
    /// know better (another thread moved bytes, or started a later period).
    /// A period another waiter timed out in stays ours: concurrent waiters
    /// all end at its deadline (a later call's fresh period is not ours).
    pub fn refresh(&self, since: Instant, now: Instant) -> Instant {
        if since.0 != 0 && self.spent.load(Relaxed) == since.0 {
            return since;
        }
        match self.idle_since.load(Relaxed) & !SPENT {
            0 => {
                self.idle_since.store(now.0, Relaxed);
                now
            }
            cur if cur > since.0 => Instant(cur),
            _ => since,
        }
    }

    /// The start of the current idle period, starting one now if none.
    pub fn current(&self, now: Instant) -> Instant {
        self.refresh(Instant::NEVER_HAPPENED, now)
    }

    /// Moves the start of the idle period to `at` if that is later (the
    /// peer made progress then); returns the start.
    /// A start moved later is a new period, no longer spent.
    pub fn advance(&self, at: Instant) -> Instant {
        let prev = self
            .idle_since
            .fetch_update(Relaxed, Relaxed, |v| (at.0 > v & !SPENT).then_some(at.0));
        let v = prev.unwrap_or_else(|v| v) & !SPENT;
        Instant(v.max(at.0))
    }

    /// A call stops waiting without having moved a byte (timeout, EINTR).
    pub fn end_wait(&self, now: Instant) {
        self.last_wait.store(now.0, Relaxed);
    }

    /// A call failed with ETIMEDOUT: the period is spent. The next call
    /// starts a fresh one, so a program that retries after the error waits
    /// T again instead of spinning on immediate failures; calls still
    /// waiting in the period keep it and end at its deadline too. (A call
    /// that returned a partial count keeps the period: its retry fails at
    /// once.)
    pub fn expire(&self) {
        let since = self.idle_since.load(Relaxed);
        if since & !SPENT == 0 {
            return;
        }
        self.spent.store(since & !SPENT, Relaxed);
        // A racing progress (0) or new start wins: that period is not spent.
        let _ = self
            .idle_since
            .compare_exchange(since, since | SPENT, Relaxed, Relaxed);
        self.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_clock_carries_over_retries_but_not_stale_periods() {
        let i = Instant;
        let s = Clock::new();
        let t = Nanos(1000);
        assert_eq!(s.begin_wait(i(10_000), t), i(10_000));
        s.end_wait(i(11_000));
        // Retry soon after giving up: same period.
        assert_eq!(s.begin_wait(i(11_100), t), i(10_000));
        s.end_wait(i(11_200));
        // A call that failed with ETIMEDOUT spends the period.
        s.expire();
        assert_eq!(s.begin_wait(i(11_300), t), i(11_300));
        s.end_wait(i(11_400));
        // Came back much later: a new period.
        assert_eq!(s.begin_wait(i(50_000), t), i(50_000));
        // Bytes moved: a new period.
        s.progress();
        assert_eq!(s.begin_wait(i(50_500), t), i(50_500));
        // Another thread moved bytes while we waited.
        s.progress();
        assert_eq!(s.refresh(i(50_500), i(50_900)), i(50_900));
        // Peer progress moves the start later, never earlier.
        assert_eq!(s.advance(i(51_000)), i(51_000));
        assert_eq!(s.advance(i(50_000)), i(51_000));
    }

    #[test]
    fn concurrent_waiters_share_a_spent_period() {
        let i = Instant;
        let s = Clock::new();
        let t = Nanos(1000);
        let a = s.begin_wait(i(10_000), t);
        let b = s.begin_wait(i(10_010), t);
        assert_eq!(a, b);
        // A times out and spends the period; A's retry starts a new one.
        s.expire();
        assert_eq!(s.begin_wait(i(11_000), t), i(11_000));
        // B, still waiting, keeps the spent period: it ends by its deadline.
        assert_eq!(s.refresh(b, i(11_005)), b);
        // The flag is not part of the start; a later start is not spent.
        s.expire();
        assert_eq!(s.since_raw(), 11_000);
        assert_eq!(s.advance(i(11_050)), i(11_050));
        assert_eq!(s.begin_wait(i(11_060), t), i(11_050));
        // Bytes moving end every period.
        s.progress();
        assert_eq!(s.refresh(i(11_000), i(11_100)), i(11_100));
        assert_eq!(s.current(i(11_200)), i(11_100));
    }
}
