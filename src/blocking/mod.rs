//! The engine: timed transfers, connect and accept on blocking TCP sockets.
//!
//! - [`transfer`]: reads and writes (one non-blocking attempt, then the wait);
//! - [`iov`]: iovec windows and msghdr attempts for the vectored calls;
//! - [`connect`]: a blocking connect on lent flags;
//! - [`accept`]: a blocking accept's wait.

pub mod accept;
pub mod connect;
pub mod iov;
pub mod transfer;

pub use accept::accept_wait;
pub use connect::{connect, give_back};
pub use iov::{WINDOW, iov_slice, iov_total, iov_window, msg_attempt};
pub use transfer::{Want, transfer};
