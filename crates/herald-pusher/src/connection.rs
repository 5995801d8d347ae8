//! One Pusher connection's protocol state machine, sans-I/O: text frames in, [`Action`]s out.
//!
//! The connection decides everything the protocol decides by itself: signatures, channel
//! kinds, what a client may send, the client-event rate, the answers. What needs the node
//! (registering a subscription, the presence members, delivering a client event to the other
//! subscribers) comes out as an action for the async shell to carry out; the shell then tells
//! the connection how it went ([`Connection::subscribed`]). Time is passed in, never read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use crate::{
    Channel, ChannelKind, ChannelMap, ClientEvent, ClientMessage, PresenceMember, ProtocolError,
    Signin, SocketId, Subscribe, UserData, close, server, sign,
};

/// What an app allows its connections (from its configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRules {
    /// The app key, as `auth` signatures name it.
    pub key: String,
    /// The signing secret.
    pub secret: String,
    /// `client-*` events allowed on private and presence channels.
    pub client_events: bool,
    /// Client events per second per connection; `None`: no limit.
    pub client_event_rate: Option<u32>,
    /// Bytes of a presence member's `user_info`.
    pub max_user_info_size: usize,
    /// Bytes of a client event's `data`.
    pub max_event_size: usize,
}

/// Something the shell must do for the connection, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this frame to the client.
    Send(String),
    /// Register the subscription (and the presence member), then call
    /// [`Connection::subscribed`] with the members, which answers the client.
    Subscribe {
        /// The channel.
        channel: Channel,
        /// The member, on a presence channel.
        member: Option<PresenceMember>,
    },
    /// Remove the subscription (and the member).
    Unsubscribe {
        /// The channel.
        channel: Channel,
    },
    /// Deliver a client event to the channel's other subscribers (all nodes), not to this
    /// connection; `frame` is encoded once for all of them.
    Publish {
        /// The channel.
        channel: Channel,
        /// The encoded event.
        frame: String,
        /// The sender, excluded.
        exclude: SocketId,
        /// The event, for a `client_event` webhook.
        event: String,
        /// The event's data as the sender wrote it (JSON text), for the webhook.
        data: String,
        /// The sender's user on a presence channel.
        user_id: Option<String>,
    },
    /// The connection is signed in as this user from now on.
    SignedIn(UserData),
    /// Close the connection with this code and reason (the shell sends the `pusher:error`
    /// that announces it, as for every close).
    Close {
        /// A 4000-4399 code.
        code: u16,
        /// Why.
        reason: String,
    },
}

/// Where a subscription stands.
#[derive(Debug, Clone, PartialEq)]
enum Subscription {
    /// Asked the shell to register it; no answer sent yet.
    Pending,
    /// Answered; `user_id` is the member's on a presence channel.
    Active { user_id: Option<String> },
}

/// One connection.
#[derive(Debug)]
pub struct Connection {
    socket_id: SocketId,
    /// Shared by the app's connections.
    rules: Arc<AppRules>,
    subscriptions: ChannelMap<Subscription>,
    user: Option<UserData>,
    bucket: Bucket,
}

impl Connection {
    /// A new connection; send [`Connection::established`] first.
    pub fn new(socket_id: SocketId, rules: Arc<AppRules>, now: Instant) -> Self {
        let bucket = Bucket::new(rules.client_event_rate, now);
        Self {
            socket_id,
            rules,
            subscriptions: ChannelMap::default(),
            user: None,
            bucket,
        }
    }

    /// The connection's id.
    pub fn socket_id(&self) -> SocketId {
        self.socket_id
    }

    /// The signed-in user, if any.
    pub fn user(&self) -> Option<&UserData> {
        self.user.as_ref()
    }

    /// `pusher:connection_established`.
    pub fn established(&self, activity_timeout: Duration) -> String {
        let secs = u32::try_from(activity_timeout.as_secs()).unwrap_or(u32::MAX);
        server::connection_established(&self.socket_id, secs.max(1))
    }

    /// Handles one text frame at `now`; the actions go to `out`.
    pub fn handle_frame(&mut self, frame: &str, now: Instant, out: &mut Vec<Action>) {
        match ClientMessage::parse(frame) {
            Ok(ClientMessage::Subscribe(subscribe)) => self.subscribe(subscribe, out),
            Ok(ClientMessage::Unsubscribe { channel }) => {
                if self.subscriptions.remove(&channel).is_some() {
                    out.push(Action::Unsubscribe { channel });
                }
            }
            Ok(ClientMessage::Signin(signin)) => self.signin(&signin, out),
            Ok(ClientMessage::Ping) => out.push(Action::Send(server::pong())),
            Ok(ClientMessage::Pong | ClientMessage::Other { .. }) => {}
            Ok(ClientMessage::ClientEvent(event)) => self.client_event(event, now, out),
            Err(error) => out.push(Action::Send(server::error(None, &error.to_string()))),
        }
    }

    /// The shell registered `channel`: answers the client with `pusher_internal:
    /// subscription_succeeded` (with `members` on a presence channel, this connection's
    /// member included). Nothing if the client unsubscribed meanwhile.
    pub fn subscribed<'a>(
        &mut self,
        channel: &Channel,
        members: impl IntoIterator<Item = (&'a str, Option<&'a RawValue>)>,
        user_id: Option<String>,
    ) -> Option<Action> {
        let state = self.subscriptions.get_mut(channel)?;
        let presence = matches!(channel.kind(), ChannelKind::Presence { .. });
        *state = Subscription::Active { user_id };
        Some(Action::Send(if presence {
            server::presence_subscription_succeeded(channel, members)
        } else {
            server::subscription_succeeded(channel)
        }))
    }

    /// The shell could not register `channel` (`kind` and `status` as Pusher names them, e.g.
    /// `LimitReached`/4100): the client gets `pusher:subscription_error`.
    pub fn subscribe_failed(
        &mut self,
        channel: &Channel,
        kind: &str,
        message: &str,
        status: u16,
    ) -> Option<Action> {
        self.subscriptions.remove(channel)?;
        Some(Action::Send(server::subscription_error(
            channel, kind, message, status,
        )))
    }

    fn subscribe(&mut self, subscribe: Subscribe, out: &mut Vec<Action>) {
        let channel = subscribe.channel.clone();
        if self.subscriptions.contains(&channel) {
            // Already subscribed (or on its way): nothing changes, as in Pusher.
            return;
        }
        let refuse = |out: &mut Vec<Action>, error: ProtocolError, status: u16| {
            out.push(Action::Send(server::subscription_error(
                &channel,
                "AuthError",
                &error.to_string(),
                status,
            )));
        };
        let kind = channel.kind();
        if kind == ChannelKind::User {
            let own = self.user.as_ref().map(|u| u.id.as_str()) == channel.user();
            if !own {
                let error = ProtocolError::AuthRequired(channel.to_string());
                return refuse(out, error, 403);
            }
        }
        if kind.needs_auth()
            && let Err(error) = sign::verify_channel_auth(
                &self.rules.key,
                &self.rules.secret,
                &self.socket_id,
                &subscribe,
            )
        {
            return refuse(out, error, 401);
        }
        let member = if matches!(kind, ChannelKind::Presence { .. }) {
            let Some(data) = subscribe.channel_data.as_deref() else {
                let error = ProtocolError::InvalidChannelData("missing".to_owned());
                return refuse(out, error, 400);
            };
            match PresenceMember::parse(data) {
                Ok(member)
                    if member
                        .user_info
                        .as_ref()
                        .is_some_and(|info| info.get().len() > self.rules.max_user_info_size) =>
                {
                    let error = ProtocolError::InvalidChannelData(format!(
                        "user_info over {} bytes",
                        self.rules.max_user_info_size
                    ));
                    return refuse(out, error, 400);
                }
                Ok(member) => Some(member),
                Err(error) => return refuse(out, error, 400),
            }
        } else {
            None
        };
        self.subscriptions
            .insert(channel.clone(), Subscription::Pending);
        out.push(Action::Subscribe { channel, member });
    }

    fn signin(&mut self, signin: &Signin, out: &mut Vec<Action>) {
        let user =
            sign::verify_signin(&self.rules.key, &self.rules.secret, &self.socket_id, signin)
                .and_then(|()| UserData::parse(&signin.user_data));
        match user {
            Ok(user) => {
                out.push(Action::Send(server::signin_success(&signin.user_data)));
                self.user = Some(user.clone());
                out.push(Action::SignedIn(user));
            }
            Err(error) => {
                let reason = format!("sign-in refused: {error}");
                out.push(Action::Close {
                    code: close::UNAUTHORIZED,
                    reason,
                });
            }
        }
    }

    fn client_event(&mut self, event: ClientEvent, now: Instant, out: &mut Vec<Action>) {
        let mut refuse = |code: Option<u16>, message: String| {
            out.push(Action::Send(server::error(code, &message)));
        };
        if !self.rules.client_events {
            return refuse(
                None,
                "client events are not enabled for this app".to_owned(),
            );
        }
        if !event.channel.kind().allows_client_events() {
            return refuse(
                None,
                format!(
                    "client events go to private and presence channels, not {}",
                    event.channel
                ),
            );
        }
        let Some(Subscription::Active { user_id }) = self.subscriptions.get(&event.channel) else {
            return refuse(None, format!("not subscribed to {}", event.channel));
        };
        if event.data.get().len() > self.rules.max_event_size {
            return refuse(
                None,
                format!("client event data over {} bytes", self.rules.max_event_size),
            );
        }
        if !self.bucket.take(now) {
            return refuse(
                Some(close::CLIENT_EVENT_RATE_LIMIT),
                "client event rate limit exceeded".to_owned(),
            );
        }
        let user_id = user_id.clone();
        let frame = server::channel_event(
            &event.channel,
            &event.event,
            &event.data,
            user_id.as_deref(),
        );
        out.push(Action::Publish {
            channel: event.channel,
            frame,
            exclude: self.socket_id,
            event: event.event,
            data: event.data.get().to_owned(),
            user_id,
        });
    }
}

/// A token bucket of `rate` events per second holding one second's worth.
#[derive(Debug)]
struct Bucket {
    rate: Option<u32>,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: Option<u32>, now: Instant) -> Self {
        Self {
            rate,
            tokens: rate.map_or(0.0, f64::from),
            at: now,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        let rate = f64::from(rate);
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests;
