//! The Pusher endpoint, `{pusher.path_prefix}/app/<key>`: the same connection future, frame
//! decoder and writer as the SDK's WebSocket, with a handler that runs a
//! [`herald_pusher::Connection`] (the protocol, sans-I/O) and carries out what it asks of the
//! node through a [`VerbatimClient`]: subscriptions, presence entries, client events.
//!
//! Presence members are users: `member_added` goes out when a user's first connection joins
//! the channel, `member_removed` when its last one leaves, as the presence entries on every
//! node show them at that moment. A cache channel's subscriber gets, after the answer (and the
//! members), the channel's last event or `pusher:cache_miss`. With subscription counting on,
//! a public or private subscription holds a count entry (`pusher/counting.rs`).
//!
//! Activity: a connection silent for `pusher.activity_timeout` gets a `pusher:ping`; silent
//! [`PONG_WAIT`] longer, it is closed with 4201. Presence and count entries are refreshed
//! every `client.presence_update_interval` while the connection holds any.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use herald_hub::{Disconnect, Flow, Hub, Outbox, VerbatimClient, VerbatimPublish};
use herald_proto::{DisconnectCode, Protocol};
use herald_pusher::webhook::WebhookEvent;
use herald_pusher::{Action, Channel, ChannelMap, Connection, PresenceMember, close, server};
use serde_json::value::RawValue;
use tokio::time::{Instant, Sleep};

use super::handler::{Call, Handled, Handler};
use super::writer::Output;
use super::{Endpoint, WebSocketTransport, upgrade_with};
use crate::pusher::apps::{App, AppConnection, Apps};
use crate::pusher::counting::count_key;
use crate::pusher::{CACHE_TTL, members};

/// How long a client has to answer a `pusher:ping` before it is closed with 4201.
const PONG_WAIT: Duration = Duration::from_secs(30);
/// Protocol versions served (pusher-js speaks 7).
const PROTOCOLS: std::ops::RangeInclusive<u32> = 5..=7;

/// The endpoint's state: the WebSocket settings and the apps.
#[derive(Debug, Clone)]
struct PusherEndpoint {
    endpoint: Arc<Endpoint>,
    apps: Arc<Apps>,
}

impl WebSocketTransport {
    /// A router serving the Pusher endpoint at `{prefix}/app/{key}`.
    pub(crate) fn pusher_router(self, prefix: &str, apps: Arc<Apps>) -> Router {
        let state = PusherEndpoint {
            endpoint: self.endpoint(Output::PUSHER, false),
            apps,
        };
        Router::new()
            .route(&format!("{prefix}/app/{{key}}"), get(upgrade))
            .with_state(state)
    }
}

async fn upgrade(
    State(state): State<PusherEndpoint>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(key): Path<String>,
    request: Request,
) -> Response {
    let opening = open_app(&state.apps, &key, request.uri().query());
    if let Err(refused) = &opening {
        tracing::info!(%remote, app_key = %key, code = refused.code, reason = %refused.reason, "pusher connection refused");
    }
    let params = Params {
        apps: state.apps.clone(),
        opening,
    };
    upgrade_with::<PusherSocket>(&state.endpoint, remote, request, params)
}

/// What the upgrade request decided: the app (counted), or why the connection is refused.
/// A refusal is still upgraded: Pusher clients learn it from a `pusher:error` and the close
/// code (4001 unknown app, 4003 disabled, 4004 over quota, 4007/4008 protocol).
fn open_app(apps: &Apps, key: &str, query: Option<&str>) -> Result<AppConnection, Disconnect> {
    let refuse = |code: u16, reason: &str| Disconnect {
        code,
        reason: reason.to_owned(),
    };
    let protocol = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("protocol="));
    match protocol.map(str::parse::<u32>) {
        None => return Err(refuse(close::NO_PROTOCOL, "no protocol version supplied")),
        Some(Ok(version)) if PROTOCOLS.contains(&version) => {}
        Some(_) => {
            return Err(refuse(
                close::UNSUPPORTED_PROTOCOL,
                "unsupported protocol version (5 to 7 are)",
            ));
        }
    }
    let Some(app) = apps.by_key(key) else {
        return Err(refuse(close::APP_NOT_FOUND, "application does not exist"));
    };
    if !app.settings.enabled {
        return Err(refuse(close::APP_DISABLED, "application disabled"));
    }
    app.admit().ok_or_else(|| {
        refuse(
            close::OVER_CONNECTION_QUOTA,
            "application is over its connection quota",
        )
    })
}

/// What [`PusherSocket::open`] is given.
pub(super) struct Params {
    apps: Arc<Apps>,
    opening: Result<AppConnection, Disconnect>,
}

/// A Pusher connection's handler.
pub(super) struct PusherSocket {
    /// The connection's handle on the node (and, through it, the node).
    client: VerbatimClient,
    /// `None` for a refused connection (its outbox is closed already).
    live: Option<Box<Live>>,
}

/// A served connection's state (boxed: a refused connection carries none of it).
struct Live {
    app: AppConnection,
    protocol: Connection,
    /// Channels registered with the hub, with the presence entry each holds.
    channels: ChannelMap<Held>,
    /// One timer for the activity check and the presence refresh, whichever is due first.
    timer: Pin<Box<Sleep>>,
    last_heard: Instant,
    ping_sent: bool,
    /// When presence entries are refreshed next (only while in a presence channel).
    presence_due: Option<Instant>,
    activity_timeout: Duration,
}

/// The presence entry a subscription holds in the engine.
#[derive(Debug)]
enum Held {
    /// None.
    Nothing,
    /// One under the channel's count key (subscription counting, `pusher/counting.rs`).
    Count,
    /// The connection's member in a presence channel.
    Member(Member),
}

impl Held {
    fn holds_entry(&self) -> bool {
        !matches!(self, Held::Nothing)
    }
}

/// A connection's member in a presence channel, as its entry was added (refreshed alike).
#[derive(Debug)]
struct Member {
    user: String,
    info: Bytes,
}

/// Something besides a client frame: the timer fired.
#[derive(Debug)]
pub(super) struct Due;

impl Handler for PusherSocket {
    type Event = Due;
    type Params = Params;

    fn open(hub: &Hub, _: Protocol, _: Vec<(String, String)>, params: Params) -> Self {
        let Params { apps, opening } = params;
        let socket_id = apps.next_socket_id();
        let client = hub.verbatim_client(&socket_id.to_string());
        let app = match opening {
            Ok(app) => app,
            Err(refused) => {
                client.outbox().close(refused);
                return Self { client, live: None };
            }
        };
        let now = Instant::now();
        let protocol = Connection::new(socket_id, app.app.rules.clone(), now.into_std());
        let activity_timeout = apps.activity_timeout;
        let _ = client
            .outbox()
            .push(Bytes::from(protocol.established(activity_timeout)));
        let mut client = client;
        if let Err(refused) = client.register("") {
            client.outbox().close(refused);
        }
        Self {
            client,
            live: Some(Box::new(Live {
                app,
                protocol,
                channels: ChannelMap::default(),
                timer: Box::pin(tokio::time::sleep_until(now + activity_timeout)),
                last_heard: now,
                ping_sent: false,
                presence_due: None,
                activity_timeout,
            })),
        }
    }

    fn client_id(&self) -> &str {
        self.client.id()
    }

    fn user(&self) -> Option<&str> {
        let live = self.live.as_ref()?;
        live.protocol.user().map(|user| user.id.as_str())
    }

    fn outbox(&self) -> Arc<Outbox> {
        self.client.outbox()
    }

    fn on_data(mut self, text: bool, payload: Bytes) -> Handled<Self> {
        Handled::Call(Box::pin(async move {
            let flow = self.on_message(text, &payload).await;
            (self, flow)
        }))
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Due> {
        match &mut self.live {
            Some(live) => live.timer.as_mut().poll(cx).map(|()| Due),
            None => Poll::Pending,
        }
    }

    fn on_event(mut self, Due: Due) -> Call<Self> {
        Box::pin(async move {
            let flow = self.on_timer().await;
            (self, flow)
        })
    }

    async fn close(mut self) {
        if let Some(live) = self.live.take() {
            for (channel, held) in live.channels.iter() {
                self.leave(&live.app.app, channel, held).await;
            }
        }
        let disconnect = self
            .client
            .outbox()
            .close_reason()
            .unwrap_or_else(|| DisconnectCode::CONNECTION_CLOSED.into());
        self.client.close(disconnect);
    }
}

impl PusherSocket {
    /// One client frame: the protocol decides, then its actions are carried out in order.
    async fn on_message(&mut self, text: bool, payload: &[u8]) -> Flow {
        let Some(live) = self.live.as_mut() else {
            return Flow::Continue;
        };
        let now = Instant::now();
        live.last_heard = now;
        live.ping_sent = false;
        let mut actions = Vec::new();
        match std::str::from_utf8(payload) {
            Ok(frame) if text => live
                .protocol
                .handle_frame(frame, now.into_std(), &mut actions),
            _ => actions.push(Action::Send(server::error(
                None,
                "binary frames are not part of the Pusher protocol",
            ))),
        }
        for action in actions {
            if self.carry_out(action).await == Flow::Close {
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    async fn carry_out(&mut self, action: Action) -> Flow {
        match action {
            Action::Send(frame) => self.send(frame),
            Action::Subscribe { channel, member } => self.subscribe(channel, member).await,
            Action::Unsubscribe { channel } => {
                let Some(live) = self.live.as_mut() else {
                    return Flow::Continue;
                };
                if let Some(held) = live.channels.remove(&channel) {
                    let app = live.app.app.clone();
                    self.leave(&app, &channel, &held).await;
                }
            }
            Action::Publish {
                channel,
                frame,
                event,
                data,
                user_id,
                ..
            } => {
                let Some(live) = &self.live else {
                    return Flow::Continue;
                };
                let app = &live.app.app;
                if app.webhooks.enabled()
                    && let Ok(data) = RawValue::from_string(data)
                {
                    app.webhooks.send(WebhookEvent::ClientEvent {
                        channel: channel.to_string(),
                        event,
                        data,
                        socket_id: self.client.id().to_owned(),
                        user_id,
                    });
                }
                let key = app.channel_key(&channel);
                let options = VerbatimPublish {
                    exclude: Some(self.client.id().to_owned()),
                    keep: channel.kind().is_cache().then_some((1, CACHE_TTL)),
                };
                if let Err(err) = self
                    .client
                    .hub()
                    .publish_verbatim(&key, Bytes::from(frame), options)
                    .await
                {
                    tracing::warn!(%channel, %err, "client event not published");
                    self.send(server::error(None, "the event could not be delivered"));
                }
            }
            Action::SignedIn(user) => {
                let Some(live) = &self.live else {
                    return Flow::Continue;
                };
                let key = live.app.app.user_key(&user.id);
                if let Err(refused) = self.client.register(&key) {
                    self.client.outbox().close(refused);
                    return Flow::Close;
                }
            }
            Action::Close { code, reason } => {
                self.client.outbox().close(Disconnect { code, reason });
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    fn send(&self, frame: String) {
        // A full outbox closes itself (3008, sent as 4100); nothing else to do here.
        let _ = self.client.outbox().push(Bytes::from(frame));
    }

    /// Registers a subscription the protocol accepted, then answers the client: presence
    /// members, `member_added` to the others, a cache channel's last event.
    async fn subscribe(&mut self, channel: Channel, member: Option<PresenceMember>) {
        let Some(mut live) = self.live.take() else {
            return;
        };
        if let Some(Action::Send(refusal)) = self.register(&mut live, &channel, member).await {
            self.send(refusal);
        }
        self.live = Some(live);
    }

    /// Registers the subscription pending, takes what it holds, and activates it with its
    /// answer, so no event of the channel reaches the client before the answer and none is
    /// lost in between (joins and leaves after the members were read come as events). A
    /// refusal comes back instead, to be sent as it is.
    async fn register(
        &self,
        live: &mut Live,
        channel: &Channel,
        member: Option<PresenceMember>,
    ) -> Option<Action> {
        let app = live.app.app.clone();
        let key = app.channel_key(channel);
        if let Some(member) = &member {
            let present = match self.client.hub().verbatim_presence(&key).await {
                Ok(present) => present,
                Err(err) => return self.failed(live, channel, &err.to_string()),
            };
            let known = present.values().any(|entry| entry.user == member.user_id);
            let limit = app.settings.max_presence_members as usize;
            if !known && members::count(&present) >= limit {
                let message = format!("presence channel is full ({limit} members)");
                return live
                    .protocol
                    .subscribe_failed(channel, "LimitReached", &message, 4100);
            }
        }
        if let Err(err) = self.client.subscribe(&key).await {
            return self.failed(live, channel, &err.to_string());
        }
        let answer = match member {
            None => {
                let held = self.count_in(live, &app, &key, channel).await;
                live.channels.insert(channel.clone(), held);
                live.protocol.subscribed(channel, [], None)
            }
            Some(member) => match self.join(live, &app, &key, channel, member).await {
                Ok(answer) => answer,
                Err(why) => {
                    self.client.unsubscribe(&key).await;
                    return self.failed(live, channel, &why);
                }
            },
        };
        let mut frames = Vec::with_capacity(2);
        if let Some(Action::Send(frame)) = answer {
            frames.push(Bytes::from(frame));
        }
        if channel.kind().is_cache() {
            // The answer (and the members) first, then the last event or the miss.
            frames.push(self.cached(&app, &key, channel).await);
        }
        self.client.activate(&key, frames);
        None
    }

    /// Adds the connection's member to a presence channel it is subscribed to (pending);
    /// returns the answer with the members. The members are read *before* this connection's
    /// entry is added: of two connections of one user joining at once on two nodes, at least
    /// one then finds the user absent and sends `member_added` (both may; pusher-js counts a
    /// member once), where reading after adding could let both find the other and send none.
    async fn join(
        &self,
        live: &mut Live,
        app: &App,
        key: &str,
        channel: &Channel,
        member: PresenceMember,
    ) -> Result<Option<Action>, String> {
        let present = self
            .client
            .hub()
            .verbatim_presence(key)
            .await
            .map_err(|err| err.to_string())?;
        self.client
            .add_presence(key, &member.user_id, info_of(&member))
            .await
            .map_err(|err| err.to_string())?;
        let entry = Member {
            user: member.user_id.clone(),
            info: info_of(&member),
        };
        live.channels.insert(channel.clone(), Held::Member(entry));
        live.presence_due
            .get_or_insert_with(|| Instant::now() + self.client.hub().presence_update_interval());
        live.rearm();
        let listed = members::members(&present);
        let mut list: Vec<(&str, Option<&serde_json::value::RawValue>)> = listed
            .iter()
            .map(|(id, info)| (*id, info.as_deref()))
            .collect();
        if !list.iter().any(|(id, _)| *id == member.user_id) {
            list.push((&member.user_id, member.user_info.as_deref()));
        }
        let answer = live
            .protocol
            .subscribed(channel, list, Some(member.user_id.clone()));
        if !members::present_elsewhere(&present, &member.user_id, self.client.id()) {
            let frame = server::member_added(channel, &member.user_id, member.user_info.as_deref());
            self.publish_quietly(key, frame).await;
            app.webhooks.send(WebhookEvent::MemberAdded {
                channel: channel.to_string(),
                user_id: member.user_id,
            });
        }
        Ok(answer)
    }

    /// The subscription could not be registered: `pusher:subscription_error` 500.
    fn failed(&self, live: &mut Live, channel: &Channel, why: &str) -> Option<Action> {
        tracing::warn!(%channel, %why, "pusher subscription failed");
        live.protocol.subscribe_failed(
            channel,
            "InternalError",
            "subscription failed, try again",
            500,
        )
    }

    /// A cache channel's last event, or `pusher:cache_miss` (and its webhook).
    async fn cached(&self, app: &App, key: &str, channel: &Channel) -> Bytes {
        match self.client.hub().verbatim_last(key).await {
            Ok(Some(frame)) => return frame,
            Ok(None) => {}
            Err(err) => tracing::warn!(%channel, %err, "cache channel read failed"),
        }
        app.webhooks.send(WebhookEvent::CacheMiss {
            channel: channel.to_string(),
        });
        Bytes::from(server::cache_miss(channel))
    }

    /// Leaves a registered channel: the hub subscription, the presence entry and, when it
    /// was the user's last connection there, `member_removed` to the others.
    async fn leave(&self, app: &Arc<App>, channel: &Channel, held: &Held) {
        let key = app.channel_key(channel);
        self.client.unsubscribe(&key).await;
        let user = match held {
            Held::Nothing => return,
            Held::Count => {
                if let Err(err) = self.client.remove_presence(&count_key(&key), "").await {
                    tracing::warn!(%channel, %err, "count entry not removed; it expires");
                }
                app.counting.changed(self.client.hub(), app, channel);
                return;
            }
            Held::Member(Member { user, .. }) => user,
        };
        if let Err(err) = self.client.remove_presence(&key, user).await {
            tracing::warn!(%channel, %err, "presence entry not removed; it expires");
        }
        match self.client.hub().verbatim_presence(&key).await {
            Ok(present) if members::present_elsewhere(&present, user, self.client.id()) => {}
            Ok(_) => {
                let frame = server::member_removed(channel, user);
                self.publish_quietly(&key, frame).await;
                app.webhooks.send(WebhookEvent::MemberRemoved {
                    channel: channel.to_string(),
                    user_id: user.clone(),
                });
            }
            Err(err) => tracing::warn!(%channel, %err, "member_removed not sent"),
        }
    }

    /// Publishes a frame the node composed (member events) to the channel's other
    /// subscribers; a failure is logged.
    async fn publish_quietly(&self, key: &str, frame: String) {
        let options = VerbatimPublish {
            exclude: Some(self.client.id().to_owned()),
            keep: None,
        };
        if let Err(err) = self
            .client
            .hub()
            .publish_verbatim(key, Bytes::from(frame), options)
            .await
        {
            tracing::warn!(channel = %key, %err, "presence event not published");
        }
    }

    /// The timer fired: refresh presence entries, ping a silent client, close one that
    /// did not answer.
    async fn on_timer(&mut self) -> Flow {
        let Some(mut live) = self.live.take() else {
            return Flow::Continue;
        };
        let now = Instant::now();
        if live.presence_due.is_some_and(|due| due <= now) {
            self.refresh_presence(&live).await;
            live.presence_due = live
                .channels
                .values()
                .any(Held::holds_entry)
                .then(|| now + self.client.hub().presence_update_interval());
        }
        let silent_since = live.last_heard + live.activity_timeout;
        let flow = if live.ping_sent && now >= silent_since + PONG_WAIT {
            self.client.outbox().close(Disconnect {
                code: close::PONG_NOT_RECEIVED,
                reason: "pong reply not received".to_owned(),
            });
            Flow::Close
        } else {
            if !live.ping_sent && now >= silent_since {
                self.send(server::ping());
                live.ping_sent = true;
            }
            Flow::Continue
        };
        live.rearm();
        self.live = Some(live);
        flow
    }

    async fn refresh_presence(&self, live: &Live) {
        for (channel, held) in live.channels.iter() {
            let key = live.app.app.channel_key(channel);
            let refreshed = match held {
                Held::Nothing => continue,
                Held::Count => {
                    self.client
                        .refresh_presence(&count_key(&key), "", Bytes::new())
                        .await
                }
                Held::Member(member) => {
                    let info = member.info.clone();
                    self.client.refresh_presence(&key, &member.user, info).await
                }
            };
            if let Err(err) = refreshed {
                tracing::warn!(%channel, %err, "presence refresh failed");
            }
        }
    }

    /// Counts a new subscription to a public or private channel when the app counts them
    /// (`pusher/counting.rs`); what the subscription then holds.
    async fn count_in(
        &self,
        live: &mut Live,
        app: &Arc<App>,
        key: &str,
        channel: &Channel,
    ) -> Held {
        if !app.settings.subscription_count {
            return Held::Nothing;
        }
        if let Err(err) = self
            .client
            .add_presence(&count_key(key), "", Bytes::new())
            .await
        {
            tracing::warn!(%channel, %err, "subscription not counted");
            return Held::Nothing;
        }
        live.presence_due
            .get_or_insert_with(|| Instant::now() + self.client.hub().presence_update_interval());
        live.rearm();
        app.counting.changed(self.client.hub(), app, channel);
        Held::Count
    }
}

/// A member's `user_info` as its presence entry keeps it (empty: none).
fn info_of(member: &PresenceMember) -> Bytes {
    member
        .user_info
        .as_ref()
        .map(|info| Bytes::copy_from_slice(info.get().as_bytes()))
        .unwrap_or_default()
}

impl Live {
    /// Sets the timer to the next thing due: the activity check or the presence refresh.
    fn rearm(&mut self) {
        let mut due = self.last_heard + self.activity_timeout;
        if self.ping_sent {
            due += PONG_WAIT;
        }
        if let Some(presence) = self.presence_due {
            due = due.min(presence);
        }
        if due != self.timer.deadline() {
            self.timer.as_mut().reset(due);
        }
    }
}
