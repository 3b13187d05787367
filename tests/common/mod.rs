//! Shared harness of the integration tests, one module per job:
//!
//! - `build`: the preload library (cargo), the C clients and C preloads
//!   (one gcc path), programs the tests need, one `nm` reader, the hook list;
//! - `run`: one child runner (environment scrubbed, own process group killed
//!   by id, time limit, output collected) and the outcome of a run;
//! - `assert`: result lines, errno and the timing window;
//! - `data`: the test pattern and checksum shared with the C clients,
//!   temporary files;
//! - `servers`: loopback servers that make TCP calls hang in known ways;
//! - `http`: HTTP servers for real clients (curl, wget).
//!
//! Every server listens on loopback only, every loop here is bounded, and
//! every child process is killed (its process group, by id) when its guard
//! drops. Everything is re-exported here: tests say `use common::*`.
#![allow(dead_code, unused_imports)]

pub mod assert;
pub mod build;
pub mod data;
pub mod http;
pub mod run;
pub mod servers;

pub use assert::*;
pub use build::*;
pub use data::*;
pub use http::*;
pub use run::*;
pub use servers::*;
