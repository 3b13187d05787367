//! `--exclude` / `--only` (TIMEOUTSOCK_EXCLUDE / TIMEOUTSOCK_ONLY) for the
//! supervisor: the library's syntax (`ADDRESS[/PREFIX][:PORT]`, IPv6 in
//! brackets before a port, comma-separated) and matching rule (IPv4-mapped
//! IPv6 peers match IPv4 entries), parsed with std's address parsers.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Rule {
    addr: [u8; 16],
    prefix: u8,
    /// 0: any port.
    port: u16,
}

fn mapped(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

fn port(s: &str) -> Option<u16> {
    (!s.is_empty() && s.len() <= 5 && s.bytes().all(|c| c.is_ascii_digit()))
        .then(|| s.parse::<u16>().ok())
        .flatten()
        .filter(|&p| p != 0)
}

/// One entry, as the library reads it (src/peers.rs `parse_rule`).
pub(crate) fn parse_rule(s: &str) -> Option<Rule> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let close = rest.find(']')?;
        let p = match &rest[close + 1..] {
            "" => 0,
            r => port(r.strip_prefix(':')?)?,
        };
        (&rest[..close], p)
    } else if s.matches(':').count() == 1 {
        let (h, p) = s.split_once(':')?;
        (h, port(p)?)
    } else {
        (s, 0)
    };
    let (addr, len) = match host.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (host, None),
    };
    let (ip, max, offset) = if addr.contains(':') {
        (IpAddr::V6(addr.parse::<Ipv6Addr>().ok()?), 128, 0)
    } else {
        (IpAddr::V4(addr.parse().ok()?), 32, 96)
    };
    let prefix = match len {
        Some(l) if !l.is_empty() && l.len() <= 3 && l.bytes().all(|c| c.is_ascii_digit()) => {
            let v: u32 = l.parse().ok()?;
            (v <= max).then_some(v + offset)?
        }
        Some(_) => return None,
        None => 128,
    };
    Some(Rule {
        addr: mapped(ip),
        prefix: prefix as u8,
        port,
    })
}

impl Rule {
    fn matches(&self, p: &SocketAddr) -> bool {
        if self.port != 0 && self.port != p.port() {
            return false;
        }
        let a = mapped(p.ip());
        let full = (self.prefix / 8) as usize;
        if self.addr[..full] != a[..full] {
            return false;
        }
        let rest = self.prefix % 8;
        rest == 0 || {
            let mask = 0xffu8 << (8 - rest);
            self.addr[full] & mask == a[full] & mask
        }
    }
}

/// A whole list; `Err` names the bad entry.
pub(crate) fn parse_list(list: &str) -> Result<Vec<Rule>, String> {
    list.split(',')
        .filter(|e| !e.is_empty())
        .map(|e| parse_rule(e).ok_or_else(|| e.to_string()))
        .collect()
}

/// The library's rule: in ONLY (when ONLY is not empty) and not in EXCLUDE.
pub(crate) fn wanted(only: &[Rule], exclude: &[Rule], p: &SocketAddr) -> bool {
    (only.is_empty() || only.iter().any(|r| r.matches(p))) && !exclude.iter().any(|r| r.matches(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_match_like_the_library() {
        let only = parse_list("127.0.0.0/8,[::1]:6379").unwrap();
        let ex = parse_list("127.0.0.1:5432").unwrap();
        let w = |s: &str| wanted(&only, &ex, &s.parse().unwrap());
        assert!(w("127.0.0.2:80"));
        assert!(!w("127.0.0.1:5432"));
        assert!(
            w("[::ffff:127.0.0.3]:80"),
            "mapped peers match IPv4 entries"
        );
        assert!(w("[::1]:6379"));
        assert!(!w("[::1]:6380"));
        assert!(!w("10.1.2.3:80"));
        for bad in [
            "1.2.3",
            "::1:80x",
            "1.2.3.4/33",
            "[::1]x",
            "1.2.3.4:0",
            "01.2.3.4",
        ] {
            assert!(parse_rule(bad).is_none(), "{bad}");
        }
        assert!(parse_rule("fe80::/10").is_some());
    }
}
