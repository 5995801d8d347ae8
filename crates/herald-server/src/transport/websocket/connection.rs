//! One WebSocket connection, driven by one task that owns the socket and the [`Handler`] (the
//! protocol [`Session`](herald_hub::Session), or the Autobahn echo).
//!
//! The connection is a hand-written future ([`Connection`]) rather than an `async fn` with
//! `select!`: an idle connection's task then holds only its fields (socket, frame decoder,
//! writer, handler) and the wakers the socket, the outbox and the session's timer keep for it,
//! not a future for every branch of every wait. That is most of what an idle connection costs.
//! What does wait on something (a command calling the engine, the closing handshake) runs as a
//! boxed future that exists only while it runs.
//!
//! The active phase reads like a driver of named steps ([`Active::poll`]): finish the call in
//! progress (writing output meanwhile), handle what was read in arrival order, write output,
//! read, react to the handler's events.
//!
//! Idle, a connection holds no buffers either: reads go through a stack buffer in a plain
//! function, frames are parsed straight out of it, and writes go to the socket at once,
//! queueing only what the kernel does not take. Only a frame that arrives in pieces, or a
//! write the socket refuses, keeps bytes on the heap, and only until it is complete.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use herald_hub::{Disconnect, Drained, Flow, Hub, Outbox};
use herald_proto::{DisconnectCode, Protocol};
use herald_ws::{self as frame, Decoder, FrameError, Incoming, OutFrame};
use tokio::io::{AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::deflate::Deflate;
use super::handler::{Call, Handled, Handler};
use super::socket::Socket;
use super::writer::Output;
use super::writer::Writer;

/// How long a closing connection waits for the peer's close frame before dropping the socket.
/// Reading until then keeps the kernel from answering unread data with a reset that could
/// destroy our close frame in flight.
const CLOSE_LINGER: Duration = Duration::from_secs(5);

/// Bytes read per `read` call. It lives on the stack of a plain function, only while reading.
const READ_CHUNK: usize = 16 * 1024;

/// Steps (a write, a read, an event) one poll of a connection takes before it yields, so a
/// busy connection cannot hold a worker thread.
const STEPS_PER_POLL: usize = 32;

/// What a connection needs besides its socket.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) protocol: Protocol,
    pub(super) message_size_limit: usize,
    pub(super) write_timeout: Duration,
    /// How queued messages leave and how the connection ends.
    pub(super) output: Output,
    /// A message handled as if the client sent it first (uni_websocket's `?cf_connect=`).
    pub(super) first_message: Option<Bytes>,
    /// permessage-deflate, when the client negotiated it.
    pub(super) deflate: Option<Deflate>,
    /// Request headers proxies forward (empty unless some proxy lists `http_headers`).
    pub(super) proxy_headers: Vec<(String, String)>,
}

/// Why the active phase of a connection ended, which decides what the closing phase does.
#[derive(Debug)]
enum CloseCause {
    /// The outbox was closed (by the handler, or for a protocol violation) and holds the
    /// reason; its close frame is still to be sent.
    OutboxClosed,
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
pub(super) type Upgraded<S> = Option<(S, Bytes)>;

/// One WebSocket connection from the upgrade until it closes: spawn it.
pub(super) struct Connection<H: Handler, S> {
    /// `client`, `user` and `remote` for every event of the connection (none while upgrading).
    span: tracing::Span,
    phase: Phase<H, S>,
}

// Not boxed on purpose: the active phase is where a connection spends its life, and boxing it
// would add an allocation (and its header) to every connection.
#[allow(clippy::large_enum_variant)]
enum Phase<H: Handler, S> {
    /// Waiting for the HTTP layer to hand over the socket.
    Upgrading {
        upgrade: Pin<Box<dyn Future<Output = Upgraded<S>> + Send>>,
        hub: Hub,
        settings: Settings,
        params: H::Params,
        remote: SocketAddr,
    },
    /// Client frames into the handler, the outbox onto the socket.
    Active(Active<H, S>),
    /// The handler is closing and the closing handshake is under way.
    Closing(Pin<Box<dyn Future<Output = ()> + Send>>),
    Done,
}

/// The connection's life between the upgrade and the close.
struct Active<H, S> {
    socket: FramedSocket<S>,
    /// `None` while `call` owns it.
    handler: Option<H>,
    /// The handler's call in progress; the next input waits for it, so a connection's commands
    /// run in order.
    call: Option<Call<H>>,
    /// What was read but not handled yet, in arrival order. A protocol violation comes last,
    /// after the messages read before it; nothing is read while this is not empty.
    input: VecDeque<Result<Incoming, FrameError>>,
    user_recorded: bool,
}

/// The socket with its frame decoder and writer, and the outbox it drains: what the closing
/// phase keeps after the handler is gone.
struct FramedSocket<S> {
    stream: S,
    /// The handler's outbox, also drained after the handler is gone (the closing frames).
    outbox: Arc<Outbox>,
    decoder: Decoder,
    writer: Writer,
    write_timeout: Duration,
    /// Fires when the write the socket is refusing has waited `write_timeout` (3009); only
    /// while the socket refuses bytes.
    write_timer: Option<Pin<Box<Sleep>>>,
}

impl<H: Handler, S: Socket> Connection<H, S> {
    /// A connection whose socket `upgrade` hands over. Everything waits inside this one future
    /// (also the upgrade), so the task holds nothing beside it.
    pub(super) fn upgrading(
        upgrade: impl Future<Output = Upgraded<S>> + Send + 'static,
        hub: Hub,
        settings: Settings,
        params: H::Params,
        remote: SocketAddr,
    ) -> Self {
        Self {
            span: tracing::Span::none(),
            phase: Phase::Upgrading {
                upgrade: Box::pin(upgrade),
                hub,
                settings,
                params,
                remote,
            },
        }
    }

    /// Starts serving `stream`. `buffered` holds bytes the HTTP layer read past the upgrade
    /// request.
    fn start(
        &mut self,
        hub: &Hub,
        stream: S,
        buffered: Bytes,
        settings: Settings,
        params: H::Params,
        remote: SocketAddr,
    ) {
        let handler = H::open(hub, settings.protocol, settings.proxy_headers, params);
        handler.outbox().set_remote_ip(remote.ip());
        let span = tracing::debug_span!(
            "client",
            client = %handler.client_id(),
            user = tracing::field::Empty,
            %remote
        );
        span.in_scope(|| tracing::debug!(protocol = ?settings.protocol, "connection opened"));
        let mut socket = FramedSocket {
            outbox: handler.outbox(),
            stream,
            decoder: match settings.deflate {
                Some(_) => Decoder::with_deflate(settings.message_size_limit),
                None => Decoder::new(settings.message_size_limit),
            },
            writer: Writer::new(settings.protocol, settings.deflate, settings.output),
            write_timeout: settings.write_timeout,
            write_timer: None,
        };
        let mut input = match buffered.is_empty() {
            true => VecDeque::new(),
            false => socket.parse(&mut buffered.to_vec()),
        };
        if let Some(payload) = settings.first_message {
            input.push_front(Ok(Incoming::Data {
                text: true,
                payload,
            }));
        }
        self.span = span;
        self.phase = Phase::Active(Active {
            socket,
            handler: Some(handler),
            call: None,
            input,
            user_recorded: false,
        });
    }
}

impl<H: Handler, S: Socket> Future for Connection<H, S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Every field is Unpin (what must not move is boxed), so the connection is too.
        let this = self.get_mut();
        loop {
            let _entered = this.span.enter();
            match &mut this.phase {
                Phase::Upgrading { upgrade, .. } => {
                    match std::task::ready!(upgrade.as_mut().poll(cx)) {
                        Some((stream, buffered)) => {
                            drop(_entered);
                            let Phase::Upgrading {
                                hub,
                                settings,
                                params,
                                remote,
                                ..
                            } = std::mem::replace(&mut this.phase, Phase::Done)
                            else {
                                unreachable!("matched as upgrading above");
                            };
                            this.start(&hub, stream, buffered, settings, params, remote);
                        }
                        None => {
                            this.phase = Phase::Done;
                            return Poll::Ready(());
                        }
                    }
                }
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

/// What one step of the active phase did.
enum Step {
    /// Something moved: take another step.
    Progress,
    /// Nothing to do until a waker fires.
    Wait,
    /// The active phase is over.
    End(CloseCause),
}

impl<H: Handler, S: Socket> Active<H, S> {
    /// Makes all the progress it can; ready when the active phase ends. One step at a time,
    /// in this order: finish the call in progress (writing output meanwhile), handle what was
    /// read, write output, read, react to the handler's events.
    fn poll(&mut self, span: &tracing::Span, cx: &mut Context<'_>) -> Poll<CloseCause> {
        for _ in 0..STEPS_PER_POLL {
            let step = if let Some(call) = &mut self.call {
                match call.as_mut().poll(cx) {
                    Poll::Ready(done) => self.finish_call(span, done),
                    // While the call waits (on the engine, say), write the outbox so a slow
                    // call does not hold up the fan-out traffic queued for this client.
                    Poll::Pending => self.drive_output(cx),
                }
            } else if let Some(input) = self.next_input() {
                self.handle_input(input)
            } else {
                self.drive_idle(cx)
            };
            match step {
                Step::Progress => continue,
                Step::Wait => return Poll::Pending,
                Step::End(cause) => return Poll::Ready(cause),
            }
        }
        // Out of steps with work left: yield, and come back at once.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// The call in progress is done: the handler is back, and says whether to go on.
    fn finish_call(&mut self, span: &tracing::Span, (handler, flow): (H, Flow)) -> Step {
        self.call = None;
        if !self.user_recorded
            && let Some(user) = handler.user()
        {
            span.record("user", user);
            self.user_recorded = true;
        }
        self.handler = Some(handler);
        match flow {
            Flow::Continue => Step::Progress,
            Flow::Close => Step::End(CloseCause::OutboxClosed),
        }
    }

    /// The oldest message read and not handled yet.
    fn next_input(&mut self) -> Option<Result<Incoming, FrameError>> {
        let next = self.input.pop_front();
        if next.is_some() && self.input.is_empty() {
            // Give the allocation back: the connection may now idle for hours.
            self.input = VecDeque::new();
        }
        next
    }

    /// Hands a data message to the handler, answers a ping, notes a close; a protocol
    /// violation closes the connection with its code.
    fn handle_input(&mut self, input: Result<Incoming, FrameError>) -> Step {
        let message = match input {
            Ok(message) => message,
            Err(err) => {
                tracing::info!(%err, "closing a connection that broke the websocket protocol");
                self.socket.outbox.close(Disconnect {
                    code: err.close_code(),
                    reason: err.to_string(),
                });
                return Step::End(CloseCause::OutboxClosed);
            }
        };
        match message {
            Incoming::Data { text, payload } => match self.take_handler().on_data(text, payload) {
                Handled::Call(call) => self.call = Some(call),
                Handled::Reply(handler, kind, payload) => {
                    self.handler = Some(handler);
                    let written =
                        self.socket
                            .writer
                            .send_message(&self.socket.stream, kind, payload);
                    return self.socket.after_write(written);
                }
            },
            Incoming::Ping(payload) => return self.socket.send(OutFrame::Pong, payload),
            Incoming::Pong => {}
            Incoming::Close(code) => return Step::End(CloseCause::PeerClosed(code)),
        }
        Step::Progress
    }

    /// Nothing read is waiting and no call is in progress: the outbox first, then the client
    /// (unless the socket refuses our bytes: a client that does not read must not make us
    /// queue answers to its pings; TCP pushes back on it instead), then the handler's events.
    fn drive_idle(&mut self, cx: &mut Context<'_>) -> Step {
        match self.drive_output(cx) {
            Step::Wait => {}
            step => return step,
        }
        if !self.socket.writer.is_blocked() {
            match self.socket.poll_read(cx) {
                Poll::Ready(Read::Frames(input)) => {
                    self.input = input;
                    return Step::Progress;
                }
                Poll::Ready(Read::Eof) => return Step::End(CloseCause::Gone),
                Poll::Ready(Read::Failed(err)) => {
                    tracing::debug!(%err, "websocket read failed");
                    return Step::End(CloseCause::Gone);
                }
                Poll::Pending => {}
            }
        }
        let handler = self
            .handler
            .as_mut()
            .expect("the handler is here while no call runs");
        match handler.poll_event(cx) {
            Poll::Ready(event) => {
                self.call = Some(self.take_handler().on_event(event));
                Step::Progress
            }
            Poll::Pending => Step::Wait,
        }
    }

    fn drive_output(&mut self, cx: &mut Context<'_>) -> Step {
        self.socket.poll_output(cx)
    }

    fn take_handler(&mut self) -> H {
        self.handler
            .take()
            .expect("the handler is here while no call runs")
    }

    /// The closing phase: let a call in progress finish, close the handler, then the closing
    /// handshake.
    async fn close(self, cause: CloseCause) {
        let handler = match (self.call, self.handler) {
            (Some(call), _) => call.await.0,
            (None, Some(handler)) => handler,
            (None, None) => unreachable!("the handler is either in its call or here"),
        };
        handler.close().await;
        self.socket.finish(cause).await;
    }
}

/// What one read from the socket gave.
enum Read {
    /// Bytes arrived and were parsed: the whole messages among them (possibly none yet), in
    /// arrival order, then the violation that stopped the parse, if any.
    Frames(VecDeque<Result<Incoming, FrameError>>),
    /// The client closed its side of the stream.
    Eof,
    /// The socket failed.
    Failed(io::Error),
}

impl<S: Socket> FramedSocket<S> {
    /// Moves output along: drains the outbox onto the socket or, while the socket refuses
    /// bytes, waits for room (or the write timeout).
    fn poll_output(&mut self, cx: &mut Context<'_>) -> Step {
        if !self.writer.is_blocked() {
            return match self.outbox.poll_drain(cx) {
                Poll::Ready(drained) => self.write_drained(drained),
                Poll::Pending => Step::Wait,
            };
        }
        match self.stream.poll_write_ready(cx) {
            Poll::Ready(Ok(())) => return self.flush(),
            Poll::Ready(Err(err)) => {
                tracing::debug!(%err, "websocket socket failed");
                return Step::End(CloseCause::Broken);
            }
            Poll::Pending => {}
        }
        if let Some(timer) = &mut self.write_timer
            && timer.as_mut().poll(cx).is_ready()
        {
            tracing::info!("websocket write timed out");
            herald_hub::metrics::count_overflow(herald_hub::metrics::Queue::WriteBacklog);
            self.outbox.close(DisconnectCode::WRITE_ERROR.into());
            return Step::End(CloseCause::Broken);
        }
        Step::Wait
    }

    /// Reads what the client sent, once the socket is readable, and parses it. The one read
    /// path of a connection, active or closing. Reads through tokio's `poll_read`, which knows
    /// that a read shorter than the buffer drained the socket: no extra read to learn that it
    /// would block.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Read> {
        // On the stack of a plain function (never in the task's state), and not zeroed.
        let mut buf = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut buf = ReadBuf::uninit(&mut buf);
        Poll::Ready(
            match std::task::ready!(Pin::new(&mut self.stream).poll_read(cx, &mut buf)) {
                Ok(()) if buf.filled().is_empty() => Read::Eof,
                Ok(()) => Read::Frames(self.parse(buf.filled_mut())),
                Err(err) => Read::Failed(err),
            },
        )
    }

    /// Parses `bytes` (unmasked in place) into messages in arrival order, then the violation
    /// that stopped the parse, if any.
    fn parse(&mut self, bytes: &mut [u8]) -> VecDeque<Result<Incoming, FrameError>> {
        let mut messages = Vec::new();
        let parsed = self.decoder.feed(bytes, &mut messages);
        let mut input: VecDeque<_> = messages.into_iter().map(Ok).collect();
        if let Err(err) = parsed {
            input.push_back(Err(err));
        }
        input
    }

    /// Writes what the outbox gave: its messages as one frame, then the close frame when the
    /// outbox is closed.
    fn write_drained(&mut self, drained: Drained) -> Step {
        match drained {
            Drained::Messages(messages) => {
                let written = self.writer.send_messages(&self.stream, &messages);
                self.after_write(written)
            }
            Drained::Close(mut messages, disconnect) => {
                messages.extend(self.writer.disconnect_push(&disconnect));
                if !messages.is_empty() {
                    let written = self.writer.send_messages(&self.stream, &messages);
                    if let Step::End(cause) = self.after_write(written) {
                        return Step::End(cause);
                    }
                }
                let payload = self.writer.close_payload(&disconnect);
                match self.send(OutFrame::Close, payload) {
                    Step::End(cause) => Step::End(cause),
                    _ => Step::End(CloseCause::CloseSent),
                }
            }
        }
    }

    /// Writes a frame (or queues it behind a refused write) and arms the write timeout when
    /// the socket refuses bytes.
    fn send(&mut self, kind: OutFrame, payload: Bytes) -> Step {
        let written = self.writer.send(&self.stream, kind, payload);
        self.after_write(written)
    }

    fn flush(&mut self) -> Step {
        let written = self.writer.flush(&self.stream);
        self.after_write(written)
    }

    /// Arms or clears the write timeout after a write; a failed write closes with 3009.
    fn after_write(&mut self, written: io::Result<()>) -> Step {
        match written {
            Ok(()) => {
                self.arm_write_deadline();
                Step::Progress
            }
            Err(err) => {
                tracing::debug!(%err, "websocket write failed");
                self.outbox.close(DisconnectCode::WRITE_ERROR.into());
                Step::End(CloseCause::Broken)
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
    async fn finish(mut self, cause: CloseCause) {
        let linger_deadline = Instant::now() + CLOSE_LINGER;
        match cause {
            CloseCause::Broken | CloseCause::Gone => return,
            CloseCause::PeerClosed(code) => {
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
            CloseCause::OutboxClosed => {
                if !self.write_closing_frames(linger_deadline).await {
                    return;
                }
            }
            CloseCause::CloseSent => {
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
        // The handler is closed, so draining returns at once with the close reason.
        let (mut messages, disconnect) =
            match tokio::time::timeout_at(deadline, self.outbox_drain()).await {
                Ok(Some(pair)) => pair,
                _ => return false,
            };
        messages.extend(self.writer.disconnect_push(&disconnect));
        if !messages.is_empty() && self.writer.send_messages(&self.stream, &messages).is_err() {
            return false;
        }
        let payload = self.writer.close_payload(&disconnect);
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
            let writable = std::future::poll_fn(|cx| self.stream.poll_write_ready(cx));
            match tokio::time::timeout_at(deadline, writable).await {
                Ok(ready) => ready?,
                Err(_) => return Err(io::ErrorKind::TimedOut.into()),
            }
        }
    }

    /// Reads until the client's close frame, the end of the stream or an error.
    async fn await_peer_close(&mut self) {
        loop {
            let Read::Frames(input) = std::future::poll_fn(|cx| self.poll_read(cx)).await else {
                return;
            };
            if input
                .iter()
                .any(|read| matches!(read, Ok(Incoming::Close(_)) | Err(_)))
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use herald_engine::memory::MemoryEngine;
    use herald_hub::{
        ConnectTokenClaims, NodeOptions, SubscribeTokenClaims, TokenError, TokenVerifier,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::{mpsc, oneshot};

    use super::*;

    /// What the test controls of the one [`Gated`] handler alive at a time.
    struct Gate {
        /// Told the handler's outbox when a message starting with `wait` starts its call.
        started: mpsc::UnboundedSender<Arc<Outbox>>,
        /// The `wait` call finishes once this fires.
        release: Option<oneshot::Receiver<()>>,
    }

    static GATE: Mutex<Option<Gate>> = Mutex::new(None);

    /// Echoes every message through its outbox from a call; a message starting with `wait`
    /// holds its call until the test releases it, as a command waiting on the engine does.
    struct Gated {
        outbox: Arc<Outbox>,
    }

    impl Handler for Gated {
        type Event = std::convert::Infallible;
        type Params = ();

        fn open(_hub: &Hub, protocol: Protocol, _headers: Vec<(String, String)>, (): ()) -> Self {
            Self {
                outbox: Arc::new(Outbox::new(protocol, 1 << 20)),
            }
        }

        fn client_id(&self) -> &str {
            "gated"
        }

        fn user(&self) -> Option<&str> {
            None
        }

        fn outbox(&self) -> Arc<Outbox> {
            self.outbox.clone()
        }

        fn on_data(self, _text: bool, payload: Bytes) -> Handled<Self> {
            Handled::Call(Box::pin(async move {
                if payload.starts_with(b"wait") {
                    let release = {
                        let mut gate = GATE.lock().expect("gate lock");
                        let gate = gate.as_mut().expect("the test set the gate");
                        let _ = gate.started.send(self.outbox.clone());
                        gate.release.take().expect("one waiting message")
                    };
                    let _ = release.await;
                }
                let _ = self.outbox.push(payload);
                (self, Flow::Continue)
            }))
        }

        fn poll_event(&mut self, _cx: &mut Context<'_>) -> Poll<Self::Event> {
            Poll::Pending
        }

        fn on_event(self, event: Self::Event) -> Call<Self> {
            match event {}
        }

        async fn close(self) {
            self.outbox.close(DisconnectCode::CONNECTION_CLOSED.into());
        }
    }

    struct NoTokens;

    impl TokenVerifier for NoTokens {
        fn verify_connect_token(&self, _: &str) -> Result<ConnectTokenClaims, TokenError> {
            Err(TokenError::Invalid("no tokens in this test".into()))
        }

        fn verify_subscribe_token(&self, _: &str) -> Result<SubscribeTokenClaims, TokenError> {
            Err(TokenError::Invalid("no tokens in this test".into()))
        }
    }

    /// A masked client text frame.
    fn client_text(payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let mut frame = vec![0x81, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        frame
    }

    /// Reads server text frames until `count` messages (newline-separated) have arrived.
    async fn read_messages(client: &mut TcpStream, count: usize) -> Vec<String> {
        let mut messages = Vec::new();
        let mut buf = Vec::new();
        while messages.len() < count {
            let mut chunk = [0u8; 1024];
            let read = tokio::time::timeout(Duration::from_secs(10), client.read(&mut chunk))
                .await
                .expect("the server answers")
                .expect("read");
            assert_ne!(read, 0, "the server closed early, after {messages:?}");
            buf.extend_from_slice(&chunk[..read]);
            // Unmasked server frames with short payloads: 0x81, length, payload.
            while let [0x81, len, rest @ ..] = &buf[..] {
                let len = usize::from(*len);
                if rest.len() < len {
                    break;
                }
                let payload = String::from_utf8(rest[..len].to_vec()).expect("utf-8");
                messages.extend(payload.split('\n').map(str::to_owned));
                buf.drain(..2 + len);
            }
        }
        messages
    }

    #[tokio::test]
    async fn commands_wait_in_order_while_the_outbox_keeps_flowing() {
        let (started, mut started_rx) = mpsc::unbounded_channel();
        let (release, release_rx) = oneshot::channel();
        *GATE.lock().expect("gate lock") = Some(Gate {
            started,
            release: Some(release_rx),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (stream, remote) = listener.accept().await.expect("accept");
        let engine = Arc::new(MemoryEngine::new());
        let hub = Hub::new(
            NodeOptions::default(),
            engine.clone(),
            engine,
            Arc::new(NoTokens),
        );
        let settings = Settings {
            protocol: Protocol::Json,
            message_size_limit: 1024,
            write_timeout: Duration::from_secs(10),
            output: Output::BIDIRECTIONAL,
            first_message: None,
            deflate: None,
            proxy_headers: Vec::new(),
        };
        let upgraded = async move { Some((stream, Bytes::new())) };
        let connection = tokio::spawn(Connection::<Gated, TcpStream>::upgrading(
            upgraded,
            hub,
            settings,
            (),
            remote,
        ));

        // Three commands in one write; the first waits.
        let mut bytes = client_text(b"wait-1");
        bytes.extend(client_text(b"2"));
        bytes.extend(client_text(b"3"));
        client.write_all(&bytes).await.expect("write");
        let outbox = tokio::time::timeout(Duration::from_secs(10), started_rx.recv())
            .await
            .expect("the first command started")
            .expect("its outbox");

        // While it waits, what is queued for the client (fan-out, say) still goes out, and
        // nothing of the commands behind it has run.
        outbox.push(Bytes::from_static(b"fan-out")).expect("open");
        assert_eq!(read_messages(&mut client, 1).await, ["fan-out"]);

        release.send(()).expect("the call waits");
        assert_eq!(read_messages(&mut client, 3).await, ["wait-1", "2", "3"]);

        client.shutdown().await.expect("close our side");
        tokio::time::timeout(Duration::from_secs(10), connection)
            .await
            .expect("the connection ends when the client goes")
            .expect("no panic");
    }
}
