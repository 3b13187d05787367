//! The peer-list syntax shared by the library's `TIMEOUTSOCK_EXCLUDE`/
//! `TIMEOUTSOCK_ONLY` (`peers`) and the `timeoutsock` command's
//! `--exclude`/`--only` (which includes this file with `#[path]`, as it
//! does `secs.rs`): plain `core`, no dependency on the rest of the crate.
//!
//! A list is comma-separated `HOST_OR_CIDR[:PORT]` entries, empty entries
//! skipped, at most [`MAX_RULES`]: an IPv4 or IPv6 literal, optionally
//! `/prefix`, optionally a port, IPv6 in brackets when a port follows:
//! `10.0.0.0/8`, `127.0.0.1:5432`, `[::1]:6379`, `fe80::/10`. An IPv6
//! address without brackets whose last group could be a port (`::1:5432`:
//! `::1` port 5432, or the address `::1:5432`?) is refused as ambiguous.

pub const MAX_RULES: usize = 64;

/// One list entry. IPv4 is kept as IPv4-mapped IPv6 (prefix + 96).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub addr: [u8; 16],
    pub prefix: u8,
    /// 0: any port.
    pub port: u16,
}

impl Rule {
    pub const ANY: Rule = Rule {
        addr: [0; 16],
        prefix: 0,
        port: 0,
    };

    /// Does a peer at `addr` (IPv6 or IPv4-mapped), `port` match?
    pub fn matches(&self, addr: &[u8; 16], port: u16) -> bool {
        if self.port != 0 && self.port != port {
            return false;
        }
        let full = (self.prefix / 8) as usize;
        if self.addr[..full] != addr[..full] {
            return false;
        }
        let rest = self.prefix % 8;
        rest == 0 || {
            let mask = 0xffu8 << (8 - rest);
            self.addr[full] & mask == addr[full] & mask
        }
    }
}

/// Why an entry or a list was refused.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Bad {
    Syntax,
    /// Unbracketed IPv6 whose last group could be a port: the entry's
    /// `:` before that group is at this index.
    Ambiguous {
        colon: usize,
    },
    TooMany,
}

impl Bad {
    pub fn reason(self) -> &'static str {
        match self {
            Bad::Syntax => {
                "not a list of ADDRESS[/PREFIX][:PORT] (IPv6 as [ADDRESS]:PORT), e.g. 10.0.0.0/8,[::1]:6379"
            }
            Bad::Ambiguous { .. } => {
                "ambiguous IPv6 entry: write [ADDRESS]:PORT for a port, [ADDRESS] for the address"
            }
            Bad::TooMany => "too many entries (at most 64)",
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

pub fn parse_v4(s: &[u8]) -> Option<[u8; 4]> {
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

/// Parses `side` (one side of a `::`) as groups into `out` from `*n` on;
/// `last`: the side that may end in an embedded IPv4 address.
fn parse_groups(side: &[u8], out: &mut [u16; 8], n: &mut usize, last: bool) -> Option<()> {
    if side.is_empty() {
        return Some(());
    }
    let mut parts = side.split(|&c| c == b':').peekable();
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
}

pub fn parse_v6(s: &[u8]) -> Option<[u8; 16]> {
    // Split at "::" (at most once), parse both sides as groups.
    let (head, tail, compressed) = match s.windows(2).position(|w| w == b"::") {
        Some(i) => (&s[..i], &s[i + 2..], true),
        None => (s, &b""[..], false),
    };
    let mut groups = [0u16; 8];
    let mut n_head = 0;
    parse_groups(head, &mut groups, &mut n_head, !compressed)?;
    if compressed {
        if tail.windows(2).any(|w| w == b"::") {
            return None;
        }
        let mut tail_groups = [0u16; 8];
        let mut n_tail = 0;
        parse_groups(tail, &mut tail_groups, &mut n_tail, true)?;
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
pub fn parse_rule(s: &[u8]) -> Result<Rule, Bad> {
    let bracketed = s.first() == Some(&b'[');
    let (host, port) = if bracketed {
        let close = s.iter().position(|&c| c == b']').ok_or(Bad::Syntax)?;
        let port = match &s[close + 1..] {
            [] => 0,
            [b':', p @ ..] => parse_u(p, 65535).filter(|&p| p != 0).ok_or(Bad::Syntax)?,
            _ => return Err(Bad::Syntax),
        };
        (&s[1..close], port)
    } else if s.iter().filter(|&&c| c == b':').count() == 1 {
        let i = s.iter().position(|&c| c == b':').ok_or(Bad::Syntax)?;
        let port = parse_u(&s[i + 1..], 65535).filter(|&p| p != 0);
        (&s[..i], port.ok_or(Bad::Syntax)?)
    } else {
        (s, 0)
    };
    let (addr, len) = match host.iter().position(|&c| c == b'/') {
        Some(i) => (&host[..i], Some(&host[i + 1..])),
        None => (host, None),
    };
    let (bytes, max, offset) = if addr.contains(&b':') {
        (parse_v6(addr).ok_or(Bad::Syntax)?, 128, 0)
    } else {
        let [a, b, c, d] = parse_v4(addr).ok_or(Bad::Syntax)?;
        let v4 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d];
        (v4, 32, 96)
    };
    let prefix = match len {
        Some(l) => parse_u(l, max).ok_or(Bad::Syntax)? + offset,
        None => 128,
    };
    if !bracketed && len.is_none() && max == 128 {
        // `::1:5432`: `::1` and port 5432, or the address `::1:5432`?
        let colon = addr.iter().rposition(|&c| c == b':').unwrap_or(0);
        let last = &addr[colon + 1..];
        if !last.is_empty()
            && last.iter().all(u8::is_ascii_digit)
            && parse_v6(&addr[..colon]).is_some()
        {
            return Err(Bad::Ambiguous { colon });
        }
    }
    Ok(Rule {
        addr: bytes,
        prefix: prefix as u8,
        port: port as u16,
    })
}

/// Parses a whole list into `out` (room for [`MAX_RULES`]); returns how
/// many entries it holds, or why and which entry was refused.
pub fn parse_list<'a>(
    list: &'a [u8],
    out: &mut [Rule; MAX_RULES],
) -> Result<usize, (Bad, &'a [u8])> {
    let mut n = 0;
    for item in list.split(|&c| c == b',') {
        if item.is_empty() {
            continue;
        }
        if n == MAX_RULES {
            return Err((Bad::TooMany, item));
        }
        out[n] = parse_rule(item).map_err(|why| (why, item))?;
        n += 1;
    }
    Ok(n)
}
