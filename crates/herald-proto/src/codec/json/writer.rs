//! A minimal JSON writer over a `Vec<u8>`: object keys, escaped strings, integers and raw
//! payloads. It exists so the hot path (one publication encoded once per protocol) writes bytes
//! straight into one pre-sized buffer, with no intermediate `serde_json::Value`.

use crate::error::EncodeError;

/// Appends JSON tokens to a byte buffer. The caller keeps the structure well formed.
#[derive(Debug)]
pub struct JsonWriter {
    buf: Vec<u8>,
}

impl JsonWriter {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.buf
    }

    /// Appends a structural byte such as `{`, `}`, `[`, `]`, `,`.
    pub(crate) fn byte(&mut self, b: u8) {
        self.buf.push(b);
    }

    /// Writes `"name":`, preceded by a comma unless it is the first key of the object.
    pub(crate) fn key(&mut self, first: &mut bool, name: &str) {
        if !*first {
            self.buf.push(b',');
        }
        *first = false;
        self.string(name);
        self.buf.push(b':');
    }

    pub(crate) fn null(&mut self) {
        self.buf.extend_from_slice(b"null");
    }

    pub(crate) fn bool(&mut self, v: bool) {
        self.buf
            .extend_from_slice(if v { b"true".as_slice() } else { b"false" });
    }

    pub(crate) fn u64(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            // `v % 10` is below 10, so the cast cannot truncate.
            digits[start] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&digits[start..]);
    }

    pub(crate) fn i64(&mut self, v: i64) {
        if v < 0 {
            self.buf.push(b'-');
        }
        self.u64(v.unsigned_abs());
    }

    /// Writes `s` as a JSON string. Escapes `"`, `\` and control characters, plus U+2028 and
    /// U+2029 (valid JSON, but they break JavaScript evaluation; Go's encoder escapes them too).
    /// Other non-ASCII characters pass through as UTF-8.
    pub(crate) fn string(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let bytes = s.as_bytes();
        self.buf.reserve(bytes.len() + 2);
        self.buf.push(b'"');
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            let escape: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x00..=0x1f => {
                    self.buf.extend_from_slice(&bytes[start..i]);
                    self.buf.extend_from_slice(b"\\u00");
                    self.buf.push(HEX[usize::from(b >> 4)]);
                    self.buf.push(HEX[usize::from(b & 0xf)]);
                    i += 1;
                    start = i;
                    continue;
                }
                // U+2028 / U+2029 are E2 80 A8 / E2 80 A9 in UTF-8.
                0xe2 if bytes.get(i + 1) == Some(&0x80)
                    && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) =>
                {
                    if bytes[i + 2] == 0xa8 {
                        b"\\u2028"
                    } else {
                        b"\\u2029"
                    }
                }
                _ => {
                    i += 1;
                    continue;
                }
            };
            self.buf.extend_from_slice(&bytes[start..i]);
            self.buf.extend_from_slice(escape);
            i += if b == 0xe2 { 3 } else { 1 };
            start = i;
        }
        self.buf.extend_from_slice(&bytes[start..]);
        self.buf.push(b'"');
    }

    /// Writes a `bytes` field's raw JSON as is, minus every `\n` byte (the frame separator; in
    /// valid JSON a raw newline can only be insignificant whitespace). Fails when the bytes are
    /// not valid UTF-8 JSON, so binary payloads never reach a JSON connection.
    pub(crate) fn raw(&mut self, raw: &[u8], field: &'static str) -> Result<(), EncodeError> {
        if serde_json::from_slice::<&serde_json::value::RawValue>(raw).is_err() {
            return Err(EncodeError::NotJson { field });
        }
        if raw.contains(&b'\n') {
            for part in raw.split(|&b| b == b'\n') {
                self.buf.extend_from_slice(part);
            }
        } else {
            self.buf.extend_from_slice(raw);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut JsonWriter)) -> String {
        let mut w = JsonWriter::with_capacity(0);
        f(&mut w);
        String::from_utf8(w.into_vec()).expect("writer emits UTF-8")
    }

    #[test]
    fn integers() {
        assert_eq!(written(|w| w.u64(0)), "0");
        assert_eq!(written(|w| w.u64(u64::MAX)), "18446744073709551615");
        assert_eq!(written(|w| w.i64(i64::MIN)), "-9223372036854775808");
        assert_eq!(written(|w| w.i64(-7)), "-7");
    }

    #[test]
    fn string_escapes() {
        let s = "a\"b\\c\nd\re\tf\u{1}g\u{1f}h\u{7f}é😀\u{2028}\u{2029}</";
        let out = written(|w| w.string(s));
        assert_eq!(
            out,
            "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001fh\u{7f}é😀\\u2028\\u2029</\""
        );
        let back: String = serde_json::from_str(&out).expect("valid JSON string");
        assert_eq!(back, s);
    }

    #[test]
    fn raw_strips_newlines_and_rejects_non_json() {
        assert_eq!(
            written(|w| w.raw(b"{\n  \"a\": [1,\n2]\n}\n", "f").expect("valid")),
            "{  \"a\": [1,2]}"
        );
        let mut w = JsonWriter::with_capacity(0);
        assert!(matches!(
            w.raw(b"\x00\x01binary", "Publication.data"),
            Err(EncodeError::NotJson {
                field: "Publication.data"
            })
        ));
        assert!(w.raw(b"{\"a\":\"\xff\"}", "f").is_err(), "invalid UTF-8");
        assert!(w.raw(b"{} {}", "f").is_err(), "two values");
    }
}
