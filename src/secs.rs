//! The number-of-seconds rule shared by the library's configuration and the
//! `timeoutsock` command (which includes this file with `#[path]`): plain
//! `core`, no dependency on the rest of the crate.

/// The largest accepted value: what fits a `poll()` timeout in milliseconds.
pub const MAX_MS: u64 = i32::MAX as u64;
const NS_PER_MS: u64 = 1_000_000;

/// Why a value was refused.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Bad {
    NotANumber,
    TooLarge,
    TooSmall,
}

impl Bad {
    pub fn reason(self) -> &'static str {
        match self {
            Bad::NotANumber => {
                "not a number of seconds (use digits and an optional decimal point, like 20 or 2.5)"
            }
            Bad::TooLarge => "too large (at most 2147483 seconds)",
            Bad::TooSmall => "too small (at least 0.001 seconds, or 0 for off)",
        }
    }
}

/// Parses a number of seconds (`20`, `2.5`, `.25`, `0`) into nanoseconds.
/// Only ASCII digits and one decimal point are accepted: no sign, spaces,
/// exponent, hex, `inf` or `nan`. Digits past the ninth decimal are
/// ignored. The empty string is 0 (off).
pub fn parse_secs(s: &[u8]) -> Result<u64, Bad> {
    if s.is_empty() {
        return Ok(0);
    }
    let mut whole: u64 = 0;
    let mut frac: u64 = 0; // nanoseconds
    let mut frac_scale: u64 = 100_000_000;
    let mut seen_point = false;
    let mut digits = 0usize;
    let mut frac_nonzero = false;
    for &c in s {
        match c {
            b'0'..=b'9' => {
                digits += 1;
                let d = (c - b'0') as u64;
                if seen_point {
                    if d != 0 {
                        frac_nonzero = true;
                    }
                    frac += d * frac_scale;
                    frac_scale /= 10;
                } else {
                    // Saturate: anything past the limit is refused below.
                    whole = whole.saturating_mul(10).saturating_add(d);
                    if whole > MAX_MS {
                        whole = MAX_MS;
                    }
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => return Err(Bad::NotANumber),
        }
    }
    if digits == 0 {
        return Err(Bad::NotANumber);
    }
    let ns = whole.saturating_mul(1_000_000_000).saturating_add(frac);
    if ns > MAX_MS * NS_PER_MS {
        return Err(Bad::TooLarge);
    }
    if ns == 0 {
        return if frac_nonzero {
            Err(Bad::TooSmall)
        } else {
            Ok(0)
        };
    }
    if ns < NS_PER_MS {
        return Err(Bad::TooSmall);
    }
    Ok(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn accepts_plain_and_decimal_seconds() {
        assert_eq!(parse_secs(b"20"), Ok(20 * S));
        assert_eq!(parse_secs(b"2.5"), Ok(2 * S + S / 2));
        assert_eq!(parse_secs(b"0.25"), Ok(S / 4));
        assert_eq!(parse_secs(b".5"), Ok(S / 2));
        assert_eq!(parse_secs(b"5."), Ok(5 * S));
        assert_eq!(parse_secs(b"007"), Ok(7 * S));
        assert_eq!(parse_secs(b"0.001"), Ok(1_000_000));
        assert_eq!(parse_secs(b"1.0000000001"), Ok(S));
        assert_eq!(parse_secs(b"2147483.647"), Ok(MAX_MS * NS_PER_MS));
    }

    #[test]
    fn zero_and_empty_mean_off() {
        assert_eq!(parse_secs(b""), Ok(0));
        assert_eq!(parse_secs(b"0"), Ok(0));
        assert_eq!(parse_secs(b"0.000"), Ok(0));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            &b"twenty"[..],
            b"-5",
            b"+5",
            b"nan",
            b"NaN",
            b"inf",
            b"1e999",
            b"1e3",
            b"0x10",
            b"3abc",
            b" 5",
            b"5 ",
            b"1.2.3",
            b".",
            b"5s",
            b"\xc3\xa9",
            b"1,5",
        ] {
            assert_eq!(parse_secs(bad), Err(Bad::NotANumber), "{:?}", bad);
        }
        assert_eq!(parse_secs(b"2147484"), Err(Bad::TooLarge));
        assert_eq!(parse_secs(b"2147483.648"), Err(Bad::TooLarge));
        assert_eq!(
            parse_secs(b"99999999999999999999999999"),
            Err(Bad::TooLarge)
        );
        assert_eq!(parse_secs(b"0.0009"), Err(Bad::TooSmall));
        assert_eq!(parse_secs(b"0.0000000001"), Err(Bad::TooSmall));
    }

    #[test]
    fn never_panics_on_long_or_odd_input() {
        let long = vec![b'9'; 65536];
        assert_eq!(parse_secs(&long), Err(Bad::TooLarge));
        let mut frac = b"1.".to_vec();
        frac.extend(vec![b'9'; 65536]);
        assert_eq!(parse_secs(&frac), Ok(S + 999_999_999));
        for b in 0..=255u8 {
            let _ = parse_secs(&[b]);
            let _ = parse_secs(&[b'1', b]);
        }
    }
}

/// A million generated inputs through the parser (`cargo test --lib fuzz`):
/// no panic, no wrap-around, and every accepted value equals a reference
/// computed independently in u128.
#[cfg(test)]
mod fuzz {
    use super::*;

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    /// What the value should be, if the grammar accepts it at all.
    fn reference(s: &[u8]) -> Option<Result<u64, Bad>> {
        let dots = s.iter().filter(|&&c| c == b'.').count();
        if s.is_empty() {
            return Some(Ok(0));
        }
        if dots > 1 || !s.iter().all(|&c| c == b'.' || c.is_ascii_digit()) || dots == s.len() {
            return None;
        }
        let (w, f) = match s.iter().position(|&c| c == b'.') {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => (s, &b""[..]),
        };
        let whole = w
            .iter()
            .fold(0u128, |a, &c| (a * 10 + (c - b'0') as u128).min(1 << 100));
        let mut frac = 0u128;
        for i in 0..9 {
            frac = frac * 10 + f.get(i).map_or(0, |&c| (c - b'0') as u128);
        }
        let ns = whole * 1_000_000_000 + frac;
        let nonzero = f.iter().any(|&c| c != b'0');
        Some(if ns > (MAX_MS * NS_PER_MS) as u128 {
            Err(Bad::TooLarge)
        } else if ns == 0 {
            if nonzero { Err(Bad::TooSmall) } else { Ok(0) }
        } else if ns < NS_PER_MS as u128 {
            Err(Bad::TooSmall)
        } else {
            Ok(ns as u64)
        })
    }

    #[test]
    fn a_million_inputs() {
        const ALPHABET: &[u8] = b"0123456789000999..-+eExX naNiIf\t\n,";
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut buf = Vec::with_capacity(64);
        let (mut accepted, mut refused) = (0u32, 0u32);
        for _ in 0..1_000_000 {
            buf.clear();
            let len = (rng.next() % 24) as usize;
            for _ in 0..len {
                let r = rng.next();
                buf.push(if r.is_multiple_of(8) {
                    (r >> 8) as u8 // any byte, non-ASCII included
                } else {
                    ALPHABET[(r >> 8) as usize % ALPHABET.len()]
                });
            }
            let got = parse_secs(&buf);
            match reference(&buf) {
                Some(want) => assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&buf)),
                None => assert_eq!(got, Err(Bad::NotANumber), "{:?}", buf),
            }
            if let Ok(ns) = got {
                assert!(ns == 0 || (NS_PER_MS..=MAX_MS * NS_PER_MS).contains(&ns));
                accepted += 1;
            } else {
                refused += 1;
            }
        }
        // The generator must exercise both sides.
        assert!(
            accepted > 10_000 && refused > 10_000,
            "{accepted} {refused}"
        );
    }
}
