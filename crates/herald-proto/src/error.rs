//! Codec failures. A decode failure on a client frame means disconnect 3501 (bad request); an
//! encode failure of a JSON payload means disconnect 3506 (inappropriate protocol).

/// A frame could not be decoded into messages.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The frame holds no bytes at all.
    #[error("empty frame")]
    EmptyFrame,
    /// A JSON frame has an empty line (two `\n` in a row, or a leading `\n`).
    #[error("empty message at index {index} in a JSON frame")]
    EmptyMessage {
        /// Position of the message in the frame, from 0.
        index: usize,
    },
    /// A JSON message is not valid JSON, not an object, or a field has the wrong type.
    #[error("invalid JSON message at index {index}: {source}")]
    Json {
        /// Position of the message in the frame, from 0.
        index: usize,
        source: serde_json::Error,
    },
    /// A Protobuf length prefix is not a valid uvarint or is cut off by the end of the frame.
    #[error("invalid length prefix at index {index}")]
    LengthPrefix {
        /// Position of the message in the frame, from 0.
        index: usize,
    },
    /// A Protobuf length prefix announces more bytes than the frame has left.
    #[error("message at index {index} declares {declared} bytes but only {remaining} remain")]
    Truncated {
        /// Position of the message in the frame, from 0.
        index: usize,
        /// Length announced by the prefix.
        declared: u64,
        /// Bytes left in the frame after the prefix.
        remaining: usize,
    },
    /// A Protobuf message body is malformed.
    #[error("invalid Protobuf message at index {index}: {source}")]
    Protobuf {
        /// Position of the message in the frame, from 0.
        index: usize,
        source: prost::DecodeError,
    },
}

/// A message could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// A `bytes` field holds something other than valid UTF-8 JSON, so a JSON connection cannot
    /// carry it (binary payload to a JSON client: disconnect it with 3506).
    #[error("field {field} is not valid JSON and cannot be sent to a JSON client")]
    NotJson {
        /// `Message.field` naming the offending field, e.g. `"Publication.data"`.
        field: &'static str,
    },
}
