//! The node: shared state of every session on this server, and the operations the HTTP API
//! calls (publish, presence, history, and commands addressed to users' connections).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use herald_engine::{
    Broker, ClientInfo, EngineError, HistoryFilter, HistoryLimit, HistoryOptions, HistoryResult,
    PresenceManager, PresenceStats, Publication, PublishOptions, StreamPosition,
};
use herald_proto::{DisconnectCode, Protocol};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::channels::{ChannelRules, ResolvedChannel};
use crate::clients::{Clients, LimitReached};
use crate::cluster::{ControlMessage, NodeEvents, Nodes};
use crate::emulation::Emulations;
use crate::outbox::Outbox;
use crate::registry::Registry;
use crate::session::{ServerSubscription, Session, TransportKind};
use crate::{
    ChannelOptions, Disconnect, HubError, NodeOptions, PublicationDataFormat, TokenVerifier,
};

/// A handle on the node. Cheap to clone; every session and the HTTP API share one.
#[derive(Clone)]
pub struct Hub {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("node_id", &self.shared.node_id)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    pub(crate) options: NodeOptions,
    /// Connection rate limiter and limit-log throttle (`admission.rs`).
    pub(crate) admission: crate::admission::Admission,
    /// Connections and rate buckets per client IP (`limits/ip.rs`).
    pub(crate) ip_table: crate::limits::IpTable,
    /// Refusals per limit, for metrics.
    pub(crate) limit_counters: crate::limits::LimitCounters,
    pub(crate) rules: ChannelRules,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) presence: Arc<dyn PresenceManager>,
    pub(crate) verifier: Arc<dyn TokenVerifier>,
    pub(crate) registry: Arc<Registry>,
    // std Mutex: only map updates under it, nothing awaits.
    clients: Mutex<Clients>,
    pub(crate) nodes: Nodes,
    pub(crate) emulations: Emulations,
    /// Open surveys (request/response over the control plane, `survey.rs`).
    pub(crate) surveys: crate::survey::Surveys,
    pub(crate) node_id: String,
    /// Lifecycle events (webhooks), when enabled.
    pub(crate) lifecycle: std::sync::OnceLock<crate::lifecycle::Lifecycle>,
    /// Told about verbatim-channel presence entries of dead nodes (`verbatim.rs`).
    pub(crate) verbatim_departure: std::sync::OnceLock<crate::verbatim::DepartureHook>,
    started: Instant,
    pub(crate) shutdown: CancellationToken,
    /// The end-to-end broker probe and the health counters (`probe.rs`).
    pub(crate) probe: Arc<crate::probe::Probe>,
}

/// A publish from the server API.
#[derive(Debug, Clone, Default)]
pub struct ApiPublish {
    /// Target channel.
    pub channel: String,
    /// Payload (raw JSON, or binary from `b64data`).
    pub data: Bytes,
    /// Do not append to the channel stream.
    pub skip_history: bool,
    /// Tags attached to the publication.
    pub tags: HashMap<String, String>,
    /// Deduplicates publishes with the same key for 5 minutes.
    pub idempotency_key: Option<String>,
    /// Publication version (Centrifugo 6.2); 0 is none. In a channel with history, a
    /// publication not newer than the channel's last versioned one (in the same
    /// `version_epoch`) is dropped; the publish still succeeds with the current top position,
    /// as Centrifugo answers. See [`herald_engine::PublishOptions::version`].
    pub version: u64,
    /// Generation of `version`; empty compares with any.
    pub version_epoch: String,
    /// Send it as a delta to subscribers that negotiated one (the namespace's `delta_publish`
    /// turns this on for every publish).
    pub delta: bool,
}

/// Which of a user's connections an API call addresses.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// The user.
    pub user: String,
    /// Only this connection, when set.
    pub client: Option<String>,
    /// Connections not to touch (disconnect only).
    pub whitelist: Vec<String>,
}

/// Counters for `/api/info`.
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    /// Node id, random per process.
    pub uid: String,
    /// Node name.
    pub name: String,
    /// Server version.
    pub version: String,
    /// Connections.
    pub num_clients: usize,
    /// Distinct users.
    pub num_users: usize,
    /// Channels with subscribers.
    pub num_channels: usize,
    /// Subscriptions.
    pub num_subs: usize,
    /// Seconds since start.
    pub uptime: u64,
}

impl Hub {
    /// A node using `broker` and `presence`, verifying tokens with `verifier`. Call
    /// [`Hub::start`] before serving clients.
    pub fn new(
        options: NodeOptions,
        broker: Arc<dyn Broker>,
        presence: Arc<dyn PresenceManager>,
        verifier: Arc<dyn TokenVerifier>,
    ) -> Self {
        let rules = ChannelRules::new(options.channel.clone());
        let node_id = uuid::Uuid::new_v4().to_string();
        let probe = Arc::new(crate::probe::Probe::new(&node_id, &options.probe));
        let broker: Arc<dyn Broker> = match crate::metrics() {
            Some(metrics) => Arc::new(crate::metrics::TimedBroker::new(broker, metrics)),
            None => broker,
        };
        let shared = Shared {
            options,
            rules,
            broker,
            presence,
            verifier,
            registry: Arc::new(Registry::new()),
            clients: Mutex::new(Clients::default()),
            nodes: Nodes::default(),
            emulations: Emulations::default(),
            surveys: Default::default(),
            admission: Default::default(),
            ip_table: Default::default(),
            limit_counters: Default::default(),
            node_id,
            lifecycle: std::sync::OnceLock::new(),
            verbatim_departure: std::sync::OnceLock::new(),
            started: Instant::now(),
            shutdown: CancellationToken::new(),
            probe,
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// Connects the node to its broker: from now on publications reach local subscribers and
    /// control messages reach this node. Starts the node heartbeat and the end-to-end broker
    /// probe (which subscribes its channel, so this fails if that does).
    pub async fn start(&self) -> Result<(), EngineError> {
        let events = NodeEvents {
            registry: self.shared.registry.clone(),
            shared: Arc::downgrade(&self.shared),
            probe: self.shared.probe.clone(),
        };
        self.shared.broker.run(Arc::new(events)).await?;
        self.shared.nodes.record(self.shared.local_info());
        crate::cluster::spawn_heartbeat(&self.shared);
        crate::probe::spawn(&self.shared, &self.shared.options.probe).await?;
        crate::lifecycle::start_watch(&self.shared).await;
        Ok(())
    }

    /// Whether the engine can reach its backend (for `/health`).
    pub fn is_healthy(&self) -> bool {
        self.shared.broker.is_healthy()
    }

    /// A new session for a connection speaking `protocol`. The transport reads frames into it
    /// and writes what its outbox holds.
    pub fn session(&self, protocol: Protocol) -> Session {
        Session::new(self.clone(), protocol, TransportKind::Bidirectional)
    }

    /// A new session for a transport of the given kind (see [`TransportKind`]).
    pub fn session_for(&self, protocol: Protocol, kind: TransportKind) -> Session {
        Session::new(self.clone(), protocol, kind)
    }

    /// Names (lower-case) of the request headers some proxy forwards: a transport keeps these
    /// of each client's request ([`Session::set_proxy_headers`]), and nothing when empty.
    pub fn proxy_header_names(&self) -> &[String] {
        &self.shared.options.client.proxy_http_headers
    }

    /// The header naming the client IP for the per-IP limits (`client.ip_header`,
    /// lower-case), if one is trusted.
    pub fn client_ip_header(&self) -> Option<&str> {
        self.shared.options.client.ip_header.as_deref()
    }

    /// How often each limit refused something since start ([`LimitCounters::snapshot`]).
    ///
    /// [`LimitCounters::snapshot`]: crate::LimitCounters::snapshot
    pub fn limit_counters(&self) -> &crate::LimitCounters {
        &self.shared.limit_counters
    }

    /// This node's id, as other nodes and emulated clients address it.
    pub fn node_id(&self) -> &str {
        &self.shared.node_id
    }

    /// The node's options.
    pub fn options(&self) -> &NodeOptions {
        &self.shared.options
    }

    /// Closes every connection with 3001 "shutdown" and refuses new ones.
    pub fn shutdown(&self) {
        // Sessions that have not connected yet are not registered: they watch the token.
        // Cancelled before the registered ones are closed, and `register` checks it under the
        // same lock, so no session registers unseen.
        self.shared.shutdown.cancel();
        for outbox in self.clients().outboxes() {
            outbox.close(DisconnectCode::SHUTDOWN.into());
        }
    }

    /// Whether [`Hub::shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutdown.is_cancelled()
    }

    /// Number of connected (authenticated) clients.
    pub fn num_clients(&self) -> usize {
        self.clients().len()
    }

    /// This node's counters (clients, users, channels, subscriptions), read from its state
    /// now: what `/metrics` reports as gauges.
    pub fn node_info(&self) -> NodeInfo {
        self.shared.local_info()
    }

    /// Publishes into a channel from the server API.
    pub async fn publish(&self, request: ApiPublish) -> Result<StreamPosition, HubError> {
        let options = self.resolve_api(&request.channel)?.options;
        check_data_format(options.publication_data_format, &request.data)?;
        let publication = Publication {
            data: request.data,
            tags: request.tags,
            time: now_unix_millis(),
            delta: request.delta || options.delta_publish,
            ..Default::default()
        };
        let mut publish_options = self.publish_options(options);
        if request.skip_history {
            publish_options.history_size = 0;
            publish_options.history_ttl = std::time::Duration::ZERO;
        }
        publish_options.idempotency_key = request.idempotency_key.filter(|k| !k.is_empty());
        publish_options.version = request.version;
        publish_options.version_epoch = request.version_epoch;
        let result = self
            .shared
            .broker
            .publish(&request.channel, publication, &publish_options)
            .await?;
        Ok(result.position)
    }

    /// Presence of a channel (108 when presence is off for it).
    pub async fn presence(&self, channel: &str) -> Result<HashMap<String, ClientInfo>, HubError> {
        if !self.resolve_api(channel)?.options.presence {
            return Err(HubError::NotAvailable);
        }
        Ok(self.shared.presence.presence(channel).await?)
    }

    /// Presence counters of a channel (108 when presence is off for it).
    pub async fn presence_stats(&self, channel: &str) -> Result<PresenceStats, HubError> {
        if !self.resolve_api(channel)?.options.presence {
            return Err(HubError::NotAvailable);
        }
        Ok(self.shared.presence.presence_stats(channel).await?)
    }

    /// History of a channel (108 when history is off for it).
    pub async fn history(
        &self,
        channel: &str,
        limit: i32,
        since: Option<StreamPosition>,
        reverse: bool,
    ) -> Result<HistoryResult, HubError> {
        let options = self.resolve_api(channel)?.options;
        if !options.history_enabled() {
            return Err(HubError::NotAvailable);
        }
        let filter = HistoryFilter {
            since,
            limit: HistoryLimit::from_protocol(limit),
            reverse,
        };
        self.read_history(channel, options, filter).await
    }

    /// Drops a channel's publications, keeping its position.
    pub async fn history_remove(&self, channel: &str) -> Result<(), HubError> {
        if !self.resolve_api(channel)?.options.history_enabled() {
            return Err(HubError::NotAvailable);
        }
        Ok(self.shared.broker.remove_history(channel).await?)
    }

    /// Channels with subscribers on this node and their subscriber counts.
    pub fn channels(&self) -> Vec<(String, usize)> {
        self.shared.registry.channels()
    }

    /// Every live node of the cluster (this one with fresh counters), for `/api/info`.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.shared.nodes.record(self.shared.local_info());
        self.shared.nodes.live()
    }

    /// Subscribes a user's connections, on every node, to a channel (server-side subscription).
    pub async fn subscribe(
        &self,
        target: &Target,
        subscription: ServerSubscription,
    ) -> Result<(), HubError> {
        self.resolve_api(&subscription.channel)?;
        self.control(ControlMessage::subscribe(target, &subscription))
            .await
    }

    /// Unsubscribes a user's connections, on every node, from a channel.
    pub async fn unsubscribe(&self, target: &Target, channel: &str) -> Result<(), HubError> {
        self.resolve_api(channel)?;
        let message = ControlMessage::Unsubscribe {
            target: target.into(),
            channel: channel.to_owned(),
        };
        self.control(message).await
    }

    /// Refreshes a user's connections on every node: new expiry, or expire them now.
    pub async fn refresh(
        &self,
        target: &Target,
        expired: bool,
        expire_at: Option<i64>,
        info: Option<Bytes>,
    ) -> Result<(), HubError> {
        self.control(ControlMessage::refresh(
            target,
            expired,
            expire_at,
            info.as_ref(),
        ))
        .await
    }

    /// Disconnects a user's connections on every node.
    pub async fn disconnect(
        &self,
        target: &Target,
        disconnect: Disconnect,
    ) -> Result<(), HubError> {
        self.control(ControlMessage::disconnect(target, &disconnect))
            .await
    }

    async fn control(&self, message: ControlMessage) -> Result<(), HubError> {
        Ok(self.shared.broker.publish_control(message.encode()).await?)
    }

    pub(crate) fn resolve_api<'a>(
        &'a self,
        channel: &'a str,
    ) -> Result<ResolvedChannel<'a>, HubError> {
        if channel.is_empty() {
            return Err(HubError::BadRequest);
        }
        self.shared.rules.resolve(channel)
    }

    pub(crate) fn publish_options(&self, options: &ChannelOptions) -> PublishOptions {
        PublishOptions {
            history_size: options.history_size,
            history_ttl: options.history_ttl,
            history_meta_ttl: self.meta_ttl(options),
            idempotency_key: None,
            idempotent_result_ttl: herald_engine::DEFAULT_IDEMPOTENT_RESULT_TTL,
            ..PublishOptions::default()
        }
    }

    pub(crate) fn meta_ttl(&self, options: &ChannelOptions) -> std::time::Duration {
        options
            .history_meta_ttl
            .unwrap_or(self.shared.options.channel.history_meta_ttl)
    }

    pub(crate) async fn read_history(
        &self,
        channel: &str,
        options: &ChannelOptions,
        filter: HistoryFilter,
    ) -> Result<HistoryResult, HubError> {
        let history_options = HistoryOptions {
            filter,
            meta_ttl: self.meta_ttl(options),
        };
        Ok(self
            .shared
            .broker
            .history(channel, &history_options)
            .await?)
    }

    /// Registers an authenticated connection. Fails with 3504 past the user connection limit.
    pub(crate) fn register(
        &self,
        client: &Arc<str>,
        user: &Arc<str>,
        outbox: &Arc<Outbox>,
    ) -> Result<(), Disconnect> {
        let limit = self.shared.options.client.user_connection_limit;
        let mut clients = self.clients();
        if self.is_shutting_down() {
            return Err(DisconnectCode::SHUTDOWN.into());
        }
        clients
            .insert(client, user, outbox, limit)
            .map_err(|LimitReached| {
                crate::limits::LimitCounters::bump(&self.shared.limit_counters.user_connections);
                Disconnect::from(DisconnectCode::CONNECTION_LIMIT)
            })?;
        drop(clients);
        self.lifecycle_connect(client, user);
        Ok(())
    }

    /// Other connections of `user` (for `single_connection` personal channels).
    pub(crate) fn other_connections(&self, user: &str, client: &Arc<str>) -> Vec<Arc<Outbox>> {
        self.clients()
            .of_user(user)
            .filter(|(id, _)| *id != client)
            .map(|(_, outbox)| outbox.clone())
            .collect()
    }

    pub(crate) fn unregister(&self, client: &Arc<str>, user: &str) {
        let outbox = self.clients().remove(client, user);
        // The close reason (one more outbox lock) only when webhooks want it.
        if let Some(outbox) = outbox
            && self.shared.lifecycle.get().is_some()
        {
            let disconnect = outbox
                .close_reason()
                .unwrap_or_else(|| DisconnectCode::CONNECTION_CLOSED.into());
            self.lifecycle_disconnect(client, user, &disconnect);
        }
    }

    fn clients(&self) -> MutexGuard<'_, Clients> {
        self.shared.clients()
    }
}

impl Shared {
    /// This node's counters.
    pub(crate) fn local_info(&self) -> NodeInfo {
        let (num_clients, num_users) = {
            let clients = self.clients();
            (clients.len(), clients.users())
        };
        let (num_channels, num_subs) = self.registry.counts();
        NodeInfo {
            uid: self.node_id.clone(),
            name: self.options.name.clone(),
            version: self.options.version.clone(),
            num_clients,
            num_users,
            num_channels,
            num_subs,
            uptime: self.started.elapsed().as_secs(),
        }
    }

    /// This node's connections addressed by `target`.
    pub(crate) fn targets(&self, target: &Target) -> Vec<(Arc<str>, Arc<Outbox>)> {
        self.clients()
            .of_user(&target.user)
            .filter(|(id, _)| target.client.as_deref().is_none_or(|c| c == &***id))
            .filter(|(id, _)| !target.whitelist.iter().any(|w| w == &***id))
            .map(|(id, outbox)| (id.clone(), outbox.clone()))
            .collect()
    }

    pub(crate) fn clients(&self) -> MutexGuard<'_, Clients> {
        // Each critical section leaves the index consistent; a poisoned lock is still usable.
        herald_engine::lock(&self.clients)
    }
}

/// Checks a payload against the namespace's `publication_data_format` (107 when it does not fit).
pub(crate) fn check_data_format(
    format: PublicationDataFormat,
    data: &[u8],
) -> Result<(), HubError> {
    let ok = match format {
        PublicationDataFormat::Any => !data.is_empty(),
        PublicationDataFormat::Binary => true,
        PublicationDataFormat::Json => {
            serde_json::from_slice::<&serde_json::value::RawValue>(data).is_ok()
        }
        PublicationDataFormat::JsonObject => {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(data).is_ok()
        }
    };
    if ok {
        Ok(())
    } else {
        Err(HubError::BadRequest)
    }
}

pub(crate) fn now_unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn now_unix_secs() -> i64 {
    now_unix_millis() / 1000
}
