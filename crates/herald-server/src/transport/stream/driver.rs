//! The task behind one streamed connection: it owns the [`Session`], feeds it the connect
//! request, the emulated commands and its events, and turns what the outbox holds into chunks
//! of the HTTP response.
//!
//! Bounded all the way: the response takes at most [`CHUNKS_IN_FLIGHT`] chunks ahead of the
//! socket; while it is full the task stops draining the outbox, so the outbox's byte bound
//! applies (3008 "slow"), and a chunk the response has not taken within [`WRITE_TIMEOUT`]
//! ends the connection with 3009, as a stalled WebSocket write does. A client that goes away
//! drops the response body; the task sees that at once (or at the latest at its next write,
//! a ping) and closes the session.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use herald_hub::{Drained, EmulationInbox, Event, Session, TransportKind};
use herald_proto::{ConnectRequest, DisconnectCode, Protocol, Push, Reply};
use hyper::body::{Body, Frame};
use tokio::sync::mpsc;

/// Chunks the response may hold before the task waits for the socket.
pub(crate) const CHUNKS_IN_FLIGHT: usize = 2;

/// Longest the response may refuse a chunk (Centrifugo's streaming write deadline).
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// How messages are laid out in the response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// One JSON message per line (HTTP-streaming with JSON, unidirectional HTTP-streaming).
    Lines,
    /// Protobuf messages with their varint length prefix, back to back (HTTP-streaming).
    LengthPrefixed,
    /// One Server-Sent Event per message, after an opening `\r\n`.
    Events,
    /// Each message on its own, as it is: the receiver frames them (uni_grpc, where each
    /// becomes one gRPC message).
    Messages,
}

impl Framing {
    /// Bytes the stream starts with.
    fn preamble(self) -> Option<Bytes> {
        (self == Self::Events).then(|| Bytes::from_static(b"\r\n"))
    }

    fn append(self, chunk: &mut BytesMut, message: &[u8]) {
        match self {
            Self::Lines => {
                chunk.extend_from_slice(message);
                chunk.extend_from_slice(b"\n");
            }
            Self::LengthPrefixed | Self::Messages => chunk.extend_from_slice(message),
            Self::Events => {
                // An event's data may span lines, each with its own `data:` field; a payload
                // with raw newlines (pretty-printed JSON) then still reaches the client whole.
                for line in message.split(|&b| b == b'\n') {
                    chunk.extend_from_slice(b"data: ");
                    chunk.extend_from_slice(line);
                    chunk.extend_from_slice(b"\n");
                }
                chunk.extend_from_slice(b"\n");
            }
        }
    }

    fn chunk(self, messages: &[Bytes]) -> Bytes {
        let size = messages.iter().map(|m| m.len() + 8).sum();
        let mut chunk = BytesMut::with_capacity(size);
        for message in messages {
            self.append(&mut chunk, message);
        }
        chunk.freeze()
    }
}

/// What the session is given first.
#[derive(Debug)]
pub(crate) enum Start {
    /// A frame of commands (the emulated client's connect command).
    Frame(Bytes),
    /// A unidirectional client's connect request (boxed: it is large and used once).
    Connect(Box<ConnectRequest>),
}

/// One streamed connection.
pub(crate) struct Driver {
    pub(crate) session: Session,
    /// Commands posted to the emulation endpoint; `None` on unidirectional transports.
    pub(crate) inbox: Option<EmulationInbox>,
    pub(crate) framing: Framing,
    pub(crate) start: Start,
    pub(crate) chunks: mpsc::Sender<Bytes>,
}

enum Step {
    Output(Drained),
    Frame(Bytes),
    Event(Event),
    /// The client dropped the response.
    Gone,
}

impl Driver {
    pub(crate) async fn run(self) {
        let Self {
            mut session,
            mut inbox,
            framing,
            start,
            chunks,
        } = self;
        let outbox = session.outbox();
        let unidirectional = session.transport_kind() == TransportKind::Unidirectional;
        if let Some(preamble) = framing.preamble()
            && send(&chunks, preamble).await.is_err()
        {
            outbox.close(DisconnectCode::CONNECTION_CLOSED.into());
        }
        let _ = match start {
            Start::Frame(frame) => session.handle_frame(&frame).await,
            Start::Connect(request) => session.connect_unidirectional(*request).await,
        };
        loop {
            // The outbox first: once it is closed nothing else matters, and output waiting
            // for the client is what a slow reader must not be able to grow.
            let step = tokio::select! {
                biased;
                drained = outbox.drain() => Step::Output(drained),
                () = chunks.closed() => Step::Gone,
                Some(frame) = next_frame(&mut inbox) => Step::Frame(frame),
                event = session.next_event() => Step::Event(event),
            };
            match step {
                Step::Output(Drained::Messages(messages)) => {
                    if send_all(&chunks, framing, messages).await.is_err() {
                        outbox.close(DisconnectCode::WRITE_ERROR.into());
                        break;
                    }
                }
                Step::Output(Drained::Close(mut messages, disconnect)) => {
                    if let Some(push) =
                        disconnect_push(outbox.protocol(), unidirectional, &disconnect)
                    {
                        messages.push(push);
                    }
                    let _ = send_all(&chunks, framing, messages).await;
                    break;
                }
                Step::Gone => {
                    tracing::debug!("client went away");
                    outbox.close(DisconnectCode::CONNECTION_CLOSED.into());
                    break;
                }
                Step::Frame(frame) => {
                    let _ = session.handle_frame(&frame).await;
                }
                Step::Event(event) => {
                    let _ = session.handle_event(event).await;
                }
            }
        }
        // Forget the session id before leaving channels, so no POST reaches a closing session.
        drop(inbox);
        session.close().await;
    }
}

/// The next emulated command frame; never ready on a unidirectional transport.
async fn next_frame(inbox: &mut Option<EmulationInbox>) -> Option<Bytes> {
    match inbox {
        Some(inbox) => inbox.recv().await,
        None => std::future::pending().await,
    }
}

/// Hands drained messages to the response: one chunk in the framing, or with
/// [`Framing::Messages`] each message on its own.
async fn send_all(
    chunks: &mpsc::Sender<Bytes>,
    framing: Framing,
    messages: Vec<Bytes>,
) -> Result<(), ()> {
    if framing != Framing::Messages {
        return send(chunks, framing.chunk(&messages)).await;
    }
    for message in messages {
        send(chunks, message).await?;
    }
    Ok(())
}

/// Hands a chunk to the response, waiting at most [`WRITE_TIMEOUT`].
async fn send(chunks: &mpsc::Sender<Bytes>, chunk: Bytes) -> Result<(), ()> {
    match tokio::time::timeout(WRITE_TIMEOUT, chunks.send(chunk)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(()),
        Err(_) => {
            tracing::debug!("response refused a chunk for {WRITE_TIMEOUT:?}");
            herald_hub::metrics::count_overflow(herald_hub::metrics::Queue::StreamResponse);
            Err(())
        }
    }
}

/// The `disconnect` push that ends a stream (the client has no close frame to read the code
/// from): inside a `Reply` for the SDK, bare for a unidirectional client. None for a client
/// that is already gone.
fn disconnect_push(
    protocol: Protocol,
    unidirectional: bool,
    disconnect: &herald_hub::Disconnect,
) -> Option<Bytes> {
    if disconnect.code == DisconnectCode::CONNECTION_CLOSED.code {
        return None;
    }
    let push = Push {
        disconnect: Some(herald_proto::Disconnect {
            code: u32::from(disconnect.code),
            reason: disconnect.reason.clone(),
            reconnect: false,
        }),
        ..Default::default()
    };
    let encoded = if unidirectional {
        herald_proto::encode_message(protocol, &push)
    } else {
        herald_proto::encode_reply(
            protocol,
            &Reply {
                push: Some(push),
                ..Default::default()
            },
        )
    };
    encoded.ok()
}

/// The response body: the chunks the driver sends, until it drops its sender.
#[derive(Debug)]
pub(super) struct StreamBody {
    pub(super) chunks: mpsc::Receiver<Bytes>,
}

impl Body for StreamBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.chunks
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_keep_multi_line_messages_whole() {
        let chunk = Framing::Events.chunk(&[Bytes::from_static(b"{\"a\":\n1}")]);
        assert_eq!(&chunk[..], b"data: {\"a\":\ndata: 1}\n\n");
    }

    #[test]
    fn lines_end_every_message() {
        let chunk = Framing::Lines.chunk(&[Bytes::from_static(b"{}"), Bytes::from_static(b"{}")]);
        assert_eq!(&chunk[..], b"{}\n{}\n");
    }
}
