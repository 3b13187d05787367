//! Message text: quoting user-supplied bytes, errno strings.

use std::ffi::CStr;

/// `'text'`, with bytes that would garble a terminal line shown as `\xNN`.
pub(crate) fn quote(b: &[u8]) -> String {
    let mut s = String::from("'");
    for ch in String::from_utf8_lossy(b).chars() {
        if ch.is_control() {
            for byte in ch.to_string().bytes() {
                s.push_str(&format!("\\x{byte:02x}"));
            }
        } else {
            s.push(ch);
        }
    }
    s.push('\'');
    s
}

pub(crate) fn strerror(errno: i32) -> String {
    // SAFETY: strerror returns a valid NUL-terminated string; this program is
    // single-threaded, so its static buffer is not shared.
    unsafe { CStr::from_ptr(libc::strerror(errno)) }
        .to_string_lossy()
        .into_owned()
}
