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
//!
//! Idle, a connection also lends its socket to its outbox (when nothing is left to write and
//! frames go out uncompressed): a publication then reaches the socket from the fan-out loop
//! without waking this task. Each poll takes the socket back first, so the task never reads or
//! writes while the outbox may (see `herald_hub::DirectSink` for the ordering rules).

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
use super::socket::{Lent, Socket};
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
    /// `client.write_delay` and `client.max_messages_in_frame`.
    pub(super) batching: Batching,
    /// A message handled as if the client sent it first (uni_websocket's `?cf_connect=`).
    pub(super) first_message: Option<Bytes>,
    /// permessage-deflate, when the client negotiated it.
    pub(super) deflate: Option<Deflate>,
    /// Request headers proxies forward (empty unless some proxy lists `http_headers`).
    pub(super) proxy_headers: Vec<(String, String)>,
}

/// How long a connection collects messages before writing them, and how many share a frame.
#[derive(Debug, Clone, Copy)]
pub(super) struct Batching {
    /// Zero: write at once (and lend the idle socket to the outbox).
    pub(super) write_delay: Duration,
    /// `None`: no limit.
    pub(super) max_in_frame: Option<usize>,
}

impl Batching {
    /// Every message at once, frames joined without limit (the Pusher endpoint's writer does
    /// not join at all).
    pub(super) const NONE: Self = Self {
        write_delay: Duration::ZERO,
        max_in_frame: None,
    };

    /// What `client.*` asks for.
    pub(super) fn of(client: &herald_hub::ClientOptions) -> Self {
        Self {
            write_delay: client.write_delay,
            max_in_frame: client.max_messages_in_frame,
        }
    }
}

/// A connection that collects messages for `client.write_delay` before writing them.
struct Collect {
    delay: Duration,
    /// Most messages joined into one frame: that many queued are written at once.
    full: usize,
    /// Counts down the current batch's delay; reset for each batch.
    timer: Pin<Box<Sleep>>,
    /// `timer` is counting down a batch.
    running: bool,
}

impl Collect {
    fn new(batching: Batching) -> Option<Box<Self>> {
        (!batching.write_delay.is_zero()).then(|| {
            Box::new(Self {
                delay: batching.write_delay,
                full: batching.max_in_frame.unwrap_or(usize::MAX),
                timer: Box::pin(tokio::time::sleep(batching.write_delay)),
                running: false,
            })
        })
    }

    /// Whether the queued messages are to be written now: the delay since the first of them
    /// is over, or the outbox says not to wait (a close, a reply that skips the delay, a full
    /// frame). Starts the delay at a batch's first message.
    fn is_due(&mut self, outbox: &Outbox, cx: &mut Context<'_>) -> bool {
        match outbox.poll_batch(cx, self.full) {
            herald_hub::Batch::Empty => return false,
            herald_hub::Batch::Now => {
                self.running = false;
                return true;
            }
            herald_hub::Batch::Collect => {}
        }
        if !self.running {
            self.timer.as_mut().reset(Instant::now() + self.delay);
            self.running = true;
        }
        if self.timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        self.running = false;
        true
    }
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
    /// after the messages read before it; nothing is read while this is not empty. Boxed
    /// (8 bytes instead of 32) and `None` when empty: every idle connection carries the field.
    #[allow(
        clippy::box_collection,
        reason = "the box is the point: 8 bytes while empty"
    )]
    input: Option<Box<Input>>,
    user_recorded: bool,
}

/// The socket with its frame decoder and writer, and the outbox it drains: what the closing
/// phase keeps after the handler is gone.
struct FramedSocket<S> {
    /// Shared with the outbox only while lent ([`FramedSocket::lend`]); the task's own
    /// reads and writes happen after [`FramedSocket::reclaim`].
    stream: Arc<Lent<S>>,
    /// The outbox may hold the socket (it was lent and not yet taken back).
    lent: bool,
    /// `client.write_delay` at work; `None` (no allocation) when writes leave at once.
    collect: Option<Box<Collect>>,
    /// The handler's outbox, also drained after the handler is gone (the closing frames).
    outbox: Arc<Outbox>,
    decoder: Decoder,
    writer: Writer,
    /// `websocket.write_timeout` in milliseconds: a `u32` (49 days), as every connection
    /// carries it.
    write_timeout_ms: u32,
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
            stream: Arc::new(Lent(stream)),
            lent: false,
            collect: Collect::new(settings.batching),
            decoder: match settings.deflate {
                Some(_) => Decoder::with_deflate(settings.message_size_limit),
                None => Decoder::new(settings.message_size_limit),
            },
            writer: Writer::new(
                settings.protocol,
                settings.deflate,
                settings.output,
                settings.batching.max_in_frame,
            ),
            write_timeout_ms: u32::try_from(settings.write_timeout.as_millis().max(1))
                .unwrap_or(u32::MAX),
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
            input: boxed_input(input),
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

/// Messages read and not handled yet, oldest first, then the violation that stopped a parse.
type Input = VecDeque<Result<Incoming, FrameError>>;

/// `input` boxed, or `None` when there is nothing in it.
fn boxed_input(input: Input) -> Option<Box<Input>> {
    (!input.is_empty()).then(|| Box::new(input))
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
        self.socket.reclaim();
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
                // Something arrived for the writer since it looked: take another step.
                Step::Wait if !self.socket.lend() => continue,
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
        let input = self.input.as_mut()?;
        let next = input.pop_front();
        if input.is_empty() {
            // Give the allocation back: the connection may now idle for hours.
            self.input = None;
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
                            .send_message(&self.socket.stream.0, kind, payload);
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
                    self.input = boxed_input(input);
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
    /// Takes the socket back from the outbox, and the rest of a frame a direct write began,
    /// which goes out before anything else. Only when it was lent: a poll of a connection that
    /// did not lend (its channels queue, say) takes no lock for it.
    fn reclaim(&mut self) {
        if !std::mem::take(&mut self.lent) {
            return;
        }
        if let Some(unsent) = self.outbox.reclaim() {
            self.writer.resume(unsent);
            self.arm_write_deadline();
        }
    }

    /// Lends the socket to the outbox before the task waits (a call in progress included:
    /// the task takes the socket back whenever it runs), when nothing of the writer's is
    /// pending; false when the outbox has something to write after all, and the task goes on
    /// instead of waiting.
    ///
    /// Only a socket whose frames go out as the outbox holds them (no compression) and at
    /// once (no write delay) is lent.
    fn lend(&mut self) -> bool {
        if self.collect.is_some() || self.writer.compresses() || self.writer.is_blocked() {
            return true;
        }
        let stream = &self.stream;
        match self.outbox.lend(|| stream.clone()) {
            herald_hub::Lend::Lent => {
                self.lent = true;
                true
            }
            herald_hub::Lend::NotNow => true,
            herald_hub::Lend::Busy => false,
        }
    }

    fn write_timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.write_timeout_ms))
    }

    /// The socket, for the task's own reads and shutdown.
    fn stream_mut(&mut self) -> &mut S {
        &mut Arc::get_mut(&mut self.stream)
            .expect("the socket is taken back from the outbox before the task uses it")
            .0
    }

    /// Moves output along: drains the outbox onto the socket or, while the socket refuses
    /// bytes, waits for room (or the write timeout).
    fn poll_output(&mut self, cx: &mut Context<'_>) -> Step {
        if !self.writer.is_blocked() {
            if let Some(collect) = &mut self.collect
                && !collect.is_due(&self.outbox, cx)
            {
                return Step::Wait;
            }
            return match self.outbox.poll_drain(cx) {
                Poll::Ready(drained) => self.write_drained(drained),
                Poll::Pending => Step::Wait,
            };
        }
        match self.stream.0.poll_write_ready(cx) {
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
            match std::task::ready!(Pin::new(self.stream_mut()).poll_read(cx, &mut buf)) {
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
                let written = self.writer.send_messages(&self.stream.0, &messages);
                self.after_write(written)
            }
            Drained::Close(mut messages, disconnect) => {
                messages.extend(self.writer.disconnect_push(&disconnect));
                if !messages.is_empty() {
                    let written = self.writer.send_messages(&self.stream.0, &messages);
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
        let written = self.writer.send(&self.stream.0, kind, payload);
        self.after_write(written)
    }

    fn flush(&mut self) -> Step {
        let written = self.writer.flush(&self.stream.0);
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
            let deadline = Instant::now() + self.write_timeout();
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
                    .send(&self.stream.0, OutFrame::Close, payload)
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
        let _ = self.stream_mut().shutdown().await;
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
        if !messages.is_empty()
            && self
                .writer
                .send_messages(&self.stream.0, &messages)
                .is_err()
        {
            return false;
        }
        let payload = self.writer.close_payload(&disconnect);
        if self
            .writer
            .send(&self.stream.0, OutFrame::Close, payload)
            .is_err()
        {
            return false;
        }
        let write_deadline = deadline.min(Instant::now() + self.write_timeout());
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
            self.writer.flush(&self.stream.0)?;
            if !self.writer.is_blocked() {
                return Ok(());
            }
            let writable = std::future::poll_fn(|cx| self.stream.0.poll_write_ready(cx));
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

    /// What the test controls of the one [`Gated`] handler alive at a time (the tests that
    /// use it hold `GATE_SERIAL`).
    #[derive(Default)]
    struct Gate {
        /// Told the handler's outbox when the connection opens, for a test that feeds it.
        opened: Option<mpsc::UnboundedSender<Arc<Outbox>>>,
        /// Told the handler's outbox when a message starting with `wait` starts its call.
        started: Option<mpsc::UnboundedSender<Arc<Outbox>>>,
        /// The `wait` call finishes once this fires.
        release: Option<oneshot::Receiver<()>>,
    }

    static GATE: Mutex<Option<Gate>> = Mutex::new(None);

    /// The tests that use `Gated` run one at a time: they share `GATE`.
    static GATE_SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    /// Echoes every message through its outbox from a call; a message starting with `wait`
    /// holds its call until the test releases it, as a command waiting on the engine does.
    struct Gated {
        outbox: Arc<Outbox>,
    }

    impl Handler for Gated {
        type Event = std::convert::Infallible;
        type Params = ();

        fn open(_hub: &Hub, protocol: Protocol, _headers: Vec<(String, String)>, (): ()) -> Self {
            // Room for everything a test pushes: the queue must not overflow while the client
            // does not read.
            let outbox = Arc::new(Outbox::new(protocol, 64 << 20));
            let gate = GATE.lock().expect("gate lock");
            if let Some(opened) = gate.as_ref().and_then(|gate| gate.opened.as_ref()) {
                let _ = opened.send(outbox.clone());
            }
            Self { outbox }
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
                        let started = gate.started.as_ref().expect("the test waits for it");
                        let _ = started.send(self.outbox.clone());
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
        read_frames(client, count).await.concat()
    }

    /// Reads server text frames until `count` messages have arrived; the messages of each
    /// frame.
    async fn read_frames(client: &mut TcpStream, count: usize) -> Vec<Vec<String>> {
        let mut frames: Vec<Vec<String>> = Vec::new();
        let mut buf = Vec::new();
        while frames.iter().map(Vec::len).sum::<usize>() < count {
            let mut chunk = [0u8; 16 * 1024];
            let read = tokio::time::timeout(Duration::from_secs(30), client.read(&mut chunk))
                .await
                .expect("the server answers")
                .expect("read");
            assert_ne!(read, 0, "the server closed early, after {frames:?}");
            buf.extend_from_slice(&chunk[..read]);
            // Unmasked server text frames: 0x81, a 7-bit length (126: 16 bits follow, 127: 64
            // bits), the payload.
            while let [0x81, len, rest @ ..] = &buf[..] {
                let (len, header) = match *len {
                    126 if rest.len() >= 2 => {
                        (usize::from(u16::from_be_bytes([rest[0], rest[1]])), 4)
                    }
                    127 if rest.len() >= 8 => {
                        let bytes = rest[..8].try_into().expect("eight bytes");
                        (
                            usize::try_from(u64::from_be_bytes(bytes)).expect("fits"),
                            10,
                        )
                    }
                    126 | 127 => break,
                    short => (usize::from(short), 2),
                };
                if buf.len() < header + len {
                    break;
                }
                let payload = String::from_utf8(buf[header..header + len].to_vec()).expect("utf-8");
                frames.push(payload.split('\n').map(str::to_owned).collect());
                buf.drain(..header + len);
            }
            assert!(
                buf.first().is_none_or(|first| *first == 0x81),
                "a text frame starts at {buf:?}"
            );
        }
        frames
    }

    /// A connection served by handler `H` over a real loopback socket, and the client's end.
    async fn serve<H: Handler<Params = ()>>(
        batching: Batching,
    ) -> (TcpStream, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr"))
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
            batching,
            first_message: None,
            deflate: None,
            proxy_headers: Vec::new(),
        };
        let upgraded = async move { Some((stream, Bytes::new())) };
        let connection = tokio::spawn(Connection::<H, TcpStream>::upgrading(
            upgraded,
            hub,
            settings,
            (),
            remote,
        ));
        (client, connection)
    }

    #[tokio::test]
    async fn commands_wait_in_order_while_the_outbox_keeps_flowing() {
        let (started, mut started_rx) = mpsc::unbounded_channel();
        let (release, release_rx) = oneshot::channel();
        let _serial = GATE_SERIAL.lock().await;
        *GATE.lock().expect("gate lock") = Some(Gate {
            started: Some(started),
            release: Some(release_rx),
            ..Gate::default()
        });
        let (mut client, connection) = serve::<Gated>(Batching::NONE).await;

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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn direct_writes_never_overtake_queued_messages() {
        // Numbered messages pushed from another thread, as the fan-out does, while the client
        // first does not read (the socket fills: direct writes are refused or cut short and
        // the rest queues), then reads everything (the task flushes and lends the socket
        // again). Every message must arrive once, in push order.
        const MESSAGES: usize = 40_000;
        let _serial = GATE_SERIAL.lock().await;
        let (mut client, connection, outbox) = fed(Batching::NONE).await;
        let pusher = std::thread::spawn(move || {
            for seq in 0..MESSAGES {
                // 100 bytes: a short frame, and 4 MB in all, more than the socket buffers.
                let message = format!("{seq:0>100}");
                outbox
                    .push(Bytes::from(message))
                    .expect("the queue stays open");
                if seq % 1_000 == 0 {
                    std::thread::yield_now();
                }
            }
            outbox
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let received = read_messages(&mut client, MESSAGES).await;
        let outbox = pusher.join().expect("the pusher finished");
        let expected: Vec<String> = (0..MESSAGES).map(|seq| format!("{seq:0>100}")).collect();
        assert_eq!(received.len(), MESSAGES);
        if let Some(at) = received
            .iter()
            .zip(&expected)
            .position(|(got, want)| got != want)
        {
            panic!(
                "message {at} out of order: got {}, want {}",
                received[at].trim_start_matches('0'),
                expected[at].trim_start_matches('0')
            );
        }
        outbox.close(DisconnectCode::SHUTDOWN.into());
        drop(client);
        tokio::time::timeout(Duration::from_secs(10), connection)
            .await
            .expect("the connection ends")
            .expect("no panic");
    }

    /// A connection with `batching` whose outbox the test feeds (the client sends nothing,
    /// so `Gated` never echoes): its client end, the connection task and its outbox. The
    /// caller holds `GATE_SERIAL`.
    async fn fed(batching: Batching) -> (TcpStream, tokio::task::JoinHandle<()>, Arc<Outbox>) {
        let (opened, mut opened_rx) = mpsc::unbounded_channel();
        *GATE.lock().expect("gate lock") = Some(Gate {
            opened: Some(opened),
            ..Gate::default()
        });
        let (client, connection) = serve::<Gated>(batching).await;
        let outbox = tokio::time::timeout(Duration::from_secs(10), opened_rx.recv())
            .await
            .expect("the connection opened")
            .expect("its outbox");
        (client, connection, outbox)
    }

    fn push_numbered(outbox: &Outbox, range: std::ops::Range<usize>) {
        for n in range {
            outbox.push(Bytes::from(n.to_string())).expect("open");
        }
    }

    #[tokio::test]
    async fn a_write_delay_joins_a_batch_into_frames_of_at_most_max_messages() {
        let _serial = GATE_SERIAL.lock().await;
        let batching = Batching {
            write_delay: Duration::from_millis(200),
            max_in_frame: Some(4),
        };
        let (mut client, connection, outbox) = fed(batching).await;
        // Ten messages pushed well within the delay leave together: frames of 4, 4 and 2.
        push_numbered(&outbox, 0..10);
        let frames = read_frames(&mut client, 10).await;
        let sizes: Vec<usize> = frames.iter().map(Vec::len).collect();
        assert_eq!(sizes, [4, 4, 2]);
        assert_eq!(
            frames.concat(),
            (0..10).map(|n| n.to_string()).collect::<Vec<_>>()
        );
        outbox.close(DisconnectCode::SHUTDOWN.into());
        drop(client);
        connection.await.expect("no panic");
    }

    #[tokio::test]
    async fn a_reply_that_skips_the_write_delay_takes_what_waits_before_it_along() {
        let _serial = GATE_SERIAL.lock().await;
        // A delay no test outlives: only the reply can make these messages leave.
        let batching = Batching {
            write_delay: Duration::from_secs(3600),
            max_in_frame: None,
        };
        let (mut client, connection, outbox) = fed(batching).await;
        push_numbered(&outbox, 0..3);
        outbox
            .push_reply(Bytes::from_static(b"reply"))
            .expect("open");
        let frames = read_frames(&mut client, 4).await;
        assert_eq!(frames, [["0", "1", "2", "reply"]]);
        outbox.close(DisconnectCode::SHUTDOWN.into());
        drop(client);
        connection.await.expect("no panic");
    }

    #[test]
    fn an_idle_connection_stays_small() {
        // The task of every idle connection holds this (plus its socket, shared with the
        // outbox as a 64-byte allocation). tokio rounds a task up to 128 bytes: at 400 or
        // less (with the tracker's handle, the header and trailer) it takes 512, above 640.
        let size = std::mem::size_of::<Connection<herald_hub::Session, TcpStream>>();
        assert!(size <= 400, "a connection is {size} bytes");
    }
}
