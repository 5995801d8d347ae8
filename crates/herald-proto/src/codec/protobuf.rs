//! Protobuf encoding: each message prefixed with its length as a uvarint, even when alone in a
//! frame (a ping is the single byte `0x00`).

use bytes::BufMut;
use prost::Message as _;

use crate::error::DecodeError;
use crate::messages::Push;

/// Key of `Reply.push`: field 4, wire type 2 (length-delimited).
const REPLY_PUSH_KEY: u8 = (4 << 3) | 2;

/// Splits a frame into length-prefixed messages and decodes each one. A length is checked
/// against the bytes left before anything is allocated for it.
pub(crate) fn decode_frame<T: prost::Message + Default>(
    frame: &[u8],
) -> Result<Vec<T>, DecodeError> {
    if frame.is_empty() {
        return Err(DecodeError::EmptyFrame);
    }
    let mut rest = frame;
    let mut messages = Vec::new();
    while !rest.is_empty() {
        let index = messages.len();
        let declared = prost::decode_length_delimiter(&mut rest)
            .map_err(|_| DecodeError::LengthPrefix { index })?;
        if declared > rest.len() {
            return Err(DecodeError::Truncated {
                index,
                declared: declared as u64,
                remaining: rest.len(),
            });
        }
        let (body, tail) = rest.split_at(declared);
        let message = T::decode(body).map_err(|source| DecodeError::Protobuf { index, source })?;
        messages.push(message);
        rest = tail;
    }
    Ok(messages)
}

/// Decodes one message with no length prefix.
pub(crate) fn decode_message<T: prost::Message + Default>(
    message: &[u8],
) -> Result<T, DecodeError> {
    T::decode(message).map_err(|source| DecodeError::Protobuf { index: 0, source })
}

/// Encodes one message with its length prefix.
pub(crate) fn encode_delimited<T: prost::Message>(message: &T) -> Vec<u8> {
    message.encode_length_delimited_to_vec()
}

/// See [`crate::bare_push_range`]: the reply must be exactly one length-prefixed `Reply`
/// holding field 4 only, or empty.
pub(crate) fn bare_push_range(reply: &[u8]) -> Option<std::ops::Range<usize>> {
    let mut rest = reply;
    let reply_len = prost::decode_length_delimiter(&mut rest).ok()?;
    if reply_len != rest.len() {
        return None;
    }
    if reply_len == 0 {
        return Some(reply.len()..reply.len());
    }
    let (&key, mut body) = rest.split_first()?;
    if key != REPLY_PUSH_KEY {
        return None;
    }
    let push_len = prost::decode_length_delimiter(&mut body).ok()?;
    (push_len == body.len()).then(|| reply.len() - push_len..reply.len())
}

/// Encodes `Reply { push }` with its length prefix, without building (and cloning into) a
/// `Reply`: the reply body is just the push as field 4.
pub(crate) fn encode_push(push: &Push) -> Vec<u8> {
    let push_len = push.encoded_len();
    let reply_len = 1 + prost::length_delimiter_len(push_len) + push_len;
    let mut out = Vec::with_capacity(prost::length_delimiter_len(reply_len) + reply_len);
    // A Vec grows on demand, so these writes cannot run out of capacity.
    prost::encode_length_delimiter(reply_len, &mut out).expect("Vec grows on demand");
    out.put_u8(REPLY_PUSH_KEY);
    push.encode_length_delimited(&mut out)
        .expect("Vec grows on demand");
    out
}
