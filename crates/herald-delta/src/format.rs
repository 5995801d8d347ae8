//! What the encoder and the decoder share: the base-64 integers and the checksum.

/// The digits of Fossil's base-64 integers, value 0 to 63.
const DIGITS: &[u8; 64] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~";

/// Appends `value` in base 64, most significant digit first.
pub(crate) fn put_int(out: &mut Vec<u8>, mut value: u32) {
    let mut digits = [0u8; 6];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = DIGITS[(value & 63) as usize];
        value >>= 6;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// How many base-64 digits [`put_int`] writes for `value`.
pub(crate) fn digit_count(value: usize) -> usize {
    let mut count = 1;
    let mut limit = 64usize;
    while value >= limit && count < 11 {
        count += 1;
        limit = limit.saturating_mul(64);
    }
    count
}

/// The value of a base-64 digit, `None` for any other byte.
pub(crate) fn digit_value(byte: u8) -> Option<u32> {
    let value = match byte {
        b'0'..=b'9' => byte - b'0',
        b'A'..=b'Z' => byte - b'A' + 10,
        b'_' => 36,
        b'a'..=b'z' => byte - b'a' + 37,
        b'~' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

/// Fossil's checksum of a delta's target: the sum of its bytes read as big-endian 32-bit
/// words, the last 1 to 3 bytes shifted into the high end of a final word, modulo 2^32.
pub fn checksum(data: &[u8]) -> u32 {
    let mut words = data.chunks_exact(4);
    let mut sum = 0u32;
    for word in &mut words {
        sum = sum.wrapping_add(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
    }
    let mut tail = [0u8; 4];
    let rest = words.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    sum.wrapping_add(u32::from_be_bytes(tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_base_64_most_significant_first() {
        let written = |v| {
            let mut out = Vec::new();
            put_int(&mut out, v);
            String::from_utf8(out).expect("ASCII")
        };
        assert_eq!(written(0), "0");
        assert_eq!(written(63), "~");
        assert_eq!(written(64), "10");
        assert_eq!(written(100), "1_");
        assert_eq!(written(u32::MAX), "3~~~~~");
        for v in [0, 1, 63, 64, 4095, 4096, 262_143, 262_144, u32::MAX] {
            assert_eq!(digit_count(v as usize), written(v).len(), "{v}");
        }
        for (i, &d) in DIGITS.iter().enumerate() {
            assert_eq!(digit_value(d), Some(i as u32));
        }
        assert_eq!(digit_value(b'@'), None);
    }

    #[test]
    fn checksum_matches_the_word_sum() {
        assert_eq!(checksum(b""), 0);
        assert_eq!(checksum(b"\x01"), 0x0100_0000);
        assert_eq!(checksum(b"\x01\x02\x03"), 0x0102_0300);
        assert_eq!(checksum(b"\x00\x00\x00\x01\x00\x00\x00\x02"), 3);
        assert_eq!(checksum(b"\xff\xff\xff\xff\x00\x00\x00\x02"), 1, "wraps");
    }
}
