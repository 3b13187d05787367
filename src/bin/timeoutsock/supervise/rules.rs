//! `--exclude` / `--only` (TIMEOUTSOCK_EXCLUDE / TIMEOUTSOCK_ONLY) for the
//! supervisor: the library's own syntax and matching rule
//! (src/peerlist.rs, shared as `crate::peerlist`), with std's socket
//! addresses on the supervisor's side.

use crate::peerlist;
use std::net::{IpAddr, SocketAddr};

pub(crate) use peerlist::Rule;

/// A peer as the library's rules see it: IPv6, or IPv4-mapped IPv6.
fn mapped(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// A whole list; `Err` names the bad entry and why.
pub(crate) fn parse_list(list: &str) -> Result<Vec<Rule>, String> {
    let mut out = [Rule::ANY; peerlist::MAX_RULES];
    match peerlist::parse_list(list.as_bytes(), &mut out) {
        Ok(n) => Ok(out[..n].to_vec()),
        Err((why, entry)) => Err(format!(
            "{} ({})",
            String::from_utf8_lossy(entry),
            why.reason()
        )),
    }
}

/// The library's rule: in ONLY (when ONLY is not empty) and not in EXCLUDE.
pub(crate) fn wanted(only: &[Rule], exclude: &[Rule], p: &SocketAddr) -> bool {
    let (a, port) = (mapped(p.ip()), p.port());
    (only.is_empty() || only.iter().any(|r| r.matches(&a, port)))
        && !exclude.iter().any(|r| r.matches(&a, port))
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
            "::1:5432",
            "1.2.3.4/33",
            "[::1]x",
            "1.2.3.4:0",
            "01.2.3.4",
        ] {
            assert!(parse_list(bad).is_err(), "{bad}");
        }
        assert!(parse_list("fe80::/10").is_ok());
    }
}
