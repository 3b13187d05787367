//! Which connections: `TIMEOUTSOCK_EXCLUDE` and `TIMEOUTSOCK_ONLY`.
//!
//! Each is a comma list of `HOST_OR_CIDR[:PORT]` (the syntax is in
//! `peerlist`, shared with the command): an IPv4 or IPv6 literal (no name
//! lookups at load time), optionally `/prefix`, optionally a port, IPv6 in
//! brackets when a port follows: `10.0.0.0/8`, `127.0.0.1:5432`,
//! `[::1]:6379`, `fe80::/10`; `::1:5432` is refused as ambiguous. Parsed once at load into
//! fixed tables (no allocation in hooks). A connection is matched by its
//! peer — the connect destination, the accepted client, or getpeername for
//! a descriptor we did not see being made. IPv4-mapped IPv6 peers match
//! IPv4 entries. An excluded connection, or one outside a non-empty ONLY
//! list, is classified "not ours" and never timed.

use crate::addr::Peer;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

pub use crate::peerlist::{MAX_RULES, Rule, parse_rule};

impl Rule {
    /// Does this rule cover peer `p`?
    #[inline]
    pub fn covers(&self, p: &Peer) -> bool {
        self.matches(&p.addr, p.port)
    }
}

/// A fixed table of rules, written once by the constructor. Its storage is
/// mapped only when a list is given, so that the library's static data
/// stays small (cheap to load into every process).
pub struct Rules {
    n: AtomicUsize,
    rules: AtomicPtr<Rule>,
}

impl Rules {
    pub const fn new() -> Rules {
        Rules {
            n: AtomicUsize::new(0),
            rules: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// How many entries the list holds.
    pub fn len(&self) -> usize {
        self.n.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.n.load(Ordering::Relaxed) == 0
    }

    pub fn matches(&self, p: &Peer) -> bool {
        let n = self.n.load(Ordering::Acquire);
        if n == 0 {
            return false;
        }
        // SAFETY: `n` > 0 was published (Release) after MAX_RULES entries
        // were mapped at `rules` and the first `n` written; never unmapped.
        let rules = unsafe { core::slice::from_raw_parts(self.rules.load(Ordering::Acquire), n) };
        rules.iter().any(|r| r.covers(p))
    }

    /// Parses a whole list; on any bad entry (or more than MAX_RULES),
    /// nothing is kept and the reason is returned. Called from the
    /// constructor (single-threaded), before any reader.
    pub fn load(&self, list: &[u8]) -> Result<(), &'static str> {
        let mut tmp = [Rule::ANY; MAX_RULES];
        let n = crate::peerlist::parse_list(list, &mut tmp).map_err(|(why, _)| why.reason())?;
        if n == 0 {
            self.n.store(0, Ordering::Release);
            return Ok(());
        }
        let Some(p) = crate::sys::mem::map_once(&self.rules, core::mem::size_of_val(&tmp)) else {
            return Err("no memory for the list");
        };
        // SAFETY: p holds MAX_RULES entries; no reader yet (constructor).
        unsafe { core::ptr::copy_nonoverlapping(tmp.as_ptr(), p, n) };
        self.n.store(n, Ordering::Release);
        Ok(())
    }
}

impl Default for Rules {
    fn default() -> Self {
        Self::new()
    }
}

pub static EXCLUDE: Rules = Rules::new();
pub static ONLY: Rules = Rules::new();

/// Any list in force? (then connect/accept/classification look at peers)
#[inline(always)]
pub fn filtering() -> bool {
    !EXCLUDE.is_empty() || !ONLY.is_empty()
}

/// Is a connection to `p` one the user wants timed?
pub fn wanted(p: &Peer) -> bool {
    (ONLY.is_empty() || ONLY.matches(p)) && !EXCLUDE.matches(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peerlist::parse_v6;

    fn text(p: &Peer) -> String {
        let mut l = crate::fmt::Line::new();
        p.print(&mut l);
        String::from_utf8(l.as_bytes().to_vec()).unwrap()
    }

    fn v6(s: &str, port: u16) -> Peer {
        Peer {
            addr: parse_v6(s.as_bytes()).unwrap(),
            port,
        }
    }

    #[test]
    fn parses_and_matches_v4() {
        let r = parse_rule(b"10.0.0.0/8").unwrap();
        assert!(r.covers(&Peer::v4([10, 1, 2, 3], 80)));
        assert!(!r.covers(&Peer::v4([11, 0, 0, 1], 80)));
        let r = parse_rule(b"127.0.0.1:5432").unwrap();
        assert!(r.covers(&Peer::v4([127, 0, 0, 1], 5432)));
        assert!(!r.covers(&Peer::v4([127, 0, 0, 1], 5433)));
        let r = parse_rule(b"0.0.0.0/0").unwrap();
        assert!(r.covers(&Peer::v4([1, 2, 3, 4], 1)));
        let r = parse_rule(b"192.168.1.128/25").unwrap();
        assert!(r.covers(&Peer::v4([192, 168, 1, 200], 1)));
        assert!(!r.covers(&Peer::v4([192, 168, 1, 100], 1)));
        // An IPv4 rule matches the IPv4-mapped IPv6 form.
        assert!(
            parse_rule(b"1.2.3.4")
                .unwrap()
                .covers(&v6("::ffff:1.2.3.4", 9))
        );
    }

    #[test]
    fn parses_and_matches_v6() {
        let r = parse_rule(b"[::1]:6379").unwrap();
        assert!(r.covers(&v6("::1", 6379)));
        assert!(!r.covers(&v6("::1", 6380)));
        assert!(!r.covers(&Peer::v4([127, 0, 0, 1], 6379)));
        let r = parse_rule(b"fe80::/10").unwrap();
        assert!(r.covers(&v6("fe80::1", 1)));
        assert!(r.covers(&v6("febf:ffff::1", 1)));
        assert!(!r.covers(&v6("fec0::1", 1)));
        let r = parse_rule(b"[2001:db8::/32]:443").unwrap();
        assert!(r.covers(&v6("2001:db8:1::5", 443)));
        assert!(parse_rule(b"1:2:3:4:5:6:7:8").is_ok());
        assert!(parse_rule(b"::").is_ok());
        assert!(parse_rule(b"::1").is_ok());
        assert!(parse_rule(b"::ffff:127.0.0.1").is_ok());
        assert!(parse_rule(b"::1:5432/128").is_ok());
        assert!(
            parse_rule(b"[::1:5432]")
                .unwrap()
                .covers(&v6("::1:5432", 7))
        );
    }

    #[test]
    fn refuses_malformed_entries() {
        for bad in [
            &b"localhost"[..],
            b"10.0.0",
            b"10.0.0.256",
            b"10.0.0.01",
            b"10.0.0.0/33",
            b"1.2.3.4:0",
            b"1.2.3.4:65536",
            b"1.2.3.4:",
            b"[::1",
            b"[::1]x",
            b"::1::2",
            b"1:2:3:4:5:6:7:8:9",
            b"12345::",
            b"fe80::/129",
            b"[::1]:",
            b" 1.2.3.4",
            b"",
        ] {
            assert!(
                parse_rule(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // An unbracketed IPv6 address whose last group could be a port.
        for amb in [&b"::1:5432"[..], b"2001:db8::1:80", b"1::2:3"] {
            assert!(
                matches!(parse_rule(amb), Err(crate::peerlist::Bad::Ambiguous { .. })),
                "{:?}",
                String::from_utf8_lossy(amb)
            );
        }
        let rules = Rules::new();
        assert!(rules.load(b"10.0.0.0/8,::1:5432").is_err());
        assert!(rules.is_empty());
        assert!(rules.load(b"10.0.0.0/8,bogus").is_err());
        assert!(rules.is_empty());
        assert!(rules.load(b"10.0.0.0/8,,[::1]:6379").is_ok());
        assert!(rules.matches(&v6("::1", 6379)));
    }

    /// A million generated lists through the parser: no panic, and what is
    /// accepted matches the address it was written from.
    #[test]
    fn a_million_lists() {
        const ALPHABET: &[u8] = b"0123456789abcdef:::...///[]],,fe80ffff";
        let mut x = 0x1234_5678_9abc_def1u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let rules = Rules::new();
        let mut accepted = 0;
        for _ in 0..1_000_000 {
            let len = (next() % 28) as usize;
            let s: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r.is_multiple_of(16) {
                        (r >> 8) as u8
                    } else {
                        ALPHABET[(r >> 8) as usize % ALPHABET.len()]
                    }
                })
                .collect();
            if let Ok(r) = parse_rule(&s) {
                accepted += 1;
                assert!(r.prefix <= 128);
                let p = Peer {
                    addr: r.addr,
                    port: r.port,
                };
                assert!(r.covers(&p), "{:?}", String::from_utf8_lossy(&s));
            }
            let _ = rules.load(&s);
        }
        assert!(accepted > 1000, "{accepted}");
    }

    #[test]
    fn formats_peers() {
        assert_eq!(text(&Peer::v4([127, 0, 0, 1], 8080)), "127.0.0.1:8080");
        assert_eq!(text(&v6("::1", 80)), "[::1]:80");
        assert_eq!(
            text(&v6("2001:db8:0:0:1:0:0:1", 1)),
            "[2001:db8::1:0:0:1]:1"
        );
        assert_eq!(text(&v6("fe80::", 2)), "[fe80::]:2");
        assert_eq!(text(&v6("1:2:3:4:5:6:7:8", 3)), "[1:2:3:4:5:6:7:8]:3");
        assert_eq!(text(&v6("1:0:3:4:5:6:7:8", 3)), "[1:0:3:4:5:6:7:8]:3");
    }
}
