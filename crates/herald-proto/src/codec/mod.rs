//! Encoding and decoding of whole frames, for both protocols.
//!
//! Frames from a client hold one or more [`Command`]s; frames to a client hold one or more
//! [`Reply`]s (which include pushes and pings). Encoding produces one message ready to be put
//! into a frame with [`append_to_frame`] or [`FrameWriter`]; decoding takes a whole frame.
//!
//! The wire rules (omitted fields, raw JSON payloads, framing) are summarised in the crate
//! docs, "Wire format"; `json/schema.rs` is the per-message table that implements them.

mod frame;
mod json;
mod protobuf;

use bytes::Bytes;

pub use frame::{FrameWriter, append_to_frame};

use crate::error::{DecodeError, EncodeError};
use crate::messages::{Command, Push, Reply};
use crate::protocol::Protocol;

/// Decodes a frame received from a client into its commands (at least one).
///
/// Any error means the frame is malformed: disconnect with
/// [`DisconnectCode::BAD_REQUEST`](crate::DisconnectCode::BAD_REQUEST).
pub fn decode_commands(protocol: Protocol, frame: &[u8]) -> Result<Vec<Command>, DecodeError> {
    decode_frame(protocol, frame)
}

/// Decodes a frame received from a server into its replies (at least one).
pub fn decode_reply(protocol: Protocol, frame: &[u8]) -> Result<Vec<Reply>, DecodeError> {
    decode_frame(protocol, frame)
}

/// Encodes one reply, ready for [`append_to_frame`]: JSON without a trailing newline, Protobuf
/// with its length prefix. A ping (`Reply::default()`) is `{}` or `[0x00]`.
pub fn encode_reply(protocol: Protocol, reply: &Reply) -> Result<Bytes, EncodeError> {
    encode_framed(protocol, reply)
}

/// Encodes `Reply { push: Some(push), .. }` without cloning the push. Meant to run once per
/// publication and protocol, the result shared by every subscriber.
pub fn encode_push(protocol: Protocol, push: &Push) -> Result<Bytes, EncodeError> {
    Ok(Bytes::from(match protocol {
        Protocol::Json => json::encode_push(push)?,
        Protocol::Protobuf => protobuf::encode_push(push),
    }))
}

/// A payload as a JSON *string* literal, for a `bytes` field that must travel as text rather
/// than as raw JSON: the publications of a JSON subscription that negotiated delta compression
/// carry their payload, or the delta, this way, and the SDK parses the string. `None` when the
/// payload is not UTF-8 (a JSON connection cannot carry it either way).
pub fn json_string(payload: &[u8]) -> Option<Bytes> {
    let text = std::str::from_utf8(payload).ok()?;
    Some(Bytes::from(json::string_literal(text)))
}

/// Where the bare push sits inside one encoded `Reply { push }` (from [`encode_push`] or
/// [`encode_reply`]): the push as a unidirectional client receives it, `{"push":X}` → `X` in
/// JSON, the push message without the reply's length prefix and field key in Protobuf. An
/// empty Protobuf reply (a ping, `0x00`) gives the empty push; the JSON ping `{}` is already
/// the empty push and gives `None`, as does a reply that carries anything but a push. A
/// range, not a copy, so the push can be a slice of bytes shared by every subscriber.
pub fn bare_push_range(protocol: Protocol, reply: &[u8]) -> Option<std::ops::Range<usize>> {
    match protocol {
        Protocol::Json => json::bare_push_range(reply),
        Protocol::Protobuf => protobuf::bare_push_range(reply),
    }
}

/// Encodes one command, ready for [`append_to_frame`] (for clients and tests).
pub fn encode_command(protocol: Protocol, command: &Command) -> Result<Bytes, EncodeError> {
    encode_framed(protocol, command)
}

/// Encodes any message on its own, without framing: no length prefix, no newline. For bodies
/// that travel outside frames, such as an [`EmulationRequest`](crate::EmulationRequest) or a
/// bare [`Push`] on a unidirectional transport.
pub fn encode_message<M: WireMessage>(
    protocol: Protocol,
    message: &M,
) -> Result<Bytes, EncodeError> {
    Ok(Bytes::from(match protocol {
        Protocol::Json => json::encode_message(message)?,
        Protocol::Protobuf => message.encode_to_vec(),
    }))
}

/// Decodes one message that travels without framing (see [`encode_message`]).
pub fn decode_message<M: WireMessage>(protocol: Protocol, bytes: &[u8]) -> Result<M, DecodeError> {
    match protocol {
        Protocol::Json => json::decode_message(bytes),
        Protocol::Protobuf => protobuf::decode_message(bytes),
    }
}

/// A message of `client.proto` that both codecs handle. Sealed: implemented for every message
/// type of [`crate::messages`] and nothing else.
pub trait WireMessage: prost::Message + Default + json::JsonObject {}

impl<T: prost::Message + Default + json::JsonObject> WireMessage for T {}

fn decode_frame<M: WireMessage>(protocol: Protocol, frame: &[u8]) -> Result<Vec<M>, DecodeError> {
    match protocol {
        Protocol::Json => json::decode_frame(frame),
        Protocol::Protobuf => protobuf::decode_frame(frame),
    }
}

fn encode_framed<M: WireMessage>(protocol: Protocol, message: &M) -> Result<Bytes, EncodeError> {
    Ok(Bytes::from(match protocol {
        Protocol::Json => json::encode_message(message)?,
        Protocol::Protobuf => protobuf::encode_delimited(message),
    }))
}

#[cfg(test)]
mod tests;
