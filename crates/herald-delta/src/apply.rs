//! Applying a delta: the decoder centrifuge-js runs, with every check it makes. Herald itself
//! only encodes; this side exists so tests and the fuzzer can check the encoder.

use std::fmt;

use crate::format::{checksum, digit_value};

/// Why a delta could not be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyError {
    /// The target length is not followed by `\n`.
    BadHeader,
    /// A command is not `@` (copy), `:` (insert) or `;` (end).
    UnknownCommand,
    /// A copy's offset is not followed by `,`.
    UnterminatedCopy,
    /// A copy reaches past the end of the source.
    CopyOutOfSource,
    /// An insert needs more bytes than the delta has left.
    InsertOutOfDelta,
    /// The commands write more than the target length.
    TooLong,
    /// The end came before the target length was reached.
    TooShort,
    /// The target's checksum is not the one the delta carries.
    BadChecksum,
    /// The delta ends without `;`.
    Unterminated,
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadHeader => "size integer not terminated by '\\n'",
            Self::UnknownCommand => "unknown delta operator",
            Self::UnterminatedCopy => "copy command not terminated by ','",
            Self::CopyOutOfSource => "copy extends past end of input",
            Self::InsertOutOfDelta => "insert count exceeds size of delta",
            Self::TooLong => "output larger than the target size",
            Self::TooShort => "generated size does not match predicted size",
            Self::BadChecksum => "bad checksum",
            Self::Unterminated => "unterminated delta",
        })
    }
}

impl std::error::Error for ApplyError {}

/// Rebuilds the target from `source` and `delta`.
pub fn apply(source: &[u8], delta: &[u8]) -> Result<Vec<u8>, ApplyError> {
    let mut reader = Reader { delta, pos: 0 };
    let limit = reader.int() as usize;
    if reader.byte() != Some(b'\n') {
        return Err(ApplyError::BadHeader);
    }
    // The target length comes from the peer: cap the allocation by what the delta can produce.
    let mut out = Vec::with_capacity(limit.min(source.len() + delta.len()));
    while reader.pos < delta.len() {
        let count = reader.int() as usize;
        match reader.byte() {
            Some(b'@') => {
                let offset = reader.int() as usize;
                if reader.pos < delta.len() && reader.byte() != Some(b',') {
                    return Err(ApplyError::UnterminatedCopy);
                }
                if out.len().saturating_add(count) > limit {
                    return Err(ApplyError::TooLong);
                }
                let copied = offset
                    .checked_add(count)
                    .and_then(|end| source.get(offset..end))
                    .ok_or(ApplyError::CopyOutOfSource)?;
                out.extend_from_slice(copied);
            }
            Some(b':') => {
                if out.len().saturating_add(count) > limit {
                    return Err(ApplyError::TooLong);
                }
                let inserted = reader
                    .delta
                    .get(reader.pos..reader.pos.saturating_add(count))
                    .ok_or(ApplyError::InsertOutOfDelta)?;
                out.extend_from_slice(inserted);
                reader.pos += count;
            }
            Some(b';') => {
                if count as u32 != checksum(&out) {
                    return Err(ApplyError::BadChecksum);
                }
                if out.len() != limit {
                    return Err(ApplyError::TooShort);
                }
                return Ok(out);
            }
            _ => return Err(ApplyError::UnknownCommand),
        }
    }
    Err(ApplyError::Unterminated)
}

struct Reader<'a> {
    delta: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let byte = self.delta.get(self.pos).copied();
        self.pos += usize::from(byte.is_some());
        byte
    }

    /// A base-64 integer; no digits read as 0, as in `fossil.ts`. Wraps like its `v << 6`
    /// would not: Fossil's integers are 32-bit, so overflow is truncated the same way.
    fn int(&mut self) -> u32 {
        let mut value = 0u32;
        while let Some(digit) = self.delta.get(self.pos).and_then(|&b| digit_value(b)) {
            value = (value << 6).wrapping_add(digit);
            self.pos += 1;
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_copies_and_inserts() {
        // "hello world" -> "hello, world!": copy 5 from 0, insert ",", copy 6 from 5, insert "!".
        let target = b"hello, world!";
        let mut delta = b"D\n5@0,1:,6@5,1:!".to_vec();
        crate::format::put_int(&mut delta, checksum(target));
        delta.push(b';');
        assert_eq!(apply(b"hello world", &delta).as_deref(), Ok(&target[..]));
    }

    #[test]
    fn rejects_what_fossil_ts_rejects() {
        let cases: &[(&[u8], ApplyError)] = &[
            (b"", ApplyError::BadHeader),
            (b"5x", ApplyError::BadHeader),
            (b"5\n", ApplyError::Unterminated),
            (b"5\n5?", ApplyError::UnknownCommand),
            (b"5\n5@0;", ApplyError::UnterminatedCopy),
            (b"5\n5@9,", ApplyError::CopyOutOfSource),
            (b"5\n6@0,", ApplyError::TooLong),
            (b"5\n9:ab", ApplyError::TooLong),
            (b"9\n9:ab", ApplyError::InsertOutOfDelta),
            (b"5\n3@0,0;", ApplyError::BadChecksum),
        ];
        for (delta, want) in cases {
            assert_eq!(
                apply(b"hello world", delta),
                Err(*want),
                "{}",
                String::from_utf8_lossy(delta)
            );
        }
        let mut short = b"5\n3@0,".to_vec();
        crate::format::put_int(&mut short, checksum(b"hel"));
        short.push(b';');
        assert_eq!(apply(b"hello", &short), Err(ApplyError::TooShort));
    }
}
