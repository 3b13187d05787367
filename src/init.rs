//! Load time: reads `TIMEOUTSOCK_*` once (from the constructor, in one
//! pass over the environment) and publishes it into `config`, `peers` and
//! `log`. A bad value prints one line on stderr and counts as unset.

use crate::config::{ACCEPT_NS, CONNECT_NS, ENABLED, READ_NS, WRITE_NS};
use crate::log::{self, Settings, warn_ignored};
use crate::peers::{EXCLUDE, ONLY, Rules};
use crate::secs::parse_secs;
use crate::sys::env::{self, NAMES, Vars};
use core::sync::atomic::Ordering::Relaxed;

/// Indexes into [`NAMES`].
const SECS: usize = 0;
const CONNECT: usize = 1;
const READ: usize = 2;
const WRITE: usize = 3;
const ACCEPT: usize = 4;
const EXCLUDE_LIST: usize = 5;
const ONLY_LIST: usize = 6;
const LOG: usize = 7;

/// One load's reading of the variables: what was found, and whether any
/// value was refused (warned about).
struct Reader {
    vars: Vars,
    refused: bool,
}

impl Reader {
    fn refuse(&mut self, i: usize, value: &[u8], why: &str) {
        warn_ignored(NAMES[i].as_bytes(), value, why);
        self.refused = true;
    }

    /// A number of seconds: `None` when unset or refused (after the warning).
    fn secs(&mut self, i: usize) -> Option<u64> {
        let value = self.vars[i]?;
        match parse_secs(value) {
            Ok(ns) => Some(ns),
            Err(why) => {
                self.refuse(i, value, why.reason());
                None
            }
        }
    }

    /// A peer list into `rules`; a malformed list is ignored as a whole,
    /// with the warning.
    fn list(&mut self, i: usize, rules: &Rules) {
        if let Some(value) = self.vars[i]
            && let Err(why) = rules.load(value)
        {
            self.refuse(i, value, why);
        }
    }

    /// `TIMEOUTSOCK_LOG`: unset, empty or 0 is 0; 1 and 2 are levels;
    /// anything else is refused with the warning (and 0).
    fn level(&mut self, i: usize) -> u8 {
        match self.vars[i] {
            None | Some(b"" | b"0") => 0,
            Some(b"1") => 1,
            Some(b"2") => 2,
            Some(value) => {
                self.refuse(i, value, "not 0, 1 or 2");
                0
            }
        }
    }
}

/// Reads the environment and publishes the settings; `argv0` names the
/// program in log lines.
///
/// # Safety
/// Only from the constructor (see `env::read`).
#[cfg_attr(not(test), unsafe(link_section = ".text.startup"))]
pub unsafe fn load(argv0: &[u8], envp: *const *const core::ffi::c_char) {
    log::set_program(argv0);
    let mut r = Reader {
        // SAFETY: the constructor's contract, passed on.
        vars: unsafe { env::read(envp) },
        refused: false,
    };
    let default = r.secs(SECS).unwrap_or(0);
    let connect = r.secs(CONNECT).unwrap_or(default);
    let read = r.secs(READ).unwrap_or(default);
    let write = r.secs(WRITE).unwrap_or(default);
    let accept = r.secs(ACCEPT).unwrap_or(0);
    let on = connect != 0 || read != 0 || write != 0 || accept != 0;
    r.list(EXCLUDE_LIST, &EXCLUDE);
    r.list(ONLY_LIST, &ONLY);
    let level = r.level(LOG);
    log::LOG.store(level >= 1, Relaxed);
    CONNECT_NS.store(connect, Relaxed);
    READ_NS.store(read, Relaxed);
    WRITE_NS.store(write, Relaxed);
    ACCEPT_NS.store(accept, Relaxed);
    ENABLED.store(on, core::sync::atomic::Ordering::Release);
    if level >= 2 {
        log::loaded(&Settings {
            connect,
            read,
            write,
            accept,
            exclude: EXCLUDE.len(),
            only: ONLY.len(),
            refused: r.refused,
        });
    }
}
