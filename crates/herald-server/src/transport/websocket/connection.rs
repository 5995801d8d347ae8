//! One WebSocket connection, driven by one task that owns the socket and the [`Handler`] (the
//! protocol [`Session`](herald_hub::Session), or the Autobahn echo).
//!
//! The connection is a hand-written future ([`Connection`]) rather than an `async fn` with
//! `select!`: an idle connection's task then holds only its fields (socket, frame decoder,
//! writer, session) and the wakers the socket, the outbox and the session's timer keep for it,
//! not a future for every branch of every wait. That is most of what an idle connection costs.
//! What does wait on something (a command calling the engine, the closing handshake) runs as a
//! boxed future that exists only while it runs.
//!
//! Idle, a connection holds no buffers either: reads go through a stack buffer in a plain
//! function, frames are parsed straight out of it, and writes go to the socket at once,
//! queueing only what the kernel does not take. Only a frame that arrives in pieces, or a
//! write the socket refuses, keeps bytes on the heap, and only until it is complete.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use herald_hub::{Disconnect, Drained, Flow, Hub, Outbox};
use herald_proto::{DisconnectCode, Protocol};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use herald_ws::{self as frame, Decoder, FrameError, Incoming, OutFrame};

use super::handler::{Call, Handled, Handler};

/// How long a closing connection waits for the peer's close frame before dropping the socket.
/// Reading until then keeps the kernel from answering unread data with a reset that could
/// destroy our close frame in flight.
const CLOSE_LINGER: Duration = Duration::from_secs(5);

/// Bytes read per `read` call. It lives on the stack of a plain function, only while reading.
const READ_CHUNK: usize = 16 * 1024;

/// Most buffers handed to one vectored write.
const MAX_IOVECS: usize = 64;

/// Steps (a write, a read, an event) one poll of a connection takes before it yields, so a
/// busy connection cannot hold a worker thread.
const STEPS_PER_POLL: usize = 32;

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

/// What the HTTP layer hands over once the upgrade is done: the socket, and the bytes it read
/// past the upgrade request. `None` when the upgrade failed (already logged).
pub(super) type Upgraded = Option<(TcpStream, Bytes)>;

/// One WebSocket connection from the upgrade until it closes: spawn it.
pub(super) struct Connection<H> {
    /// `client`, `user` and `remote` for every event of the connection (none while upgrading).
    span: tracing::Span,
    phase: Phase<H>,
}

// Not boxed on purpose: the active phase is where a connection spends its life, and boxing it
// would add an allocation (and its header) to every connection.
#[allow(clippy::large_enum_variant)]
enum Phase<H> {
    /// Waiting for the HTTP layer to hand over the socket.
    Upgrading {
        upgrade: Pin<Box<dyn Future<Output = Upgraded> + Send>>,
        hub: Hub,
        settings: Settings,
        remote: SocketAddr,
    },
    /// Client frames into the session, the outbox onto the socket.
    Active(Active<H>),
    /// The session is closing and the closing handshake is under way.
    Closing(Pin<Box<dyn Future<Output = ()> + Send>>),
    Done,
}

struct Active<H> {
    io: Io,
    /// `None` while `busy` owns it.
    session: Option<H>,
    busy: Option<Call<H>>,
    /// What was read but not handled yet, last first (the next one is popped): messages wait
    /// while `busy` handles the one before them, so a connection's commands run in order. A
    /// protocol violation comes after the messages read before it.
    input: Vec<Result<Incoming, FrameError>>,
    user_recorded: bool,
}

/// The socket side of a connection: what the closing phase keeps after the session is gone.
struct Io {
    stream: TcpStream,
    /// The session's outbox, also drained after the session is gone (the closing frames).
    outbox: Arc<Outbox>,
    decoder: Decoder,
    writer: Writer,
    write_timeout: Duration,
    /// Fires when the write the socket is refusing has waited `write_timeout` (3009); only
    /// while the socket refuses bytes.
    write_timer: Option<Pin<Box<Sleep>>>,
}

impl<H: Handler> Connection<H> {
    /// A connection whose socket `upgrade` hands over. Everything waits inside this one future
    /// (also the upgrade), so the task holds nothing beside it.
    pub(super) fn upgrading(
        upgrade: impl Future<Output = Upgraded> + Send + 'static,
        hub: Hub,
        settings: Settings,
        remote: SocketAddr,
    ) -> Self {
        Self {
            span: tracing::Span::none(),
            phase: Phase::Upgrading {
                upgrade: Box::pin(upgrade),
                hub,
                settings,
                remote,
            },
        }
    }

    /// Starts serving `stream`. `buffered` holds bytes the HTTP layer read past the upgrade
    /// request.
    fn start(
        &mut self,
        hub: &Hub,
        stream: TcpStream,
        buffered: Bytes,
        settings: Settings,
        remote: SocketAddr,
    ) {
        let session = H::open(hub, settings.protocol);
        let span = tracing::debug_span!(
            "client",
            client = %session.client_id(),
            user = tracing::field::Empty,
            %remote
        );
        span.in_scope(|| tracing::debug!(protocol = ?settings.protocol, "connection opened"));
        let mut io = Io {
            outbox: session.outbox(),
            stream,
            decoder: Decoder::new(settings.message_size_limit),
            writer: Writer::new(settings.protocol),
            write_timeout: settings.write_timeout,
            write_timer: None,
        };
        let input = match buffered.is_empty() {
            true => Vec::new(),
            false => {
                let mut messages = Vec::new();
                let parsed = io.decoder.feed(&mut buffered.to_vec(), &mut messages);
                input_order(messages, parsed)
            }
        };
        self.span = span;
        self.phase = Phase::Active(Active {
            io,
            session: Some(session),
            busy: None,
            input,
            user_recorded: false,
        });
    }
}

impl<H: Handler> Future for Connection<H> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Every field is Unpin (what must not move is boxed), so the connection is too.
        let this = self.get_mut();
        loop {
            let _entered = this.span.enter();
            match &mut this.phase {
                Phase::Upgrading {
                    upgrade,
                    hub,
                    settings,
                    remote,
                } => match std::task::ready!(upgrade.as_mut().poll(cx)) {
                    Some((stream, buffered)) => {
                        let (hub, settings, remote) = (hub.clone(), *settings, *remote);
                        drop(_entered);
                        this.start(&hub, stream, buffered, settings, remote);
                    }
                    None => {
                        this.phase = Phase::Done;
                        return Poll::Ready(());
                    }
                },
                Phase::Active(active) => {
                    let end = std::task::ready!(active.poll(&this.span, cx));
                    let Phase::Active(active) = std::mem::replace(&mut this.phase, Phase::Done)
                    else {
                        unreachable!("matched as active above");
                    };
                    this.phase = Phase::Closing(Box::pin(active.close(end)));
                }
                Phase::Closing(closing) => {
                    std::task::ready!(closing.as_mut().poll(cx));
                    this.phase = Phase::Done;
                    tracing::debug!("connection closed");
                    return Poll::Ready(());
                }
                Phase::Done => return Poll::Ready(()),
            }
        }
    }
}

impl<H: Handler> Active<H> {
    /// Makes all the progress it can; ready when the active phase ends.
    fn poll(&mut self, span: &tracing::Span, cx: &mut Context<'_>) -> Poll<End> {
        for _ in 0..STEPS_PER_POLL {
            // A session call in progress: finish it, writing the outbox meanwhile so a slow
            // engine call does not hold up the fan-out traffic queued for this client.
            if let Some(busy) = &mut self.busy {
                match busy.as_mut().poll(cx) {
                    Poll::Ready((session, flow)) => {
                        self.busy = None;
                        if !self.user_recorded
                            && let Some(user) = session.user()
                        {
                            span.record("user", user);
                            self.user_recorded = true;
                        }
                        self.session = Some(session);
                        if flow == Flow::Close {
                            return Poll::Ready(End::Session);
                        }
                        continue;
                    }
                    Poll::Pending => match self.io.poll_output(cx) {
                        Poll::Ready(Some(end)) => return Poll::Ready(end),
                        Poll::Ready(None) => continue,
                        Poll::Pending => return Poll::Pending,
                    },
                }
            }
            if let Some(next) = self.input.pop() {
                if self.input.is_empty() {
                    // Give the allocation back: the connection may now idle for hours.
                    self.input = Vec::new();
                }
                let message = match next {
                    Ok(message) => message,
                    Err(err) => {
                        tracing::info!(%err, "closing a connection that broke the websocket protocol");
                        self.io.outbox.close(Disconnect {
                            code: err.close_code(),
                            reason: err.to_string(),
                        });
                        return Poll::Ready(End::Session);
                    }
                };
                match message {
                    Incoming::Data { text, payload } => {
                        match self.take_session().on_data(text, payload) {
                            Handled::Call(call) => self.busy = Some(call),
                            Handled::Reply(session, kind, payload) => {
                                self.session = Some(session);
                                if let Some(end) = self.io.send(kind, payload) {
                                    return Poll::Ready(end);
                                }
                            }
                        }
                    }
                    Incoming::Ping(payload) => {
                        if let Some(end) = self.io.send(OutFrame::Pong, payload) {
                            return Poll::Ready(end);
                        }
                    }
                    Incoming::Pong => {}
                    Incoming::Close(code) => return Poll::Ready(End::PeerClosed(code)),
                }
                continue;
            }
            // Idle: the outbox first, then the client (unless the socket refuses our bytes: a
            // client that does not read must not make us queue answers to its pings; TCP
            // pushes back on it instead), then the session's events.
            match self.io.poll_output(cx) {
                Poll::Ready(Some(end)) => return Poll::Ready(end),
                Poll::Ready(None) => continue,
                Poll::Pending => {}
            }
            if !self.io.writer.is_blocked() {
                match self.io.poll_input(cx) {
                    Poll::Ready(Ok(input)) => {
                        self.input = input;
                        continue;
                    }
                    Poll::Ready(Err(end)) => return Poll::Ready(end),
                    Poll::Pending => {}
                }
            }
            let session = self
                .session
                .as_mut()
                .expect("the session is here while not busy");
            match session.poll_event(cx) {
                Poll::Ready(event) => self.start_event(event),
                Poll::Pending => return Poll::Pending,
            }
        }
        // Out of steps with work left: yield, and come back at once.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn start_event(&mut self, event: H::Event) {
        self.busy = Some(self.take_session().on_event(event));
    }

    fn take_session(&mut self) -> H {
        self.session
            .take()
            .expect("the session is here while not busy")
    }

    /// The closing phase: let a session call in progress finish, close the session, then the
    /// closing handshake.
    async fn close(self, end: End) {
        let session = match (self.busy, self.session) {
            (Some(busy), _) => busy.await.0,
            (None, Some(session)) => session,
            (None, None) => unreachable!("a session is either busy or here"),
        };
        session.close().await;
        self.io.finish(end).await;
    }
}

impl Io {
    /// Moves output along: drains the outbox onto the socket or, while the socket refuses
    /// bytes, waits for room (or the write timeout). `Ready(None)` means progress was made.
    fn poll_output(&mut self, cx: &mut Context<'_>) -> Poll<Option<End>> {
        if !self.writer.is_blocked() {
            return match self.outbox.poll_drain(cx) {
                Poll::Ready(drained) => Poll::Ready(self.write_drained(drained)),
                Poll::Pending => Poll::Pending,
            };
        }
        match self.stream.poll_write_ready(cx) {
            Poll::Ready(Ok(())) => return Poll::Ready(self.flush()),
            Poll::Ready(Err(err)) => {
                tracing::debug!(%err, "websocket socket failed");
                return Poll::Ready(Some(End::Broken));
            }
            Poll::Pending => {}
        }
        if let Some(timer) = &mut self.write_timer
            && timer.as_mut().poll(cx).is_ready()
        {
            tracing::info!("websocket write timed out");
            self.outbox.close(DisconnectCode::WRITE_ERROR.into());
            return Poll::Ready(Some(End::Broken));
        }
        Poll::Pending
    }

    /// Reads and parses what the client sent, once the socket is readable (see
    /// [`Active::input`] for the order). Reads through tokio's `poll_read`, which knows that a
    /// read shorter than the buffer drained the socket: no extra read to learn that it would
    /// block.
    fn poll_input(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Vec<Result<Incoming, FrameError>>, End>> {
        // On the stack of a plain function (never in the task's state), and not zeroed.
        let mut buf = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut buf = ReadBuf::uninit(&mut buf);
        match std::task::ready!(Pin::new(&mut self.stream).poll_read(cx, &mut buf)) {
            Ok(()) if buf.filled().is_empty() => Poll::Ready(Err(End::Gone)),
            Ok(()) => {
                let mut messages = Vec::new();
                let parsed = self.decoder.feed(buf.filled_mut(), &mut messages);
                Poll::Ready(Ok(input_order(messages, parsed)))
            }
            Err(err) => {
                tracing::debug!(%err, "websocket read failed");
                Poll::Ready(Err(End::Gone))
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
            self.write_timer = None;
        } else if self.write_timer.is_none() {
            let deadline = Instant::now() + self.write_timeout;
            self.write_timer = Some(Box::pin(tokio::time::sleep_until(deadline)));
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
        // Our close frame is out and nothing follows it: close our half of the TCP connection,
        // as RFC 6455 section 7.1.1 asks of the server, so a client that already sent its own
        // close (or broke the protocol in it) sees the end at once. Reading goes on until the
        // client's close or the end of its half.
        let _ = self.stream.shutdown().await;
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

/// What was read in the order [`Active::input`] keeps it: messages last first, after the
/// violation that ended the read, if any.
fn input_order(
    messages: Vec<Incoming>,
    parsed: Result<(), FrameError>,
) -> Vec<Result<Incoming, FrameError>> {
    let mut input: Vec<_> = parsed.err().map(Err).into_iter().collect();
    input.extend(messages.into_iter().rev().map(Ok));
    input
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
