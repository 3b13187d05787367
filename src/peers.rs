//! Which connections: `TIMEOUTSOCK_EXCLUDE` and `TIMEOUTSOCK_ONLY`.
//!
//! Each is a comma list of `HOST_OR_CIDR[:PORT]`: an IPv4 or IPv6 address
//! (literal: no name lookups at load time), optionally `/prefix`, optionally
//! a port, IPv6 in brackets when a port follows: `10.0.0.0/8`,
//! `127.0.0.1:5432`, `[::1]:6379`, `fe80::/10`. Parsed once at load into
//! fixed tables (no allocation in hooks). A connection is matched by its
//! peer — the connect destination, the accepted client, or getpeername for
//! a descriptor we did not see being made. IPv4-mapped IPv6 peers match
//! IPv4 entries. An excluded connection, or one outside a non-empty ONLY
//! list, is classified "not ours" and never timed.

use crate::addr::Peer;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

pub const MAX_RULES: usize = 64;

/// One list entry. IPv4 is kept as IPv4-mapped IPv6 (prefix + 96).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    addr: [u8; 16],
    prefix: u8,
    /// 0: any port.
    port: u16,
}

impl Rule {
    pub fn matches(&self, p: &Peer) -> bool {
        if self.port != 0 && self.port != p.port {
            return false;
        }
        let full = (self.prefix / 8) as usize;
        if self.addr[..full] != p.addr[..full] {
            return false;
        }
        let rest = self.prefix % 8;
        rest == 0 || {
            let mask = 0xffu8 << (8 - rest);
            self.addr[full] & mask == p.addr[full] & mask
        }
    }
}

fn parse_u(s: &[u8], max: u32) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = s.iter().fold(0u64, |a, &c| a * 10 + (c - b'0') as u64);
    (v <= max as u64).then_some(v as u32)
}

fn parse_v4(s: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = s.split(|&c| c == b'.');
    for o in out.iter_mut() {
        let p = parts.next()?;
        if p.len() > 3 || (p.len() > 1 && p[0] == b'0') {
            return None;
        }
        *o = parse_u(p, 255)? as u8;
    }
    parts.next().is_none().then_some(out)
}

fn parse_v6(s: &[u8]) -> Option<[u8; 16]> {
    // Split at "::" (at most once), parse both sides as groups.
    let (head, tail, compressed) = match s.windows(2).position(|w| w == b"::") {
        Some(i) => (&s[..i], &s[i + 2..], true),
        None => (s, &b""[..], false),
    };
    let mut groups = [0u16; 8];
    let mut n_head = 0;
    let mut tail_groups = [0u16; 8];
    let mut n_tail = 0;
    let parse_side = |side: &[u8], out: &mut [u16; 8], n: &mut usize, last: bool| -> Option<()> {
        if side.is_empty() {
            return Some(());
        }
        let parts: &mut dyn Iterator<Item = &[u8]> = &mut side.split(|&c| c == b':');
        let mut parts = parts.peekable();
        while let Some(p) = parts.next() {
            if last && parts.peek().is_none() && p.contains(&b'.') {
                let v4 = parse_v4(p)?;
                if *n + 2 > 8 {
                    return None;
                }
                out[*n] = (v4[0] as u16) << 8 | v4[1] as u16;
                out[*n + 1] = (v4[2] as u16) << 8 | v4[3] as u16;
                *n += 2;
                continue;
            }
            if p.is_empty() || p.len() > 4 || *n >= 8 {
                return None;
            }
            let mut v = 0u16;
            for &c in p {
                v = v << 4 | (c as char).to_digit(16)? as u16;
            }
            out[*n] = v;
            *n += 1;
        }
        Some(())
    };
    parse_side(head, &mut groups, &mut n_head, !compressed)?;
    if compressed {
        if tail.windows(2).any(|w| w == b"::") {
            return None;
        }
        parse_side(tail, &mut tail_groups, &mut n_tail, true)?;
        if n_head + n_tail > 7 {
            return None;
        }
        groups[8 - n_tail..].copy_from_slice(&tail_groups[..n_tail]);
    } else if n_head != 8 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, g) in groups.iter().enumerate() {
        out[2 * i..2 * i + 2].copy_from_slice(&g.to_be_bytes());
    }
    Some(out)
}

/// One entry: `ADDR[/LEN][:PORT]`, `[V6[/LEN]][:PORT]` or `V6[/LEN]`.
pub fn parse_rule(s: &[u8]) -> Option<Rule> {
    let (host, port) = if s.first() == Some(&b'[') {
        let close = s.iter().position(|&c| c == b']')?;
        let port = match &s[close + 1..] {
            [] => 0,
            [b':', p @ ..] => parse_u(p, 65535).filter(|&p| p != 0)?,
            _ => return None,
        };
        (&s[1..close], port)
    } else if s.iter().filter(|&&c| c == b':').count() == 1 {
        let i = s.iter().position(|&c| c == b':')?;
        (&s[..i], parse_u(&s[i + 1..], 65535).filter(|&p| p != 0)?)
    } else {
        (s, 0)
    };
    let (addr, len) = match host.iter().position(|&c| c == b'/') {
        Some(i) => (&host[..i], Some(&host[i + 1..])),
        None => (host, None),
    };
    let (addr, max, offset) = if addr.contains(&b':') {
        (parse_v6(addr)?, 128, 0)
    } else {
        (Peer::v4(parse_v4(addr)?, 0).addr, 32, 96)
    };
    let prefix = match len {
        Some(l) => parse_u(l, max)? + offset,
        None => 128,
    };
    Some(Rule {
        addr,
        prefix: prefix as u8,
        port: port as u16,
    })
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
        rules.iter().any(|r| r.matches(p))
    }

    /// Parses a whole list; on any bad entry (or more than MAX_RULES),
    /// nothing is kept and the reason is returned. Called from the
    /// constructor (single-threaded), before any reader.
    pub fn load(&self, list: &[u8]) -> Result<(), &'static str> {
        let mut tmp = [Rule {
            addr: [0; 16],
            prefix: 0,
            port: 0,
        }; MAX_RULES];
        let mut n = 0;
        for item in list.split(|&c| c == b',') {
            if item.is_empty() {
                continue;
            }
            if n == MAX_RULES {
                return Err("too many entries (at most 64)");
            }
            tmp[n] = parse_rule(item).ok_or(
                "not a list of ADDRESS[/PREFIX][:PORT] (IPv6 as [ADDRESS]:PORT), e.g. 10.0.0.0/8,[::1]:6379",
            )?;
            n += 1;
        }
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
        assert!(r.matches(&Peer::v4([10, 1, 2, 3], 80)));
        assert!(!r.matches(&Peer::v4([11, 0, 0, 1], 80)));
        let r = parse_rule(b"127.0.0.1:5432").unwrap();
        assert!(r.matches(&Peer::v4([127, 0, 0, 1], 5432)));
        assert!(!r.matches(&Peer::v4([127, 0, 0, 1], 5433)));
        let r = parse_rule(b"0.0.0.0/0").unwrap();
        assert!(r.matches(&Peer::v4([1, 2, 3, 4], 1)));
        let r = parse_rule(b"192.168.1.128/25").unwrap();
        assert!(r.matches(&Peer::v4([192, 168, 1, 200], 1)));
        assert!(!r.matches(&Peer::v4([192, 168, 1, 100], 1)));
        // An IPv4 rule matches the IPv4-mapped IPv6 form.
        assert!(
            parse_rule(b"1.2.3.4")
                .unwrap()
                .matches(&v6("::ffff:1.2.3.4", 9))
        );
    }

    #[test]
    fn parses_and_matches_v6() {
        let r = parse_rule(b"[::1]:6379").unwrap();
        assert!(r.matches(&v6("::1", 6379)));
        assert!(!r.matches(&v6("::1", 6380)));
        assert!(!r.matches(&Peer::v4([127, 0, 0, 1], 6379)));
        let r = parse_rule(b"fe80::/10").unwrap();
        assert!(r.matches(&v6("fe80::1", 1)));
        assert!(r.matches(&v6("febf:ffff::1", 1)));
        assert!(!r.matches(&v6("fec0::1", 1)));
        let r = parse_rule(b"[2001:db8::/32]:443").unwrap();
        assert!(r.matches(&v6("2001:db8:1::5", 443)));
        assert!(parse_rule(b"1:2:3:4:5:6:7:8").is_some());
        assert!(parse_rule(b"::").is_some());
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
            assert_eq!(parse_rule(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        let rules = Rules::new();
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
            if let Some(r) = parse_rule(&s) {
                accepted += 1;
                assert!(r.prefix <= 128);
                let p = Peer {
                    addr: r.addr,
                    port: r.port,
                };
                assert!(r.matches(&p), "{:?}", String::from_utf8_lossy(&s));
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
