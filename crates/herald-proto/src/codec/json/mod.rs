//! JSON encoding: `\n`-separated messages whose `bytes` fields carry raw JSON.
//!
//! Framing (both directions): messages are joined by exactly one `\n`; a reader accepts at most
//! one trailing `\n`, and rejects an empty frame or an empty line.

mod schema;
mod value;
mod writer;

pub(super) use value::JsonObject;
use writer::JsonWriter;

use crate::error::{DecodeError, EncodeError};
use crate::messages::Push;

/// Splits a frame into its messages and decodes each one.
pub(crate) fn decode_frame<T: JsonObject>(frame: &[u8]) -> Result<Vec<T>, DecodeError> {
    let body = match frame {
        [] => return Err(DecodeError::EmptyFrame),
        [body @ .., b'\n'] => body,
        body => body,
    };
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(|(index, line)| decode_line(index, line))
        .collect()
}

/// Decodes one message with no framing around it.
pub(crate) fn decode_message<T: JsonObject>(message: &[u8]) -> Result<T, DecodeError> {
    decode_line(0, message)
}

/// Encodes one message with no framing around it, into a buffer sized up front.
pub(crate) fn encode_message<T: JsonObject>(message: &T) -> Result<Vec<u8>, EncodeError> {
    let mut out = JsonWriter::with_capacity(message.object_size_hint());
    message.write_object(&mut out)?;
    Ok(out.into_vec())
}

/// Encodes `{"push":<push>}` without building (and cloning into) a `Reply`.
pub(crate) fn encode_push(push: &Push) -> Result<Vec<u8>, EncodeError> {
    let mut out = JsonWriter::with_capacity(push.object_size_hint() + 10);
    out.byte(b'{');
    out.key(&mut true, "push");
    push.write_object(&mut out)?;
    out.byte(b'}');
    Ok(out.into_vec())
}

/// See [`crate::bare_push_range`]: `{"push":X}` gives the range of `X`.
pub(crate) fn bare_push_range(reply: &[u8]) -> Option<std::ops::Range<usize>> {
    const PREFIX: &[u8] = br#"{"push":"#;
    (reply.starts_with(PREFIX) && reply.ends_with(b"}")).then(|| PREFIX.len()..reply.len() - 1)
}

/// `text` as a JSON string literal, quotes included.
pub(crate) fn string_literal(text: &str) -> Vec<u8> {
    let mut out = JsonWriter::with_capacity(text.len() + text.len() / 8 + 2);
    out.string(text);
    out.into_vec()
}

/// Decodes the message at position `index` of a frame: exactly one JSON object, surrounding
/// whitespace allowed.
fn decode_line<T: JsonObject>(index: usize, line: &[u8]) -> Result<T, DecodeError> {
    if line.is_empty() {
        return Err(DecodeError::EmptyMessage { index });
    }
    let mut de = serde_json::Deserializer::from_slice(line);
    value::read_top_level(&mut de)
        .and_then(|message| de.end().map(|()| message))
        .map_err(|source| DecodeError::Json { index, source })
}
