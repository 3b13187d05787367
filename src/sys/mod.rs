//! The one layer that talks to the kernel on the library's own behalf:
//! errno and `cvt`, time (typed instants, durations, deadlines and their
//! rounded-up conversions), socket options and the abort, memory mappings
//! and the environment. Async-signal-safe throughout; every libc call that
//! we also interpose goes through `crate::real`.

pub mod env;
pub mod errno;
pub mod mem;
pub mod sockopt;
pub mod time;

pub use errno::{SavedErrno, cvt, errno, keeping_errno, set_errno};
pub use sockopt::Dir;
pub use time::{Deadline, Instant, Nanos};

// What the code assumes of its target, checked at build time:
// - fcntl's variadic third argument is taken as a pointer-sized integer
//   (ABI-compatible with the C varargs on 64-bit Linux: x86_64, aarch64);
// - fd_set is FD_SETSIZE bits in 64-bit words (see mux's select sets).
// Nothing depends on byte order (TCP_INFO is read by field name, addresses
// byte by byte).
#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
compile_error!("libtimeoutsock supports 64-bit Linux only (fcntl varargs, fd_set words)");
