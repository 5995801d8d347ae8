//! Connections of another protocol family on this node (the Pusher endpoint): the same
//! registry, broker, presence and control plane as the Centrifugo protocol, without its
//! encoding.
//!
//! A *verbatim channel* carries frames that its publisher already encoded in the family's
//! wire format: the registry queues a publication's `data` as it is into the outbox of every
//! verbatim subscriber (encode once, send many, as for the SDK's pushes), skipping the one
//! connection the publication names in its exclusion tag (Pusher's `socket_id`, and the sender
//! of a client event). Their names start with [`VERBATIM_PREFIX`], which the Centrifugo
//! protocol and API refuse (102), so the two families never share a channel; the caller puts
//! its own scope after the prefix (`pusher/<app id>:<channel>`), so apps stay apart on every
//! engine.
//!
//! Node death: with liveness on ([`Hub::enable_liveness`], or lifecycle webhooks), a
//! verbatim client's presence entries are recorded as held by its node, and when that node
//! dies the live node that claims its cleanup hands each entry to the hook of
//! [`Hub::on_verbatim_departure`], once across the cluster, so the family can tell the
//! others (Pusher's `member_removed`) within seconds instead of waiting for the entry to
//! expire.
//!
//! A [`VerbatimClient`] is one such connection: its outbox, its subscriptions, its presence
//! entries and its place in the node's client index (so API disconnects, shutdown and the
//! connection count cover it). The protocol state machine lives in the family's own crate;
//! this is only what needs the node.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use herald_engine::{
    ClientInfo, HeldPresence, HistoryFilter, HistoryLimit, HistoryOptions, Publication,
    PublishOptions, StreamPosition,
};

use crate::node::now_unix_millis;
use crate::outbox::{Attention, Outbox};
use crate::registry::NewSubscriber;
use crate::{Disconnect, Hub, HubError};

/// The start of every verbatim channel's name.
pub const VERBATIM_PREFIX: &str = "__herald.verbatim/";

/// The publication tag naming the one verbatim subscriber (by client id) not to deliver to.
const EXCLUDE_TAG: &str = "__herald.exclude";

/// What [`Hub::on_verbatim_departure`] calls for each presence entry a dead node held.
pub(crate) type DepartureHook = Box<dyn Fn(&Hub, HeldPresence) + Send + Sync>;

/// How a verbatim publication is published.
#[derive(Debug, Clone, Default)]
pub struct VerbatimPublish {
    /// The client id of the one connection that does not get it.
    pub exclude: Option<String>,
    /// Keep the last `n` publications for this long (Pusher's cache channels: 1, 30 min), so
    /// a new subscriber can be sent the last one ([`Hub::verbatim_last`]).
    pub keep: Option<(usize, Duration)>,
}

/// The connection a publication excludes, if any: read once per fan-out.
pub(crate) fn excluded(publication: &Publication) -> Option<&str> {
    if publication.tags.is_empty() {
        return None;
    }
    publication.tags.get(EXCLUDE_TAG).map(String::as_str)
}

fn check_name(channel: &str) -> Result<(), HubError> {
    match channel.starts_with(VERBATIM_PREFIX) {
        true => Ok(()),
        false => Err(HubError::BadRequest),
    }
}

impl Hub {
    /// A new connection of another protocol family, with the id it is known by everywhere
    /// (unique across the cluster: exclusions name it). Its outbox is bounded by
    /// `client.queue_max_size`, like every connection's.
    pub fn verbatim_client(&self, id: &str) -> VerbatimClient {
        let max_bytes = self.shared.options.client.queue_max_size;
        VerbatimClient {
            hub: self.clone(),
            id: Arc::from(id),
            user: None,
            outbox: Arc::new(Outbox::verbatim(max_bytes)),
        }
    }

    /// Publishes an encoded frame into a verbatim channel: every subscriber on every node
    /// gets `frame` as it is.
    pub async fn publish_verbatim(
        &self,
        channel: &str,
        frame: Bytes,
        options: VerbatimPublish,
    ) -> Result<StreamPosition, HubError> {
        check_name(channel)?;
        let mut tags = HashMap::new();
        if let Some(exclude) = options.exclude {
            tags.insert(EXCLUDE_TAG.to_owned(), exclude);
        }
        let publication = Publication {
            data: frame,
            tags,
            time: now_unix_millis(),
            ..Default::default()
        };
        let mut publish = PublishOptions::default();
        if let Some((size, ttl)) = options.keep {
            publish.history_size = size;
            publish.history_ttl = ttl;
            publish.history_meta_ttl = ttl;
        }
        let result = self
            .shared
            .broker
            .publish(channel, publication, &publish)
            .await?;
        Ok(result.position)
    }

    /// The last publication kept in a verbatim channel (see [`VerbatimPublish::keep`]).
    pub async fn verbatim_last(&self, channel: &str) -> Result<Option<Bytes>, HubError> {
        check_name(channel)?;
        let options = HistoryOptions {
            filter: HistoryFilter {
                since: None,
                limit: HistoryLimit::Max(1),
                reverse: true,
            },
            meta_ttl: Duration::ZERO,
        };
        let result = self.shared.broker.history(channel, &options).await?;
        Ok(result.publications.into_iter().next().map(|p| p.data))
    }

    /// Everyone present in a verbatim channel, on every node, keyed by client id.
    pub async fn verbatim_presence(
        &self,
        channel: &str,
    ) -> Result<HashMap<String, ClientInfo>, HubError> {
        check_name(channel)?;
        Ok(self.shared.presence.presence(channel).await?)
    }

    /// How many presence entries a verbatim channel has, on every node (one store call).
    pub async fn verbatim_presence_count(&self, channel: &str) -> Result<u32, HubError> {
        check_name(channel)?;
        Ok(self
            .shared
            .presence
            .presence_stats(channel)
            .await?
            .num_clients)
    }

    /// Removes a presence entry of a verbatim channel (a dead node's, which would otherwise
    /// stay until it expires).
    pub async fn remove_verbatim_presence(
        &self,
        channel: &str,
        client: &str,
        user: &str,
    ) -> Result<(), HubError> {
        check_name(channel)?;
        Ok(self
            .shared
            .presence
            .remove_presence(channel, client, user)
            .await?)
    }

    /// Sets the hook told, on the node that cleans up after a dead node, about each presence
    /// entry the dead node held in a verbatim channel. It must not block (spawn or queue the
    /// work). Returns false when a hook is already set.
    pub fn on_verbatim_departure(
        &self,
        hook: impl Fn(&Hub, HeldPresence) + Send + Sync + 'static,
    ) -> bool {
        self.shared.verbatim_departure.set(Box::new(hook)).is_ok()
    }

    /// Verbatim channels under `scope` (a prefix, [`VERBATIM_PREFIX`] included) with
    /// subscribers somewhere in the cluster, and how many (a survey of every node).
    pub async fn verbatim_channels(&self, scope: &str) -> Result<Vec<(String, usize)>, HubError> {
        check_name(scope)?;
        let mut channels = self.cluster_channels().await?;
        channels.retain(|(name, _)| name.starts_with(scope));
        Ok(channels)
    }
}

/// One connection of another protocol family. Dropping it without [`VerbatimClient::close`]
/// leaves its subscriptions registered: always close it.
#[derive(Debug)]
pub struct VerbatimClient {
    hub: Hub,
    id: Arc<str>,
    /// The key it is registered under in the client index, once registered.
    user: Option<Arc<str>>,
    outbox: Arc<Outbox>,
}

impl VerbatimClient {
    /// The node.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The connection's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The queue the connection's writer drains; closing it ends the connection.
    pub fn outbox(&self) -> Arc<Outbox> {
        self.outbox.clone()
    }

    /// Puts the connection in the node's client index under `user` (the caller scopes it, as
    /// it does channels), or moves it there: API disconnects addressed to `user` reach it,
    /// shutdown closes it, and it counts in the node's connections. Refused while the node
    /// shuts down.
    pub fn register(&mut self, user: &str) -> Result<(), Disconnect> {
        let user: Arc<str> = Arc::from(user);
        let mut clients = self.hub.shared.clients();
        if self.hub.is_shutting_down() {
            return Err(herald_proto::DisconnectCode::SHUTDOWN.into());
        }
        if let Some(old) = self.user.take() {
            clients.remove(&self.id, &old);
        }
        // No per-user limit here: the family's own limits apply.
        let _ = clients.insert(&self.id, &user, &self.outbox, 0);
        self.user = Some(user);
        Ok(())
    }

    /// Subscribes to a verbatim channel, *pending*: from when this returns, publications into
    /// it are kept (bounded like the outbox; past it 3008) until [`VerbatimClient::activate`]
    /// queues the answer and then them, so the client never sees an event before its
    /// subscription's answer, and none is lost in between. Takes the node's broker
    /// subscription when it is the channel's first local subscriber (100 when the broker
    /// refuses it; nothing stays registered). A pending subscription that is not activated
    /// must be left with [`VerbatimClient::unsubscribe`].
    pub async fn subscribe(&self, channel: &str) -> Result<(), HubError> {
        check_name(channel)?;
        let spec = NewSubscriber {
            outbox: self.outbox.clone(),
            push_join_leave: false,
            positioned: false,
            server_side: false,
            delta: false,
        };
        let registry = &self.hub.shared.registry;
        let first = registry
            .add_pending(channel, &self.id, spec)
            .map_err(|_| HubError::AlreadySubscribed)?;
        if first && let Err(err) = self.hub.shared.broker.subscribe(channel).await {
            self.unsubscribe(channel).await;
            return Err(err.into());
        }
        // Occupancy, when lifecycle is on (see `Hub::verbatim_lifecycle`).
        self.hub.lifecycle_channel(channel).await;
        Ok(())
    }

    /// Makes a pending subscription live: queues `answer` (the frames that answer the
    /// subscribe, in order), then the publications kept meanwhile.
    pub fn activate(&self, channel: &str, answer: Vec<Bytes>) {
        let mut answer = answer;
        let last = answer.pop();
        for frame in answer {
            // The subscription is pending: nothing else reaches the outbox for it meanwhile.
            let _ = self.outbox.push(frame);
        }
        self.hub
            .shared
            .registry
            .activate(channel, &self.id, last, None);
    }

    /// Leaves a verbatim channel; releases the broker subscription when it was the channel's
    /// last local subscriber.
    pub async fn unsubscribe(&self, channel: &str) {
        if self.hub.shared.registry.remove(channel, &self.id) {
            if let Err(err) = self.hub.shared.broker.unsubscribe(channel).await {
                tracing::warn!(%channel, %err, "broker unsubscribe failed");
            }
            self.hub.lifecycle_channel(channel).await;
        }
    }

    /// Adds this connection's presence entry in `channel` as `user` with `info`, for
    /// `client.presence_ttl`, and records it as held by this node (when liveness is on);
    /// keep it with [`VerbatimClient::refresh_presence`] every
    /// [`Hub::presence_update_interval`].
    pub async fn add_presence(
        &self,
        channel: &str,
        user: &str,
        info: Bytes,
    ) -> Result<(), HubError> {
        self.refresh_presence(channel, user, info).await?;
        if let Some(lifecycle) = self.hub.shared.lifecycle.get() {
            let held = HeldPresence {
                channel: channel.to_owned(),
                client: self.id.to_string(),
                user: user.to_owned(),
            };
            let node = &self.hub.shared.node_id;
            if let Err(err) = lifecycle.store.hold_presence(node, &held).await {
                tracing::warn!(%channel, client = %self.id, %err, "held presence not recorded: if this node dies, the member stays until its entry expires");
            }
        }
        Ok(())
    }

    /// Refreshes this connection's presence entry (same as it was added).
    pub async fn refresh_presence(
        &self,
        channel: &str,
        user: &str,
        info: Bytes,
    ) -> Result<(), HubError> {
        check_name(channel)?;
        let entry = ClientInfo {
            user: user.to_owned(),
            client: self.id.to_string(),
            conn_info: Bytes::new(),
            chan_info: info,
        };
        let ttl = self.hub.shared.options.client.presence_ttl;
        self.hub
            .shared
            .presence
            .add_presence(channel, &self.id, &entry, ttl)
            .await?;
        Ok(())
    }

    /// Removes this connection's presence entry from `channel`.
    pub async fn remove_presence(&self, channel: &str, user: &str) -> Result<(), HubError> {
        self.hub
            .shared
            .presence
            .remove_presence(channel, &self.id, user)
            .await?;
        if let Some(lifecycle) = self.hub.shared.lifecycle.get() {
            let node = &self.hub.shared.node_id;
            if let Err(err) = lifecycle.store.drop_presence(node, channel, &self.id).await {
                tracing::warn!(%channel, client = %self.id, %err, "held presence not forgotten");
            }
        }
        Ok(())
    }

    /// Ready with the reason once the outbox is closed (an API disconnect, a slow client,
    /// shutdown); otherwise `cx` is woken when it closes.
    pub fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<Disconnect> {
        loop {
            match self.outbox.poll_attention(cx) {
                Poll::Ready(Attention::Closed(disconnect)) => return Poll::Ready(disconnect),
                // Control commands address Centrifugo sessions; nothing here reads them.
                Poll::Ready(Attention::Control(_)) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Leaves the client index and closes the outbox (with `disconnect` unless it is closed
    /// already). The caller unsubscribes and removes presence first.
    pub fn close(self, disconnect: Disconnect) {
        if let Some(user) = &self.user {
            self.hub.shared.clients().remove(&self.id, user);
        }
        self.outbox.close(disconnect);
    }
}

impl Hub {
    /// How often a presence entry must be refreshed to stay (`client.presence_update_interval`).
    pub fn presence_update_interval(&self) -> Duration {
        self.shared.options.client.presence_update_interval
    }
}
