//! Joining already-encoded messages into one transport frame.
//!
//! A transport drains its connection's queue of encoded replies and pushes into one frame
//! (one WebSocket message, one SSE event) instead of one frame per message.

use bytes::{BufMut, Bytes, BytesMut};

use crate::protocol::Protocol;

/// Appends one encoded message (from [`crate::encode_reply`] / [`crate::encode_push`]) to a
/// frame. JSON puts exactly one `\n` between messages and none after the last; Protobuf
/// messages already carry their length prefix, so they are concatenated.
pub fn append_to_frame(protocol: Protocol, frame: &mut BytesMut, message: &[u8]) {
    if protocol == Protocol::Json && !frame.is_empty() {
        frame.reserve(message.len() + 1);
        frame.put_u8(b'\n');
    }
    frame.extend_from_slice(message);
}

/// Builds frames out of encoded messages; reusable after each [`FrameWriter::finish`].
#[derive(Debug)]
pub struct FrameWriter {
    protocol: Protocol,
    frame: BytesMut,
    messages: usize,
}

impl FrameWriter {
    /// An empty writer for `protocol`.
    pub fn new(protocol: Protocol) -> Self {
        Self::with_capacity(protocol, 0)
    }

    /// An empty writer whose buffer starts with room for `capacity` bytes.
    pub fn with_capacity(protocol: Protocol, capacity: usize) -> Self {
        Self {
            protocol,
            frame: BytesMut::with_capacity(capacity),
            messages: 0,
        }
    }

    /// The protocol this writer frames for.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Appends one encoded message.
    pub fn push(&mut self, message: &[u8]) {
        append_to_frame(self.protocol, &mut self.frame, message);
        self.messages += 1;
    }

    /// Size in bytes the frame would have if `message_len` more bytes were pushed, separator
    /// included, so a caller can stop before a frame-size limit.
    pub fn len_after(&self, message_len: usize) -> usize {
        let separator = usize::from(self.protocol == Protocol::Json && !self.frame.is_empty());
        self.frame.len() + separator + message_len
    }

    /// Size of the frame so far, in bytes.
    pub fn len(&self) -> usize {
        self.frame.len()
    }

    /// Whether no message has been pushed since the last [`FrameWriter::finish`].
    pub fn is_empty(&self) -> bool {
        self.messages == 0
    }

    /// Number of messages in the frame so far.
    pub fn message_count(&self) -> usize {
        self.messages
    }

    /// Takes the frame built so far and leaves the writer empty, keeping its spare capacity.
    pub fn finish(&mut self) -> Bytes {
        self.messages = 0;
        self.frame.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_joins_with_one_newline_and_no_trailing_one() {
        let mut w = FrameWriter::new(Protocol::Json);
        assert!(w.is_empty());
        assert_eq!(w.len_after(2), 2);
        w.push(b"{}");
        assert_eq!(w.len_after(11), 14);
        w.push(b"{\"id\":1}");
        w.push(b"{}");
        assert_eq!(w.message_count(), 3);
        assert_eq!(&w.finish()[..], b"{}\n{\"id\":1}\n{}");
        assert!(w.is_empty());
        assert_eq!(w.len(), 0);
        w.push(b"{}");
        assert_eq!(&w.finish()[..], b"{}");
    }

    #[test]
    fn protobuf_concatenates() {
        let mut frame = BytesMut::new();
        append_to_frame(Protocol::Protobuf, &mut frame, &[0]);
        append_to_frame(Protocol::Protobuf, &mut frame, &[2, 8, 1]);
        assert_eq!(&frame[..], [0, 2, 8, 1]);
    }
}
