//! Frames on their way to a connection's socket: written at once when nothing is queued, else
//! kept (in order) until the socket takes them; what the outbox gave as WebSocket frames.
//!
//! Without compression several queued messages leave as one frame (newline-separated JSON, or
//! length-prefixed Protobuf), as in Centrifugo. With permessage-deflate each message that
//! compresses leaves in a frame of its own, and only runs of messages that stay plain are
//! joined: a publication is then compressed once per thread and the same compressed bytes go
//! to every subscriber ([`Deflate::compress_shared`]), where compressing each connection's
//! joined batch would cost one compression per subscriber, and that exactly when the server
//! is busiest (batches form when writes fall behind). The frames of a batch still go out in
//! one vectored write.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use bytes::{BufMut, Bytes, BytesMut};
use herald_proto::Protocol;
use herald_ws::{self as frame, OutFrame};

use super::deflate::Deflate;
use super::socket::Socket;

/// Most buffers handed to one vectored write.
const MAX_IOVECS: usize = 64;

/// How the writer lays out what the outbox holds, per endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Output {
    /// Several queued messages leave as one frame (newline-separated JSON, length-prefixed
    /// Protobuf) rather than one frame each. On for the SDK; for a unidirectional client only
    /// when `uni_websocket.join_push_messages` asks, since it may parse one push per frame;
    /// never for Pusher clients (one event per frame).
    pub(super) join_messages: bool,
    /// How the client learns why the connection closes.
    pub(super) farewell: Farewell,
    /// `client.write_delay` and `client.max_messages_in_frame` apply: Centrifugo's clients
    /// (Pusher clients get every event at once, one per frame).
    pub(super) client_batching: bool,
}

/// What precedes the close frame, and the code it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Farewell {
    /// The code and reason only in the close frame (the SDKs).
    CloseFrame,
    /// A `disconnect` push first (unidirectional clients, Centrifugo 6.5.1), so a client
    /// that reads only messages learns the code too.
    DisconnectPush,
    /// Pusher clients: a `pusher:error` event first, as Pusher servers do, and the code in
    /// Pusher's 4000-4399 range, which decides how pusher-js reconnects (Herald's own 3xxx
    /// codes: 3008 "slow" becomes 4100, reconnect with backoff; any other 4200, reconnect).
    PusherError,
}

impl Output {
    /// The SDK's WebSocket: joined messages, the code only in the close frame.
    pub(super) const BIDIRECTIONAL: Self = Self {
        join_messages: true,
        farewell: Farewell::CloseFrame,
        client_batching: true,
    };

    /// The Pusher endpoint: one event per frame, a `pusher:error` before the close.
    pub(super) const PUSHER: Self = Self {
        join_messages: false,
        farewell: Farewell::PusherError,
        client_batching: false,
    };
}

/// A connection's frame writer.
pub(super) struct Writer {
    pub(super) protocol: Protocol,
    /// permessage-deflate, when the connection negotiated it.
    deflate: Option<Deflate>,
    output: Output,
    /// Most messages joined into one frame (`client.max_messages_in_frame`); a `u32`, as
    /// every connection carries it.
    max_in_frame: u32,
    /// Bytes the socket has not taken yet, oldest first; unallocated while empty.
    backlog: VecDeque<Bytes>,
}

impl Writer {
    /// A writer that joins at most `max_in_frame` messages into a frame (`None`: no limit).
    pub(super) fn new(
        protocol: Protocol,
        deflate: Option<Deflate>,
        output: Output,
        max_in_frame: Option<usize>,
    ) -> Self {
        Self {
            protocol,
            deflate,
            output,
            max_in_frame: max_in_frame
                .map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX))
                .max(1),
            backlog: VecDeque::new(),
        }
    }

    /// The frame type of the connection's protocol messages.
    pub(super) fn data_frame(&self) -> OutFrame {
        match self.protocol {
            Protocol::Json => OutFrame::Text,
            Protocol::Protobuf => OutFrame::Binary,
        }
    }

    /// Whether messages may leave compressed (permessage-deflate was negotiated).
    pub(super) fn compresses(&self) -> bool {
        self.deflate.is_some()
    }

    pub(super) fn is_blocked(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Writes one frame as it is (a control frame, say).
    pub(super) fn send(
        &mut self,
        stream: &impl Socket,
        kind: OutFrame,
        payload: Bytes,
    ) -> io::Result<()> {
        self.send_frame(stream, kind, false, payload)
    }

    /// Writes one data message that only this connection sends, compressed when agreed.
    pub(super) fn send_message(
        &mut self,
        stream: &impl Socket,
        kind: OutFrame,
        payload: Bytes,
    ) -> io::Result<()> {
        match self.deflate.and_then(|deflate| deflate.compress(&payload)) {
            Some(compressed) => self.send_frame(stream, kind, true, compressed),
            None => self.send_frame(stream, kind, false, payload),
        }
    }

    /// Writes what the outbox gave (see the module docs for how they become frames).
    pub(super) fn send_messages(
        &mut self,
        stream: &impl Socket,
        messages: &[Bytes],
    ) -> io::Result<()> {
        let kind = self.data_frame();
        if !self.output.join_messages {
            for message in messages {
                match self
                    .deflate
                    .and_then(|deflate| deflate.compress_shared(message))
                {
                    Some(compressed) => self.queue(kind, true, compressed),
                    None => self.queue(kind, false, message.clone()),
                }
            }
            return self.flush(stream);
        }
        let Some(deflate) = self.deflate else {
            if messages.len() <= self.max_in_frame() {
                return self.send_frame(stream, kind, false, join_frame(self.protocol, messages));
            }
            self.queue_joined(kind, messages);
            return self.flush(stream);
        };
        if let [only] = messages {
            return match deflate.compress_shared(only) {
                Some(compressed) => self.send_frame(stream, kind, true, compressed),
                None => self.send_frame(stream, kind, false, only.clone()),
            };
        }
        let mut plain_from = None;
        for (at, message) in messages.iter().enumerate() {
            match deflate.compress_shared(message) {
                Some(compressed) => {
                    if let Some(from) = plain_from.take() {
                        self.queue_joined(kind, &messages[from..at]);
                    }
                    self.queue(kind, true, compressed);
                }
                None => {
                    plain_from.get_or_insert(at);
                }
            }
        }
        if let Some(from) = plain_from {
            self.queue_joined(kind, &messages[from..]);
        }
        self.flush(stream)
    }

    fn max_in_frame(&self) -> usize {
        usize::try_from(self.max_in_frame).unwrap_or(usize::MAX)
    }

    /// Queues `messages` as uncompressed frames of at most `max_in_frame` messages each.
    fn queue_joined(&mut self, kind: OutFrame, messages: &[Bytes]) {
        for chunk in messages.chunks(self.max_in_frame()) {
            let joined = join_frame(self.protocol, chunk);
            self.queue(kind, false, joined);
        }
    }

    /// The bare `disconnect` push that precedes the close frame, when [`Output`] asks for one.
    pub(super) fn disconnect_push(&self, disconnect: &herald_hub::Disconnect) -> Option<Bytes> {
        match self.output.farewell {
            Farewell::CloseFrame => None,
            Farewell::DisconnectPush => {
                let push = herald_proto::Push {
                    disconnect: Some(herald_proto::Disconnect {
                        code: u32::from(disconnect.code),
                        reason: disconnect.reason.clone(),
                        reconnect: false,
                    }),
                    ..Default::default()
                };
                herald_proto::encode_message(self.protocol, &push).ok()
            }
            Farewell::PusherError => {
                let code = self.close_code(disconnect);
                let error = herald_pusher::server::error(Some(code), &disconnect.reason);
                Some(Bytes::from(error))
            }
        }
    }

    /// The payload of the close frame that ends the connection for `disconnect`.
    pub(super) fn close_payload(&self, disconnect: &herald_hub::Disconnect) -> Bytes {
        frame::close_payload(self.close_code(disconnect), &disconnect.reason)
    }

    fn close_code(&self, disconnect: &herald_hub::Disconnect) -> u16 {
        match (self.output.farewell, disconnect.code) {
            (Farewell::PusherError, code) if code >= 4000 => code,
            (Farewell::PusherError, code) if code == herald_proto::DisconnectCode::SLOW.code => {
                herald_pusher::close::OVER_CAPACITY
            }
            (Farewell::PusherError, _) => herald_pusher::close::RECONNECT,
            (_, code) => code,
        }
    }

    /// Writes one frame at once when nothing is queued before it ([`try_write_frame`]); what
    /// the socket does not take waits in the backlog.
    fn send_frame(
        &mut self,
        stream: &impl Socket,
        kind: OutFrame,
        compressed: bool,
        payload: Bytes,
    ) -> io::Result<()> {
        if self.is_blocked() {
            self.queue(kind, compressed, payload);
            return self.flush(stream);
        }
        match try_write_frame(stream, WriteVia::Runtime, kind, compressed, &payload)? {
            FrameWrite::Whole => {}
            FrameWrite::Part(rest) => self.backlog.push_back(rest),
            FrameWrite::Nothing => self.queue(kind, compressed, payload),
        }
        Ok(())
    }

    /// Puts the rest of a frame a direct write began (see `socket::Lent`) before everything
    /// else; [`Writer::flush`] writes it.
    pub(super) fn resume(&mut self, unsent: Bytes) {
        self.backlog.push_front(unsent);
    }

    /// Puts a frame at the end of the backlog; [`Writer::flush`] writes it.
    fn queue(&mut self, kind: OutFrame, compressed: bool, payload: Bytes) {
        let (header, header_len) = frame::header(kind, payload.len(), compressed);
        self.backlog
            .push_back(Bytes::copy_from_slice(&header[..header_len]));
        self.backlog.push_back(payload);
    }

    /// Writes as much of the backlog as the socket takes.
    pub(super) fn flush(&mut self, stream: &impl Socket) -> io::Result<()> {
        while !self.backlog.is_empty() {
            let slices: Vec<IoSlice<'_>> = self
                .backlog
                .iter()
                .take(MAX_IOVECS)
                .map(|chunk| IoSlice::new(chunk))
                .collect();
            let mut written = match stream.try_write_vectored(&slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => written,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) => return Err(err),
            };
            while written > 0 {
                let Some(front) = self.backlog.front_mut() else {
                    break;
                };
                if written >= front.len() {
                    written -= front.len();
                    self.backlog.pop_front();
                } else {
                    let _ = front.split_to(written);
                    written = 0;
                }
            }
        }
        // Give the queue's allocation back while the connection is idle.
        self.backlog = VecDeque::new();
        Ok(())
    }
}

/// Frames with up to this many payload bytes are copied into one buffer and written with one
/// plain write, which costs the kernel less than gathering two pieces.
const SMALL_FRAME: usize = 1024;

/// What of one frame the socket took at once.
#[derive(Debug)]
pub(super) enum FrameWrite {
    /// All of it.
    Whole,
    /// Part of it; this is the frame's unwritten rest, which must leave before anything else.
    Part(Bytes),
    /// Nothing: the socket is full.
    Nothing,
}

/// How a write reaches the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WriteVia {
    /// Through the runtime, which notes a full socket and wakes the task when it drains: the
    /// task's own writes, which wait for that wake-up.
    Runtime,
    /// Straight to the kernel: the outbox's direct writes, which never wait (a full socket
    /// goes back to its task).
    Kernel,
}

/// Writes one frame of `payload` as far as the socket takes it now, without waiting: the one
/// place a frame meets the socket outside the backlog (the writer's [`Writer::send_frame`],
/// and the outbox's direct writes through `socket::Lent`).
pub(super) fn try_write_frame(
    stream: &impl Socket,
    via: WriteVia,
    kind: OutFrame,
    compressed: bool,
    payload: &Bytes,
) -> io::Result<FrameWrite> {
    let (header, header_len) = frame::header(kind, payload.len(), compressed);
    let header = &header[..header_len];
    let frame_len = header_len + payload.len();
    let written = if payload.len() <= SMALL_FRAME {
        let mut frame = [0u8; frame::MAX_HEADER + SMALL_FRAME];
        frame[..header_len].copy_from_slice(header);
        frame[header_len..frame_len].copy_from_slice(payload);
        match via {
            WriteVia::Runtime => stream.try_write(&frame[..frame_len]),
            WriteVia::Kernel => stream.write_untracked(&frame[..frame_len]),
        }
    } else {
        let pieces = [IoSlice::new(header), IoSlice::new(payload)];
        match via {
            WriteVia::Runtime => stream.try_write_vectored(&pieces),
            WriteVia::Kernel => stream.write_vectored_untracked(&pieces),
        }
    };
    let written = match written {
        Ok(written) => written,
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
        Err(err) => return Err(err),
    };
    Ok(if written >= frame_len {
        FrameWrite::Whole
    } else if written == 0 {
        FrameWrite::Nothing
    } else if written < header_len {
        // Rare (a header is at most 10 bytes): one copy of the rest keeps it a single piece.
        let mut rest = BytesMut::with_capacity(frame_len - written);
        rest.put_slice(&header[written..]);
        rest.put_slice(payload);
        FrameWrite::Part(rest.freeze())
    } else {
        FrameWrite::Part(payload.slice(written - header_len..))
    })
}

/// One WebSocket message out of one or more encoded protocol messages.
fn join_frame(protocol: Protocol, messages: &[Bytes]) -> Bytes {
    if let [only] = messages {
        return only.clone();
    }
    let size = messages.iter().map(|m| m.len() + 1).sum();
    let mut frame = BytesMut::with_capacity(size);
    for message in messages {
        herald_proto::append_to_frame(protocol, &mut frame, message);
    }
    frame.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_frames_join_with_single_newlines() {
        let frame = join_frame(
            Protocol::Json,
            &[Bytes::from_static(b"{}"), Bytes::from_static(b"{\"id\":1}")],
        );
        assert_eq!(&frame[..], b"{}\n{\"id\":1}");
    }

    fn code_of(writer: &Writer, code: u16) -> u16 {
        let disconnect = herald_hub::Disconnect {
            code,
            reason: "why".to_owned(),
        };
        let payload = writer.close_payload(&disconnect);
        u16::from_be_bytes([payload[0], payload[1]])
    }

    #[test]
    fn pusher_clients_get_pusher_close_codes_announced_by_pusher_error() {
        let pusher = Writer::new(Protocol::Json, None, Output::PUSHER, None);
        // Slow: reconnect with back-off; Herald's other codes: reconnect; Pusher's as they are.
        assert_eq!(code_of(&pusher, 3008), 4100);
        assert_eq!(code_of(&pusher, 3001), 4200);
        assert_eq!(code_of(&pusher, 4001), 4001);
        let farewell = pusher
            .disconnect_push(&herald_hub::Disconnect {
                code: 3008,
                reason: "slow".to_owned(),
            })
            .expect("a pusher:error");
        let error: serde_json::Value = serde_json::from_slice(&farewell).expect("JSON");
        assert_eq!(error["event"], "pusher:error");
        assert_eq!(error["data"]["code"], 4100);
        // The SDK's WebSocket keeps Herald's codes and sends nothing before the close.
        let sdk = Writer::new(Protocol::Json, None, Output::BIDIRECTIONAL, None);
        assert_eq!(code_of(&sdk, 3008), 3008);
        assert!(
            sdk.disconnect_push(&herald_hub::Disconnect {
                code: 3008,
                reason: "slow".to_owned(),
            })
            .is_none()
        );
    }
}
