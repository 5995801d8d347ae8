//! Just enough RESP2 for a PUB/SUB connection: encoding commands, and framing what Redis sends
//! back (`message` and confirmation arrays, errors, pongs). Sans-I/O, in two steps as mini-redis
//! does: `check` finds where a complete frame ends without allocating, then `parse` builds it
//! from a frozen copy of exactly those bytes, so payloads are `Bytes` slices, never copies.
//!
//! [`Frame`], [`RespError`] and [`next_frame`] are `pub` only so that `crate::fuzzing` can
//! re-export them for `fuzz/`; this module itself stays private to the crate.

use bytes::{Bytes, BytesMut};

/// Arrays nest at most this deep (PUB/SUB replies nest one level).
const MAX_DEPTH: usize = 4;

/// One RESP2 value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `+OK`
    Simple(Bytes),
    /// `-ERR ...`
    Error(Bytes),
    /// `:1`
    Integer(i64),
    /// `$3\r\nabc`
    Bulk(Bytes),
    /// `$-1` or `*-1`
    Null,
    /// `*2\r\n...`
    Array(Vec<Frame>),
}

/// Why the bytes on the connection cannot be framed; the connection is unusable after either.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RespError {
    /// Not RESP2.
    #[error("protocol error: {0}")]
    Invalid(&'static str),
    /// A frame larger than the configured limit.
    #[error("frame larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
}

/// Encodes a command as a RESP array of bulk strings.
pub(crate) fn command(args: &[&[u8]]) -> Vec<u8> {
    let size: usize = args.iter().map(|a| a.len() + 16).sum();
    let mut out = Vec::with_capacity(16 + size);
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Takes the next complete frame off the front of `buf`, or `None` until more bytes arrive.
/// A frame over `max_frame` bytes is an error as soon as that is known.
///
/// Only the first `max_frame` bytes are looked at: a frame that does not end within them is too
/// large whatever follows, so the answer never depends on how the bytes were split into reads.
pub fn next_frame(buf: &mut BytesMut, max_frame: usize) -> Result<Option<Frame>, RespError> {
    let window = &buf[..buf.len().min(max_frame)];
    let mut pos = 0;
    match check(window, &mut pos, max_frame, 0) {
        Ok(()) => {}
        Err(Check::Incomplete) if buf.len() > max_frame => {
            return Err(RespError::TooLarge { limit: max_frame });
        }
        Err(Check::Incomplete) => return Ok(None),
        Err(Check::Error(error)) => return Err(error),
    }
    let bytes = buf.split_to(pos).freeze();
    let mut pos = 0;
    Ok(Some(parse(&bytes, &mut pos)))
}

enum Check {
    Incomplete,
    Error(RespError),
}

impl From<RespError> for Check {
    fn from(error: RespError) -> Self {
        Self::Error(error)
    }
}

/// Advances `pos` past one complete frame.
fn check(buf: &[u8], pos: &mut usize, max_frame: usize, depth: usize) -> Result<(), Check> {
    let Some(&kind) = buf.get(*pos) else {
        return Err(Check::Incomplete);
    };
    *pos += 1;
    match kind {
        b'+' | b'-' => line(buf, pos).map(|_| ()),
        b':' => number(line(buf, pos)?).map(|_| ()),
        b'$' => {
            let len = number(line(buf, pos)?)?;
            if len < 0 {
                return Ok(());
            }
            let len = usize::try_from(len).map_err(|_| RespError::Invalid("bulk length"))?;
            if len > max_frame {
                return Err(RespError::TooLarge { limit: max_frame }.into());
            }
            let end = *pos + len;
            match buf.get(end..end + 2) {
                None => Err(Check::Incomplete),
                Some(b"\r\n") => {
                    *pos = end + 2;
                    Ok(())
                }
                Some(_) => Err(RespError::Invalid("bulk terminator").into()),
            }
        }
        b'*' => {
            let count = number(line(buf, pos)?)?;
            if count <= 0 {
                return Ok(());
            }
            if depth >= MAX_DEPTH {
                return Err(RespError::Invalid("nesting").into());
            }
            for _ in 0..count {
                check(buf, pos, max_frame, depth + 1)?;
            }
            Ok(())
        }
        _ => Err(RespError::Invalid("frame type").into()),
    }
}

/// The bytes of a line starting at `pos`, advancing past its `\r\n`.
fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Result<&'a [u8], Check> {
    let rest = &buf[*pos..];
    let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
        return Err(Check::Incomplete);
    };
    *pos += end + 2;
    Ok(&rest[..end])
}

fn number(digits: &[u8]) -> Result<i64, Check> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(Check::Error(RespError::Invalid("number")))
}

/// Builds the frame that `check` accepted; cannot fail on those bytes.
fn parse(bytes: &Bytes, pos: &mut usize) -> Frame {
    let kind = bytes[*pos];
    *pos += 1;
    let line_end = bytes[*pos..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(bytes.len(), |end| *pos + end);
    let line = bytes.slice(*pos..line_end);
    *pos = line_end + 2;
    let number = || {
        std::str::from_utf8(&line)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(-1)
    };
    match kind {
        b'+' => Frame::Simple(line),
        b'-' => Frame::Error(line),
        b':' => Frame::Integer(number()),
        b'$' => match usize::try_from(number()) {
            Ok(len) => {
                let data = bytes.slice(*pos..*pos + len);
                *pos += len + 2;
                Frame::Bulk(data)
            }
            Err(_) => Frame::Null,
        },
        _ => match usize::try_from(number()) {
            Ok(count) => Frame::Array((0..count).map(|_| parse(bytes, pos)).collect()),
            Err(_) => Frame::Null,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Result<Vec<Frame>, RespError> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(frame) = next_frame(&mut buf, 1024)? {
            out.push(frame);
        }
        assert!(buf.is_empty(), "left over: {buf:?}");
        Ok(out)
    }

    /// The frames read from `input` appended `chunk` bytes at a time, then the first error or
    /// the bytes left unconsumed.
    fn read_in_chunks(
        input: &[u8],
        chunk: usize,
        max_frame: usize,
    ) -> (Vec<Frame>, Result<BytesMut, RespError>) {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            loop {
                match next_frame(&mut buf, max_frame) {
                    Ok(Some(frame)) => out.push(frame),
                    Ok(None) => break,
                    Err(error) => return (out, Err(error)),
                }
            }
        }
        (out, Ok(buf))
    }

    fn bulk(s: &'static [u8]) -> Frame {
        Frame::Bulk(Bytes::from_static(s))
    }

    #[test]
    fn encodes_commands() {
        assert_eq!(
            command(&[b"SUBSCRIBE", b"a.b"]),
            b"*2\r\n$9\r\nSUBSCRIBE\r\n$3\r\na.b\r\n"
        );
    }

    #[test]
    fn frames_pubsub_replies() {
        let input = b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n\
                      *3\r\n$7\r\nmessage\r\n$1\r\na\r\n$4\r\n\x00\r\n\xff\r\n\
                      -ERR bad\r\n+PONG\r\n$-1\r\n*-1\r\n*0\r\n";
        assert_eq!(
            frames(input),
            Ok(vec![
                Frame::Array(vec![bulk(b"subscribe"), bulk(b"a"), Frame::Integer(1)]),
                Frame::Array(vec![bulk(b"message"), bulk(b"a"), bulk(b"\x00\r\n\xff")]),
                Frame::Error(Bytes::from_static(b"ERR bad")),
                Frame::Simple(Bytes::from_static(b"PONG")),
                Frame::Null,
                Frame::Null,
                Frame::Array(vec![]),
            ])
        );
    }

    #[test]
    fn waits_for_complete_frames_at_every_split() {
        let input: &[u8] = b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$5\r\nhello\r\n";
        for split in 0..input.len() {
            let mut buf = BytesMut::from(&input[..split]);
            assert_eq!(next_frame(&mut buf, 1024), Ok(None), "split at {split}");
            assert_eq!(buf.len(), split, "consumed bytes of an incomplete frame");
            buf.extend_from_slice(&input[split..]);
            assert!(matches!(
                next_frame(&mut buf, 1024),
                Ok(Some(Frame::Array(_)))
            ));
        }
    }

    #[test]
    fn rejects_garbage_and_oversized_frames() {
        assert_eq!(frames(b"?\r\n"), Err(RespError::Invalid("frame type")));
        assert_eq!(frames(b":x\r\n"), Err(RespError::Invalid("number")));
        assert_eq!(
            frames(b"$1\r\nab\r\n"),
            Err(RespError::Invalid("bulk terminator"))
        );
        assert_eq!(
            frames(b"$5000\r\n"),
            Err(RespError::TooLarge { limit: 1024 })
        );
        let mut buf = BytesMut::from(&b"+"[..]);
        buf.extend_from_slice(&[b'a'; 2000]);
        assert_eq!(
            next_frame(&mut buf, 1024),
            Err(RespError::TooLarge { limit: 1024 })
        );
        assert_eq!(
            frames(b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"),
            Err(RespError::Invalid("nesting"))
        );
    }

    #[test]
    fn a_long_line_is_too_large_however_it_arrives() {
        // Found by fuzz/resp_next_frame: a line running past the limit was `Invalid("number")`
        // when its end arrived in the same read, `TooLarge` when it arrived later.
        let input: &[u8] = b"*3\nmessa012345\xbc\n789\r\n";
        for chunk in 1..=input.len() {
            assert_eq!(
                read_in_chunks(input, chunk, 16),
                (vec![], Err(RespError::TooLarge { limit: 16 })),
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn a_frame_of_small_parts_over_the_limit_is_too_large() {
        // Every bulk fits the limit, the array does not: refused also when it arrives whole.
        let input: &[u8] = b"*2\r\n$8\r\n01234567\r\n$8\r\n01234567\r\n";
        let mut buf = BytesMut::from(input);
        assert_eq!(
            next_frame(&mut buf, input.len() - 1),
            Err(RespError::TooLarge {
                limit: input.len() - 1
            })
        );
        let mut buf = BytesMut::from(input);
        assert!(matches!(
            next_frame(&mut buf, input.len()),
            Ok(Some(Frame::Array(_)))
        ));
        assert!(buf.is_empty());
    }

    #[test]
    fn chunking_never_changes_the_result() {
        let mut inputs: Vec<Vec<u8>> = vec![
            b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n\
              *3\r\n$7\r\nmessage\r\n$1\r\na\r\n$4\r\n\x00\r\n\xff\r\n\
              -ERR bad\r\n+PONG\r\n$-1\r\n*-1\r\n*0\r\n:7"
                .to_vec(),
            b"+OK\r\n$3\r\nabcd\r\n".to_vec(),
            b"*2\r\n*2\r\n:1\r\n:2\r\n$30\r\n".to_vec(),
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n".to_vec(),
        ];
        // Arbitrary bytes drawn from RESP's alphabet (a fixed xorshift, so failures repeat).
        let alphabet = b"*$:+-\r\n\r\n0123-9ax";
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..300 {
            let len = 1 + (state % 48) as usize;
            inputs.push(
                (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        alphabet[(state % alphabet.len() as u64) as usize]
                    })
                    .collect(),
            );
        }
        for input in &inputs {
            for max_frame in [1, 4, 8, 16, 24, 1024] {
                let whole = read_in_chunks(input, input.len(), max_frame);
                for chunk in 1..input.len() {
                    assert_eq!(
                        read_in_chunks(input, chunk, max_frame),
                        whole,
                        "{input:?} in chunks of {chunk}, limit {max_frame}"
                    );
                }
            }
        }
    }
}
