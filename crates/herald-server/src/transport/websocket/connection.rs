//! One WebSocket connection driven by one task that owns the socket and the [`Session`].
//!
//! Idle, a connection holds no buffers: reads go through a stack buffer in a plain function
//! (so it is not part of the task's state), frames are parsed straight out of it, and writes
//! go to the socket at once, queueing only what the kernel does not take. Only a frame that
//! arrives in pieces, or a write the socket refuses, keeps bytes on the heap, and only until
//! it is complete.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use herald_hub::{Disconnect, Drained, Flow, Hub, Outbox, Session};
use herald_proto::{DisconnectCode, Protocol};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::Instrument;

use super::frame::{self, Decoder, FrameError, Incoming, OutFrame};

/// How long a closing connection waits for the peer's close frame before dropping the socket.
/// Reading until then keeps the kernel from answering unread data with a reset that could
/// destroy our close frame in flight.
const CLOSE_LINGER: Duration = Duration::from_secs(5);

/// Bytes read per `read` call. It lives on the stack of a plain function, only while reading.
const READ_CHUNK: usize = 16 * 1024;

/// Most buffers handed to one vectored write.
const MAX_IOVECS: usize = 64;

/// What a connection needs besides its socket.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    pub(super) protocol: Protocol,
    pub(super) message_size_limit: usize,
    pub(super) write_timeout: Duration,
}

/// Why the active phase of a connection ended.
#[derive(Debug)]
enum End {
    /// The session closed its outbox (the reason is there); its close frame may be sent.
    Session,
    /// The close frame is already written (it came with the outbox's last messages).
    CloseSent,
    /// The client started the closing handshake.
    PeerClosed(Option<u16>),
    /// The client went away without a closing handshake.
    Gone,
    /// The socket failed or a write timed out; nothing more can be written.
    Broken,
}

/// Serves one upgraded connection until it closes. `buffered` holds bytes the HTTP layer read
/// past the upgrade request.
pub(super) async fn run(
    hub: &Hub,
    stream: TcpStream,
    buffered: Bytes,
    settings: Settings,
    remote: SocketAddr,
) {
    let mut session = hub.session(settings.protocol);
    let span = tracing::debug_span!(
        "client",
        client = %session.client_id(),
        user = tracing::field::Empty,
        %remote
    );
    async move {
        let mut connection = Connection {
            outbox: session.outbox(),
            stream,
            decoder: Decoder::new(settings.message_size_limit),
            writer: Writer::new(settings.protocol),
            write_timeout: settings.write_timeout,
            write_deadline: None,
        };
        tracing::debug!(protocol = ?settings.protocol, "connection opened");
        let end = connection.serve(&mut session, buffered).await;
        // The closing phase is boxed, like the session's command handling: the task's state is
        // sized for its largest wait, and these must not make every idle connection larger.
        Box::pin(session.close()).await;
        Box::pin(connection.finish(end)).await;
        tracing::debug!("connection closed");
    }
    .instrument(span)
    .await;
}

struct Connection {
    stream: TcpStream,
    /// The session's outbox, also drained after the session is gone (the closing frames).
    outbox: Arc<Outbox>,
    decoder: Decoder,
    writer: Writer,
    write_timeout: Duration,
    /// When the write the socket is refusing times out (3009).
    write_deadline: Option<Instant>,
}

/// What woke the connection.
enum Wake {
    Readable(io::Result<()>),
    Writable(io::Result<()>),
    WriteTimedOut,
    Outbox(Drained),
    Event(herald_hub::Event),
    /// A write left bytes the socket refused: switch to waiting for room.
    Blocked,
}

impl Connection {
    /// The active phase: client frames into the session, the outbox onto the socket.
    async fn serve(&mut self, session: &mut Session, buffered: Bytes) -> End {
        let outbox = self.outbox.clone();
        if !buffered.is_empty() {
            let mut messages = Vec::new();
            let parsed = self.decoder.feed(&mut buffered.to_vec(), &mut messages);
            if let Some(end) = self.handle_input(session, messages, parsed).await {
                return end;
            }
        }
        let mut user_recorded = false;
        loop {
            // Two shapes of wait, so the task's state holds the larger one, not both.
            let wake = if self.writer.is_blocked() {
                // The socket refuses bytes: wait for room (or the write timeout) without
                // reading, so a client that does not read cannot make us queue answers to its
                // pings; TCP pushes back on it instead.
                tokio::select! {
                    biased;
                    ready = self.stream.writable() => Wake::Writable(ready),
                    () = sleep_until(self.write_deadline) => Wake::WriteTimedOut,
                    event = session.next_event() => Wake::Event(event),
                }
            } else {
                // Fan-out wakes this loop once per delivery: write what the outbox holds right
                // here, keeping the session's event wait (timers, control queue, shutdown)
                // registered instead of rebuilding it on every delivery.
                let events = session.next_event();
                tokio::pin!(events);
                loop {
                    let wake = tokio::select! {
                        biased;
                        drained = outbox.drain() => Wake::Outbox(drained),
                        ready = self.stream.readable() => Wake::Readable(ready),
                        event = &mut events => Wake::Event(event),
                    };
                    if let Wake::Outbox(drained) = wake {
                        match self.write_drained(drained) {
                            Some(end) => return end,
                            None if self.writer.is_blocked() => break Wake::Blocked,
                            None => continue,
                        }
                    }
                    break wake;
                }
            };
            let end = match wake {
                Wake::Readable(Ok(())) => {
                    let mut messages = Vec::new();
                    match read_frames(&self.stream, &mut self.decoder, &mut messages) {
                        Ok(ReadOutcome::Parsed(parsed)) => {
                            Box::pin(self.handle_input(session, messages, parsed)).await
                        }
                        Ok(ReadOutcome::WouldBlock) => None,
                        Ok(ReadOutcome::Eof) => Some(End::Gone),
                        Err(err) => {
                            tracing::debug!(%err, "websocket read failed");
                            Some(End::Gone)
                        }
                    }
                }
                Wake::Readable(Err(err)) | Wake::Writable(Err(err)) => {
                    tracing::debug!(%err, "websocket socket failed");
                    Some(End::Broken)
                }
                Wake::Writable(Ok(())) => self.flush(),
                Wake::WriteTimedOut => {
                    tracing::info!("websocket write timed out");
                    self.outbox.close(DisconnectCode::WRITE_ERROR.into());
                    Some(End::Broken)
                }
                Wake::Outbox(drained) => self.write_drained(drained),
                Wake::Blocked => None,
                Wake::Event(event) => match Box::pin(session.handle_event(event)).await {
                    Flow::Continue => None,
                    Flow::Close => Some(End::Session),
                },
            };
            if let Some(end) = end {
                return end;
            }
            if !user_recorded && session.is_connected() {
                tracing::Span::current().record("user", session.user());
                user_recorded = true;
            }
        }
    }

    /// Writes what the outbox gave: its messages as one frame, then the close frame when the
    /// outbox is closed.
    fn write_drained(&mut self, drained: Drained) -> Option<End> {
        match drained {
            Drained::Messages(messages) => {
                let payload = join_frame(self.writer.protocol, &messages);
                self.send(self.writer.data_frame(), payload)
            }
            Drained::Close(messages, disconnect) => {
                if !messages.is_empty() {
                    let payload = join_frame(self.writer.protocol, &messages);
                    if let Some(end) = self.send(self.writer.data_frame(), payload) {
                        return Some(end);
                    }
                }
                let payload = frame::close_payload(disconnect.code, &disconnect.reason);
                self.send(OutFrame::Close, payload).or(Some(End::CloseSent))
            }
        }
    }

    /// Feeds parsed client messages to the session; a protocol violation closes with its code
    /// after the messages before it are handled.
    async fn handle_input(
        &mut self,
        session: &mut Session,
        messages: Vec<Incoming>,
        parsed: Result<(), FrameError>,
    ) -> Option<End> {
        for message in messages {
            match message {
                Incoming::Data(payload) => {
                    let mut handling = Box::pin(session.handle_frame(&payload));
                    // Keep draining the outbox while a command waits on the engine, so a slow
                    // call does not hold up the fan-out traffic queued for this client.
                    let mut ended = None;
                    let flow = loop {
                        tokio::select! {
                            biased;
                            flow = &mut handling => break flow,
                            drained = self.outbox.drain(), if ended.is_none() && !self.writer.is_blocked() => {
                                ended = self.write_drained(drained);
                            }
                        }
                    };
                    if ended.is_some() {
                        return ended;
                    }
                    if flow == Flow::Close {
                        return Some(End::Session);
                    }
                }
                Incoming::Ping(payload) => {
                    if let Some(end) = self.send(OutFrame::Pong, payload) {
                        return Some(end);
                    }
                }
                Incoming::Pong => {}
                Incoming::Close(code) => return Some(End::PeerClosed(code)),
            }
        }
        if let Err(err) = parsed {
            tracing::info!(%err, "closing a connection that broke the websocket protocol");
            self.outbox.close(Disconnect {
                code: err.close_code(),
                reason: err.to_string(),
            });
            return Some(End::Session);
        }
        None
    }

    /// Writes a frame (or queues it behind a refused write) and arms the write timeout when
    /// the socket refuses bytes.
    fn send(&mut self, kind: OutFrame, payload: Bytes) -> Option<End> {
        let written = self.writer.send(&self.stream, kind, payload);
        self.after_write(written)
    }

    fn flush(&mut self) -> Option<End> {
        let written = self.writer.flush(&self.stream);
        self.after_write(written)
    }

    /// Arms or clears the write timeout after a write; a failed write closes with 3009.
    fn after_write(&mut self, written: io::Result<()>) -> Option<End> {
        match written {
            Ok(()) => {
                self.arm_write_deadline();
                None
            }
            Err(err) => {
                tracing::debug!(%err, "websocket write failed");
                self.outbox.close(DisconnectCode::WRITE_ERROR.into());
                Some(End::Broken)
            }
        }
    }

    fn arm_write_deadline(&mut self) {
        if !self.writer.is_blocked() {
            self.write_deadline = None;
        } else if self.write_deadline.is_none() {
            self.write_deadline = Some(Instant::now() + self.write_timeout);
        }
    }

    /// The closing phase: the close frame (unless the socket is broken), then wait a little
    /// for the client's close so our frame is not lost to a reset.
    async fn finish(mut self, end: End) {
        let linger_deadline = Instant::now() + CLOSE_LINGER;
        match end {
            End::Broken | End::Gone => return,
            End::PeerClosed(code) => {
                // Answer the client's close at once, without what is still queued.
                let payload = match code {
                    Some(code) => frame::close_payload(code, ""),
                    None => Bytes::new(),
                };
                if self
                    .writer
                    .send(&self.stream, OutFrame::Close, payload)
                    .is_ok()
                {
                    let _ = self.flush_until(linger_deadline).await;
                }
                return;
            }
            End::Session => {
                if !self.write_closing_frames(linger_deadline).await {
                    return;
                }
            }
            End::CloseSent => {
                if self.flush_until(linger_deadline).await.is_err() {
                    return;
                }
            }
        }
        let _ = tokio::time::timeout_at(linger_deadline, self.await_peer_close()).await;
    }

    /// Writes what the closed outbox still holds and the close frame with its reason; false
    /// when that did not all go out.
    async fn write_closing_frames(&mut self, deadline: Instant) -> bool {
        // The session is closed, so draining returns at once with the close reason.
        let (messages, disconnect) =
            match tokio::time::timeout_at(deadline, self.outbox_drain()).await {
                Ok(Some(pair)) => pair,
                _ => return false,
            };
        let kind = self.writer.data_frame();
        if !messages.is_empty() {
            let payload = join_frame(self.writer.protocol, &messages);
            if self.writer.send(&self.stream, kind, payload).is_err() {
                return false;
            }
        }
        let payload = frame::close_payload(disconnect.code, &disconnect.reason);
        if self
            .writer
            .send(&self.stream, OutFrame::Close, payload)
            .is_err()
        {
            return false;
        }
        let write_deadline = deadline.min(Instant::now() + self.write_timeout);
        self.flush_until(write_deadline).await.is_ok()
    }

    async fn outbox_drain(&self) -> Option<(Vec<Bytes>, Disconnect)> {
        match self.outbox.drain().await {
            Drained::Close(messages, disconnect) => Some((messages, disconnect)),
            Drained::Messages(_) => None,
        }
    }

    /// Writes the backlog, waiting for the socket, until it is empty or `deadline` passes.
    async fn flush_until(&mut self, deadline: Instant) -> io::Result<()> {
        loop {
            self.writer.flush(&self.stream)?;
            if !self.writer.is_blocked() {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, self.stream.writable()).await {
                Ok(ready) => ready?,
                Err(_) => return Err(io::ErrorKind::TimedOut.into()),
            }
        }
    }

    /// Reads until the client's close frame, the end of the stream or an error.
    async fn await_peer_close(&mut self) {
        loop {
            if self.stream.readable().await.is_err() {
                return;
            }
            let mut messages = Vec::new();
            match read_frames(&self.stream, &mut self.decoder, &mut messages) {
                Ok(ReadOutcome::WouldBlock) => {}
                Ok(ReadOutcome::Parsed(Ok(()))) => {
                    if messages.iter().any(|m| matches!(m, Incoming::Close(_))) {
                        return;
                    }
                }
                _ => return,
            }
        }
    }
}

enum ReadOutcome {
    /// Bytes arrived and were parsed (possibly into no whole message yet).
    Parsed(Result<(), FrameError>),
    /// Nothing to read after all.
    WouldBlock,
    /// The client closed the stream.
    Eof,
}

/// Reads what the socket has into a stack buffer and parses it. A plain function, so the
/// buffer is never part of the connection task's state.
fn read_frames(
    stream: &TcpStream,
    decoder: &mut Decoder,
    out: &mut Vec<Incoming>,
) -> io::Result<ReadOutcome> {
    let mut buf = [0u8; READ_CHUNK];
    match stream.try_read(&mut buf) {
        Ok(0) => Ok(ReadOutcome::Eof),
        Ok(read) => Ok(ReadOutcome::Parsed(decoder.feed(&mut buf[..read], out))),
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(ReadOutcome::WouldBlock),
        Err(err) => Err(err),
    }
}

/// Frames on their way to the socket: written at once when nothing is queued, else kept (in
/// order) until the socket takes them.
struct Writer {
    protocol: Protocol,
    /// Bytes the socket has not taken yet, oldest first; unallocated while empty.
    backlog: VecDeque<Bytes>,
}

impl Writer {
    fn new(protocol: Protocol) -> Self {
        Self {
            protocol,
            backlog: VecDeque::new(),
        }
    }

    fn data_frame(&self) -> OutFrame {
        match self.protocol {
            Protocol::Json => OutFrame::Text,
            Protocol::Protobuf => OutFrame::Binary,
        }
    }

    fn is_blocked(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Writes one frame with one vectored write when nothing is queued before it.
    fn send(&mut self, stream: &TcpStream, kind: OutFrame, payload: Bytes) -> io::Result<()> {
        let (header, header_len) = frame::header(kind, payload.len());
        let header = &header[..header_len];
        if self.is_blocked() {
            self.backlog.push_back(Bytes::copy_from_slice(header));
            self.backlog.push_back(payload);
            return self.flush(stream);
        }
        let written =
            match stream.try_write_vectored(&[IoSlice::new(header), IoSlice::new(&payload)]) {
                Ok(written) => written,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
                Err(err) => return Err(err),
            };
        if written < header_len {
            self.backlog
                .push_back(Bytes::copy_from_slice(&header[written..]));
            self.backlog.push_back(payload);
        } else if written < header_len + payload.len() {
            self.backlog
                .push_back(payload.slice(written - header_len..));
        }
        Ok(())
    }

    /// Writes as much of the backlog as the socket takes.
    fn flush(&mut self, stream: &TcpStream) -> io::Result<()> {
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

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
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
}
