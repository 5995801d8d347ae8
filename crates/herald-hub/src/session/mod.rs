//! One client session: the protocol state machine of a connection. The transport feeds it
//! frames and events; it answers by queueing encoded replies and pushes into its [`Outbox`].
//! It never touches a socket, so it runs the same under WebSocket, SSE or a test.
//!
//! Commands of one connection are handled strictly in order (also with `client.concurrency`
//! above 1), which is what the SDK relies on when it sends `subscribe` and `unsubscribe` for
//! the same channel back to back.

mod commands;
mod connect;
mod control;
mod proxied;
mod rate;
mod subscribe;
mod subscriptions;
mod timers;
mod user_limit;

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::metrics::{Method, Transport, metrics};
use crate::outbox::{Attention, Outbox};
use crate::{Disconnect, Hub, HubError};
use bytes::Bytes;
use herald_engine::ClientInfo;
use herald_proto::{Command, DisconnectCode, Protocol, Reply};
use tokio_util::sync::WaitForCancellationFutureOwned;

pub use control::Control;
pub use control::ServerSubscription;
use subscriptions::Subscriptions;
use timers::Timers;
pub(crate) use user_limit::USER_CONNECTIONS_PREFIX;

/// Whether the connection goes on after handling an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Stop reading; the outbox is closed and its writer sends the close frame. Call
    /// [`Session::close`] next.
    Close,
}

/// Something other than a client frame that the session must react to.
#[derive(Debug)]
pub enum Event {
    /// A timer is due (ping, pong, stale, expiry, presence refresh).
    Timer,
    /// A command from the server API.
    Control(Control),
    /// The outbox was closed (slow client, API disconnect, shutdown).
    Closed(Disconnect),
}

/// The kind of transport that carries a session. It changes what the connect reply carries
/// and how the session pings; everything else is the same for every transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// WebSocket: the client sends commands on the same connection.
    Bidirectional,
    /// HTTP-streaming or SSE: replies go down a stream, commands come as POSTs to the
    /// emulation endpoint, addressed with the `session` and `node` of the connect reply.
    Emulation,
    /// The client sends only a connect request (taken by [`Session::connect_unidirectional`]);
    /// the server sends bare pushes and pings, and expects no pong.
    Unidirectional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the connect command.
    Connecting,
    /// Authenticated.
    Connected,
    /// The connect command failed with an error reply; any further command closes with 3501.
    Failed,
}

/// A live subscription of this session.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    /// Keep a presence entry.
    presence: bool,
    /// Emit join and leave.
    join_leave: bool,
    /// Channel info for presence and join/leave (the rest of the client info is the
    /// session's, built when needed rather than copied into every subscription).
    chan_info: Bytes,
    /// Subscription token expiry (Unix seconds).
    expire_at: Option<i64>,
    /// The namespace's sub_refresh proxy extends it at expiry (not the client).
    refresh_by_proxy: bool,
}

/// The metrics label of a command (`None` for an empty or unknown one).
fn method_of(command: &Command) -> Option<Method> {
    Some(if command.connect.is_some() {
        Method::Connect
    } else if command.subscribe.is_some() {
        Method::Subscribe
    } else if command.unsubscribe.is_some() {
        Method::Unsubscribe
    } else if command.publish.is_some() {
        Method::Publish
    } else if command.presence.is_some() {
        Method::Presence
    } else if command.presence_stats.is_some() {
        Method::PresenceStats
    } else if command.history.is_some() {
        Method::History
    } else if command.rpc.is_some() {
        Method::Rpc
    } else if command.refresh.is_some() {
        Method::Refresh
    } else if command.sub_refresh.is_some() {
        Method::SubRefresh
    } else if command.send.is_some() {
        Method::Send
    } else {
        return None;
    })
}

/// A v4 UUID from the thread's (cryptographically secure) generator: `new_v4` asks the kernel
/// for every id, one system call per connection.
pub(crate) fn random_uuid() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

/// The protocol state of one connection.
#[derive(Debug)]
pub struct Session {
    hub: Hub,
    protocol: Protocol,
    kind: TransportKind,
    outbox: Arc<Outbox>,
    client: Arc<str>,
    /// The id that addresses an emulated or unidirectional session (a secret: unlike the
    /// client id it is never shown to other clients, so nobody else can send its commands).
    session_id: Option<Box<str>>,
    state: State,
    /// Shared with the node's maps.
    user: Arc<str>,
    expire_at: Option<i64>,
    subs: Subscriptions,
    timers: Timers,
    /// The command being handled, for the metrics of its reply (one byte, in padding).
    method: Method,
    /// Transport name, meta and headers for proxy requests; `None` until there is some (most
    /// connections never pay more than this pointer).
    proxy: Option<Box<proxied::ProxyState>>,
    /// The node's shutdown, watched until the session is registered with the node (which then
    /// closes its outbox on shutdown instead). Boxed: it is dropped at connect.
    shutdown: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    /// Command rate buckets, made at the first command when `client.rate_limit` is on (so an
    /// idle connection pays this pointer only).
    command_buckets: Option<Box<crate::limits::CommandBuckets>>,
    /// The connection counts in the presence backend towards its user's
    /// `client.user_connection_limit` across the cluster (`user_limit.rs`).
    user_counted: bool,
}

impl Session {
    pub(crate) fn new(hub: Hub, protocol: Protocol, kind: TransportKind) -> Self {
        let options = &hub.shared.options.client;
        let outbox = Arc::new(match kind {
            TransportKind::Unidirectional => {
                Outbox::unidirectional(protocol, options.queue_max_size)
            }
            _ => Outbox::new(protocol, options.queue_max_size),
        });
        let timers = Timers::connecting(options.stale_close_delay);
        let shutdown = Box::pin(hub.shared.shutdown.clone().cancelled_owned());
        let session_id = (kind != TransportKind::Bidirectional).then(|| random_uuid().into());
        outbox.set_transport(proxied::default_transport_name(kind));
        Self {
            protocol,
            kind,
            session_id,
            outbox,
            client: Arc::from(random_uuid()),
            state: State::Connecting,
            user: Arc::from(""),
            expire_at: None,
            subs: Subscriptions::default(),
            timers,
            method: Method::Connect,
            proxy: None,
            shutdown: Some(shutdown),
            command_buckets: None,
            user_counted: false,
            hub,
        }
    }

    /// The queue the transport's writer drains.
    pub fn outbox(&self) -> Arc<Outbox> {
        self.outbox.clone()
    }

    /// The connection id.
    pub fn client_id(&self) -> &str {
        &self.client
    }

    /// The id that addresses an emulated or unidirectional session; `None` on WebSocket.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The kind of transport this session was made for.
    pub fn transport_kind(&self) -> TransportKind {
        self.kind
    }

    /// Whether the connect command succeeded.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// The user id (empty before connect and for anonymous users).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Handles one transport frame: every command in it, in order.
    pub async fn handle_frame(&mut self, frame: &[u8]) -> Flow {
        // Control messages queued before this frame arrived come first: a subscription dropped
        // for a gap must be forgotten before the client's resubscribe is handled.
        while let Some(control) = self.outbox.take_control() {
            if self.on_control(*control).await == Flow::Close {
                return Flow::Close;
            }
        }
        let commands = match herald_proto::decode_commands(self.protocol, frame) {
            Ok(commands) => commands,
            Err(err) => {
                tracing::info!(client = %self.client, %err, "malformed frame");
                return self.disconnect(DisconnectCode::BAD_REQUEST);
            }
        };
        for command in commands {
            if self.handle_command(command).await == Flow::Close {
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    /// Waits for the next event. Cancel-safe: use it in `select!` beside the transport's read.
    pub async fn next_event(&mut self) -> Event {
        poll_fn(|cx| self.poll_event(cx)).await
    }

    /// The next event if there is one; otherwise `cx` is woken when there is. The poll form of
    /// [`Session::next_event`], for a transport that is a hand-written future.
    pub fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        if let Poll::Ready(attention) = self.outbox.poll_attention(cx) {
            return Poll::Ready(match attention {
                Attention::Closed(reason) => Event::Closed(reason),
                Attention::Control(control) => Event::Control(*control),
            });
        }
        if let Some(shutdown) = &mut self.shutdown
            && shutdown.as_mut().poll(cx).is_ready()
        {
            self.shutdown = None;
            self.outbox.close(DisconnectCode::SHUTDOWN.into());
            return Poll::Ready(Event::Closed(DisconnectCode::SHUTDOWN.into()));
        }
        match self.timers.poll_due(cx) {
            Poll::Ready(()) => Poll::Ready(Event::Timer),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Reacts to an event from [`Session::next_event`].
    pub async fn handle_event(&mut self, event: Event) -> Flow {
        match event {
            Event::Closed(_) => Flow::Close,
            Event::Timer => self.on_timer().await,
            Event::Control(control) => self.on_control(control).await,
        }
    }

    /// Ends the session: leaves every channel, drops presence, unregisters from the node, and
    /// closes the outbox (with 3000 when nothing else closed it) so the writer stops.
    pub async fn close(mut self) {
        self.outbox.close(DisconnectCode::CONNECTION_CLOSED.into());
        let channels: Vec<String> = self.subs.keys().cloned().collect();
        for channel in channels {
            self.remove_subscription(&channel).await;
        }
        if self.state == State::Connected {
            self.hub.unregister(&self.client, &self.user);
        }
        self.uncount_user_connection().await;
        let reason = self
            .outbox
            .close_reason()
            .map(|d| d.code)
            .unwrap_or_default();
        if let Some(m) = metrics() {
            m.disconnects.inc(u32::from(reason));
        }
        tracing::debug!(client = %self.client, user = %self.user, code = reason, "session closed");
    }

    async fn handle_command(&mut self, command: Command) -> Flow {
        if command.id == 0 {
            return match command.send {
                Some(_) => {
                    if let Some(m) = metrics() {
                        m.commands_received[self.transport().index()][Method::Send.index()].inc();
                    }
                    self.on_send()
                }
                None => self.on_pong(),
            };
        }
        match self.state {
            State::Failed => return self.disconnect(DisconnectCode::BAD_REQUEST),
            State::Connecting if command.connect.is_none() => {
                tracing::info!(client = %self.client, "command before connect");
                return self.disconnect(DisconnectCode::BAD_REQUEST);
            }
            State::Connected if command.connect.is_some() => {
                tracing::info!(client = %self.client, "second connect");
                return self.disconnect(DisconnectCode::BAD_REQUEST);
            }
            _ => {}
        }
        let Some(m) = metrics() else {
            return self.dispatch(command).await;
        };
        let Some(method) = method_of(&command) else {
            return self.dispatch(command).await;
        };
        self.method = method;
        m.commands_received[self.transport().index()][method.index()].inc();
        let started = std::time::Instant::now();
        let flow = self.dispatch(command).await;
        m.command_duration[method.index()].observe(started.elapsed());
        flow
    }

    /// Runs one command of a connected (or connecting) session.
    async fn dispatch(&mut self, command: Command) -> Flow {
        let id = command.id;
        if self.state == State::Connected
            && let Some(flow) = self.over_rate(&command)
        {
            return flow;
        }
        self.prepare_token(&command).await;
        if let Some(request) = command.connect {
            self.on_connect(id, request).await
        } else if let Some(request) = command.subscribe {
            self.on_subscribe(id, request).await
        } else if let Some(request) = command.unsubscribe {
            self.on_unsubscribe(id, request).await
        } else if let Some(request) = command.publish {
            self.on_publish(id, request).await
        } else if let Some(request) = command.presence {
            self.on_presence(id, request).await
        } else if let Some(request) = command.presence_stats {
            self.on_presence_stats(id, request).await
        } else if let Some(request) = command.history {
            self.on_history(id, request).await
        } else if let Some(request) = command.rpc {
            self.on_rpc(id, request).await
        } else if let Some(request) = command.refresh {
            self.on_refresh(id, request)
        } else if let Some(request) = command.sub_refresh {
            self.on_sub_refresh(id, request)
        } else if command.send.is_some() {
            self.on_send()
        } else {
            // `ping` is not part of protocol v2 and anything else is unknown.
            tracing::info!(client = %self.client, id, "unknown command");
            self.disconnect(DisconnectCode::BAD_REQUEST)
        }
    }

    /// Lets the verifier fetch what the command's token needs (a JWKS key) before the command
    /// runs; the verify calls in the handlers stay synchronous.
    async fn prepare_token(&self, command: &Command) {
        let (token, subscription) = if let Some(r) = &command.connect {
            (&r.token, false)
        } else if let Some(r) = &command.subscribe {
            (&r.token, true)
        } else if let Some(r) = &command.refresh {
            (&r.token, false)
        } else if let Some(r) = &command.sub_refresh {
            (&r.token, true)
        } else {
            return;
        };
        self.prepare_keys(token, subscription).await;
    }

    /// See [`crate::TokenVerifier::prepare`].
    pub(super) async fn prepare_keys(&self, token: &str, subscription: bool) {
        if token.is_empty() {
            return;
        }
        if let Some(preparation) = self.hub.shared.verifier.prepare(token, subscription) {
            preparation.await;
        }
    }

    /// Queues a reply. A reply that cannot be encoded for this protocol (binary data for a JSON
    /// client) closes the connection with 3506.
    fn send_reply(&self, reply: &Reply) -> Flow {
        if reply.id != 0 {
            self.count_reply(reply.error.as_ref().map(|e| e.code));
        }
        let bytes = match self.encode(reply) {
            Ok(bytes) => bytes,
            Err(disconnect) => return self.close_outbox(disconnect),
        };
        let pushed = match reply.id != 0 && self.hub.shared.options.client.reply_without_queue {
            true => self.outbox.push_reply(bytes),
            false => self.outbox.push(bytes),
        };
        match pushed {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Close,
        }
    }

    /// Counts a reply to the command being handled, and its error code if it is an error.
    fn count_reply(&self, error: Option<u32>) {
        if let Some(m) = metrics() {
            m.replies_sent[self.transport().index()][self.method.index()].inc();
            if let Some(code) = error {
                m.reply_errors.inc((self.method, code));
            }
        }
    }

    /// The transport label of this connection.
    fn transport(&self) -> Transport {
        Transport::from_name(self.transport_name())
    }

    fn encode(&self, reply: &Reply) -> Result<Bytes, Disconnect> {
        herald_proto::encode_reply(self.protocol, reply).map_err(|err| {
            tracing::info!(client = %self.client, %err, "reply cannot be encoded");
            DisconnectCode::INAPPROPRIATE_PROTOCOL.into()
        })
    }

    fn send_error(&self, id: u32, error: HubError) -> Flow {
        let reply = Reply {
            id,
            error: Some(error.code().to_proto()),
            ..Default::default()
        };
        self.send_reply(&reply)
    }

    fn disconnect(&self, code: herald_proto::DisconnectCode) -> Flow {
        self.close_outbox(code.into())
    }

    fn close_outbox(&self, disconnect: Disconnect) -> Flow {
        tracing::debug!(client = %self.client, code = disconnect.code, reason = %disconnect.reason, "disconnecting");
        self.outbox.close(disconnect);
        Flow::Close
    }

    fn client_info(&self, chan_info: Bytes) -> ClientInfo {
        ClientInfo {
            user: self.user.to_string(),
            client: self.client.to_string(),
            conn_info: self.outbox.info(),
            chan_info,
        }
    }

    /// Whether an operation guarded by `allow_*_for_{subscriber,client,anonymous}` is allowed.
    /// `subscribed` says whether the connection is (or is becoming) a subscriber of the channel.
    fn allowed(
        &self,
        for_subscriber: bool,
        for_client: bool,
        for_anonymous: bool,
        subscribed: bool,
    ) -> bool {
        let user_ok = !self.user.is_empty() || for_anonymous;
        (for_client && user_ok)
            || (for_subscriber && user_ok && subscribed)
            || self.hub.shared.options.client.insecure
    }
}
