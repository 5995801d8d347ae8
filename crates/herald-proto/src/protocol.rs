//! Which of the two wire encodings a connection speaks.

/// The encoding a connection negotiated. It is fixed for the connection's lifetime and decides
/// both the codec and the framing (see the crate docs, "Wire format").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// JSON messages joined by `\n`; `bytes` fields carry raw JSON. WebSocket text frames.
    Json,
    /// Protobuf messages, each prefixed with its length as a uvarint. WebSocket binary frames.
    Protobuf,
}

impl Protocol {
    /// Whether frames of this protocol are binary (a WebSocket binary frame) rather than text.
    pub fn is_binary(self) -> bool {
        matches!(self, Protocol::Protobuf)
    }
}
