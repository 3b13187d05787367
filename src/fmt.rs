//! Allocation-free lines: built in a fixed stack buffer (safe inside hooks
//! and signal handlers; a line that does not fit is cut, never overflows).
//! Imports nothing from the crate; `log` writes them to stderr.

const CAP: usize = 512;

pub struct Line {
    buf: [u8; CAP],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl Line {
    pub const fn new() -> Self {
        Line {
            buf: [0; CAP],
            len: 0,
        }
    }

    /// Appends bytes, keeping one byte for the final newline.
    pub fn push(&mut self, s: &[u8]) {
        for &b in s {
            if self.len >= CAP - 1 {
                return;
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
    }

    /// Appends a user-supplied value: printable ASCII as is, `"` and `\`
    /// escaped, anything else as `\xNN`; at most `max` characters of
    /// output, never half an escape; a value cut short ends in `...`.
    pub fn push_escaped(&mut self, s: &[u8], max: usize) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let start = self.len;
        for &b in s {
            let esc: &[u8] = match b {
                b'"' | b'\\' => &[b'\\', b],
                0x20..=0x7e => &[b],
                _ => &[b'\\', b'x', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]],
            };
            if self.len - start + esc.len() > max {
                self.push(b"...");
                return;
            }
            self.push(esc);
        }
    }

    /// Appends an unsigned decimal number.
    pub fn push_u64(&mut self, mut v: u64) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&tmp[i..]);
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The line with its final newline, ready for one write(2).
    pub fn finish(&mut self) -> &[u8] {
        self.buf[self.len] = b'\n';
        &self.buf[..self.len + 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_cuts() {
        let mut l = Line::new();
        l.push_escaped(b"a\"b\\c\n\xff", 64);
        assert_eq!(l.as_bytes(), b"a\\\"b\\\\c\\x0a\\xff");
        let mut l = Line::new();
        l.push_escaped(b"abcdef", 3);
        assert_eq!(l.as_bytes(), b"abc...");
        // Never half an escape: the budget counts output characters.
        let mut l = Line::new();
        l.push_escaped(&[0xff; 100], 10);
        assert_eq!(l.as_bytes(), b"\\xff\\xff...");
    }

    #[test]
    fn numbers_and_capacity() {
        let mut l = Line::new();
        l.push_u64(0);
        l.push(b" ");
        l.push_u64(18446744073709551615);
        assert_eq!(l.as_bytes(), b"0 18446744073709551615");
        let mut l = Line::new();
        l.push(&[b'x'; 1000]);
        assert_eq!(l.as_bytes().len(), CAP - 1);
    }
}
