//! stderr: the only place the library writes to it. Every line starts
//! with `timeoutsock: PROGRAM[PID]: ` (the program's name as it was
//! started, read once at load; the pid at the time of the line). The
//! levels of `TIMEOUTSOCK_LOG`:
//! - unset, empty, `0`: only the warning for a refused setting;
//! - `1`: also one line per timeout, naming the operation, the descriptor,
//!   the peer and T, e.g.
//!   `timeoutsock: curl[1234]: recv on fd 5 (127.0.0.1:8080) timed out after 20s`;
//! - `2`: also one line per process at load: the settings in force, or why
//!   the library is off.
//!
//! Formatted on the stack and written with one write(2) to fd 2 through
//! the real libc function: safe inside hooks and signal handlers.

use crate::addr::{local_of, peer_of};
use crate::fdtable::{self, LISTEN};
use crate::fmt::Line;
use crate::sys::{Nanos, keeping_errno};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};
use libc::c_int;

/// `TIMEOUTSOCK_LOG` 1 or 2: whether timeouts are logged.
pub static LOG: AtomicBool = AtomicBool::new(false);

/// The program's name for the lines: the last part of `argv[0]`, cut to
/// `NAME_CAP` bytes, copied once at load (a program may rewrite its argv
/// later, as setproctitle does).
const NAME_CAP: usize = 32;
static NAME: [AtomicU8; NAME_CAP] = [const { AtomicU8::new(0) }; NAME_CAP];

/// Notes the program's name (from the constructor).
pub fn set_program(argv0: &[u8]) {
    let base = match argv0.iter().rposition(|&c| c == b'/') {
        Some(i) => &argv0[i + 1..],
        None => argv0,
    };
    for (slot, &b) in NAME.iter().zip(base) {
        slot.store(b, Relaxed);
    }
    if let Some(end) = NAME.get(base.len()) {
        end.store(0, Relaxed);
    }
}

/// A line that starts `timeoutsock: PROGRAM[PID]: `.
pub fn line() -> Line {
    let mut line = Line::new();
    line.push(b"timeoutsock: ");
    let mut name = [0u8; NAME_CAP];
    let mut n = 0;
    while n < NAME_CAP {
        let b = NAME[n].load(Relaxed);
        if b == 0 {
            break;
        }
        name[n] = b;
        n += 1;
    }
    line.push_escaped(&name[..n], NAME_CAP);
    line.push(b"[");
    // SAFETY: getpid has no preconditions (a system call, not cached:
    // right in fork children).
    line.push_u64(unsafe { crate::real::getpid() }.max(0) as u64);
    line.push(b"]: ");
    line
}

/// Adds the newline and writes the line to fd 2 with one `write`.
/// errno is left as it was; a failed write (fd 2 closed) is ignored.
/// Nothing is written when fd 2 is a network socket: a program that closed
/// its stderr may have a connection at that number (even one the lists
/// exclude, which the table calls "not ours"), and our line would land in
/// the peer's protocol stream.
pub fn emit(mut line: Line) {
    let bytes = line.finish();
    keeping_errno(|| {
        if stderr_is_network_socket() {
            return 0;
        }
        // SAFETY: bytes is initialised memory owned by line.
        unsafe { crate::real::write(2, bytes.as_ptr().cast(), bytes.len()) }
    });
}

/// Asks the kernel, not the table (which may call an excluded connection
/// "not ours", and is not even mapped while the library is off): one
/// getsockname(2), only when a line is to be written. A file, pipe or tty
/// fails with ENOTSOCK; a Unix socket (journald's stream, a supervisor's
/// socketpair) gets the line; any other socket (TCP, UDP, MPTCP, ...)
/// does not.
fn stderr_is_network_socket() -> bool {
    let mut addr = core::mem::MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut len = core::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: addr is a writable sockaddr_storage of `len` bytes; fd 2 is
    // only asked about, never changed (getsockname is not interposed).
    let r = unsafe { crate::real::getsockname(2, addr.as_mut_ptr().cast(), &mut len) };
    if r != 0 {
        // ENOTSOCK: a file, pipe or tty; EBADF: the write fails anyway.
        return false;
    }
    // SAFETY: zero-initialised, and the kernel wrote at most `len` bytes.
    let family = unsafe { addr.assume_init_ref() }.ss_family;
    family as c_int != libc::AF_UNIX
}

/// `20`, `2.5`, `0.25`: seconds with at most three decimals, no trailing 0.
pub fn push_secs(line: &mut Line, t: Nanos) {
    let ms = t.ms_ceil_u64();
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

/// Logs one timeout of `op` on `fd` after `t`, if the log is on.
#[inline]
pub fn timeout(op: &str, fd: c_int, t: Nanos) {
    if LOG.load(Relaxed) {
        timeout_line(op, fd, t);
    }
}

#[cold]
#[inline(never)]
fn timeout_line(op: &str, fd: c_int, t: Nanos) {
    let mut line = line();
    line.push(op.as_bytes());
    line.push(b" on fd ");
    line.push_u64(fd.max(0) as u64);
    line.push(b" (");
    let listening = fdtable::hint(fd) == LISTEN;
    let peer = if listening {
        None
    } else {
        peer_of(fd).or_else(|| fdtable::slot(fd).and_then(|s| s.dest()))
    };
    match peer {
        Some(p) => p.print(&mut line),
        None if listening => {
            line.push(b"listening");
            if let Some(p) = local_of(fd) {
                line.push(b" on ");
                p.print(&mut line);
            }
        }
        None => line.push(b"peer unknown"),
    }
    line.push(b") timed out after ");
    push_secs(&mut line, t);
    line.push(b"s");
    emit(line);
}

/// `timeoutsock: PROGRAM[PID]: ignoring TIMEOUTSOCK_NAME="value": why`,
/// one write(2) to fd 2; `name` without the prefix.
pub fn warn_ignored(name: &[u8], value: &[u8], why: &str) {
    let mut line = line();
    line.push(b"ignoring TIMEOUTSOCK_");
    line.push(name);
    line.push(b"=\"");
    line.push_escaped(value, 64);
    line.push(b"\": ");
    line.push(why.as_bytes());
    emit(line);
}

/// The settings in force, for the load line (`TIMEOUTSOCK_LOG=2`).
pub struct Settings {
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    pub accept: u64,
    pub exclude: usize,
    pub only: usize,
    /// A value was refused (its warning is above).
    pub refused: bool,
}

/// The load line: `on: connect 20s, read 20s, write 20s, accept off`
/// (then `, exclude N entries`, `, only N entries` when given), or
/// `off: no timeout set` (with ` (refused values count as unset)` after a
/// warning).
pub fn loaded(s: &Settings) {
    let mut line = line();
    if s.connect | s.read | s.write | s.accept == 0 {
        line.push(b"off: no timeout set");
        if s.refused {
            line.push(b" (refused values count as unset)");
        }
    } else {
        line.push(b"on");
        let ops = [
            (&b"connect"[..], s.connect),
            (b"read", s.read),
            (b"write", s.write),
            (b"accept", s.accept),
        ];
        for (i, (op, ns)) in ops.into_iter().enumerate() {
            line.push(if i == 0 { b": " } else { b", " });
            line.push(op);
            if ns == 0 {
                line.push(b" off");
            } else {
                line.push(b" ");
                push_secs(&mut line, Nanos(ns));
                line.push(b"s");
            }
        }
        for (list, n) in [(&b"exclude"[..], s.exclude), (b"only", s.only)] {
            if n != 0 {
                line.push(b", ");
                line.push(list);
                line.push(b" ");
                line.push_u64(n as u64);
                line.push(if n == 1 { b" entry" } else { b" entries" });
            }
        }
    }
    emit(line);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(ns: u64) -> String {
        let mut l = Line::new();
        push_secs(&mut l, Nanos(ns));
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
