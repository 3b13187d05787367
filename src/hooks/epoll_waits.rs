//! The epoll waits: epoll_wait, epoll_pwait and epoll_pwait2. Each passes
//! straight through (a tail call) when the library is off, when the wait is
//! a zero-timeout probe, or when the set has no member that may be a TCP
//! socket (epoll_pwait2 also when the kernel could not read its timespec:
//! its EFAULT); otherwise `mux::run_epoll` makes the real call with the
//! set's earliest deadline applied. The program's timeout and signal mask
//! are kept, as in `waits`. The events array is only ever written by the
//! kernel.
#![allow(clippy::missing_safety_doc)]

use super::waits::is_zero;
use crate::config::ENABLED;
use crate::fdtable::epoll;
use crate::mux;
use crate::real;
use crate::sys::mem::readable;
use crate::sys::time::poll_ms;
use crate::sys::{Deadline, Instant, Nanos};
use core::sync::atomic::Ordering::Relaxed;
use libc::{c_int, epoll_event, sigset_t, timespec};

/// The watched epoll wait over the TCP sockets registered in `epfd`.
fn epoll_watched(
    api: &'static str,
    epfd: c_int,
    now: Instant,
    deadline: Deadline,
    real_wait: &mut dyn FnMut(Option<Nanos>) -> c_int,
) -> c_int {
    mux::run_epoll(api, epfd, now, deadline, real_wait)
}

#[inline(always)]
fn epoll_passes(epfd: c_int, zero: bool) -> bool {
    !ENABLED.load(Relaxed) || zero || !epoll::has_members(epfd)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    timeout: c_int,
) -> c_int {
    if epoll_passes(epfd, timeout == 0) {
        // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
        return unsafe { real::epoll_wait(epfd, ev, max, timeout) };
    }
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    unsafe { epoll_pwait_timed(epfd, ev, max, timeout, core::ptr::null(), false) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    timeout: c_int,
    mask: *const sigset_t,
) -> c_int {
    if epoll_passes(epfd, timeout == 0) {
        // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
        return unsafe { real::epoll_pwait(epfd, ev, max, timeout, mask) };
    }
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    unsafe { epoll_pwait_timed(epfd, ev, max, timeout, mask, true) }
}

#[inline(never)]
unsafe fn epoll_pwait_timed(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    timeout: c_int,
    mask: *const sigset_t,
    pwait: bool,
) -> c_int {
    let now = Instant::now();
    let api = if pwait { "epoll_pwait" } else { "epoll_wait" };
    epoll_watched(api, epfd, now, Deadline::from_ms(now, timeout), &mut |ns| {
        // SAFETY: the caller's arguments, with our timeout.
        unsafe {
            if pwait {
                real::epoll_pwait(epfd, ev, max, poll_ms(ns), mask)
            } else {
                real::epoll_wait(epfd, ev, max, poll_ms(ns))
            }
        }
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_pwait2(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    ts: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    // libc passes the timespec to the kernel unread: a bad one is the
    // kernel's EFAULT, so it is read only once the kernel says it can.
    let ts_bad = || !ts.is_null() && !readable(&[(ts.cast(), core::mem::size_of::<timespec>())]);
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    if epoll_passes(epfd, false) || ts_bad() || unsafe { is_zero(ts) } {
        // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
        return unsafe { real::epoll_pwait2(epfd, ev, max, ts, mask) };
    }
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    unsafe { epoll_pwait2_timed(epfd, ev, max, ts, mask) }
}

#[inline(never)]
unsafe fn epoll_pwait2_timed(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    ts: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    let now = Instant::now();
    // SAFETY: the caller's arguments under the hook's contract (hooks/mod.rs), passed on.
    let deadline = unsafe { Deadline::from_timespec(now, ts) };
    epoll_watched("epoll_pwait2", epfd, now, deadline, &mut |ns| {
        let t = ns.map(Nanos::timespec);
        let tp = t
            .as_ref()
            .map_or(core::ptr::null(), |t| t as *const timespec);
        // SAFETY: the caller's arguments, with our timeout.
        unsafe { real::epoll_pwait2(epfd, ev, max, tp, mask) }
    })
}
