//! The timeout log (`TIMEOUTSOCK_LOG=1`): one line on stderr per timeout,
//! naming the operation, the descriptor, the peer and T, e.g.
//! `timeoutsock: recv on fd 5 (127.0.0.1:8080) timed out after 20s`.
//! Formatted on the stack and written with one write(2) to fd 2 through the
//! real libc function: safe inside hooks and signal handlers.

use crate::fdtable;
use crate::fmt::Line;
use crate::peers::Peer;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use libc::c_int;

pub static LOG: AtomicBool = AtomicBool::new(false);

/// `20`, `2.5`, `0.25`: seconds with at most three decimals, no trailing 0.
pub fn push_secs(line: &mut Line, ns: u64) {
    let ms = ns.div_ceil(1_000_000);
    line.push_u64(ms / 1000);
    let mut frac = ms % 1000;
    if frac != 0 {
        line.push(b".");
        // Three digits (leading zeros kept), then trailing zeros dropped.
        let mut digits = 3;
        while frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        let mut div = 10u64.pow(digits - 1);
        while div > 0 {
            line.push_u64(frac / div % 10);
            div /= 10;
        }
    }
}

/// Logs one timeout of `op` on `fd` after `t` ns, if the log is on.
#[inline]
pub fn timeout(op: &str, fd: c_int, t: u64) {
    if LOG.load(Relaxed) {
        timeout_line(op, fd, t);
    }
}

#[cold]
#[inline(never)]
fn timeout_line(op: &str, fd: c_int, t: u64) {
    let mut line = Line::new();
    line.push(b"timeoutsock: ");
    line.push(op.as_bytes());
    line.push(b" on fd ");
    line.push_u64(fd.max(0) as u64);
    line.push(b" (");
    let listening = fdtable::hint(fd) == fdtable::LISTEN;
    let peer = if listening {
        None
    } else {
        Peer::of_socket(fd).or_else(|| fdtable::slot(fd).and_then(|s| s.dest()))
    };
    match peer {
        Some(p) => p.print(&mut line),
        None if listening => {
            line.push(b"listening");
            if let Some(p) = local(fd) {
                line.push(b" on ");
                p.print(&mut line);
            }
        }
        None => line.push(b"peer unknown"),
    }
    line.push(b") timed out after ");
    push_secs(&mut line, t);
    line.push(b"s");
    line.emit();
}

/// The local address of a socket (getsockname; errno kept).
fn local(fd: c_int) -> Option<Peer> {
    // SAFETY: sockaddr_storage is plain data, valid zeroed.
    let mut ss: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
    let mut len = core::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let saved = crate::sys::SavedErrno::save();
    // SAFETY: ss/len describe a writable buffer; not interposed by us.
    let r = unsafe { libc::getsockname(fd, (&raw mut ss).cast(), &mut len) };
    saved.restore();
    if r != 0 {
        return None;
    }
    // SAFETY: the kernel wrote len bytes.
    unsafe { Peer::from_sockaddr((&raw const ss).cast(), len as usize) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(ns: u64) -> String {
        let mut l = Line::new();
        push_secs(&mut l, ns);
        String::from_utf8(l.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn seconds_read_like_the_setting() {
        assert_eq!(secs(20_000_000_000), "20");
        assert_eq!(secs(2_500_000_000), "2.5");
        assert_eq!(secs(250_000_000), "0.25");
        assert_eq!(secs(50_000_000), "0.05");
        assert_eq!(secs(1_000_000), "0.001");
        assert_eq!(secs(1_234_000_000), "1.234");
    }
}
