//! Lifecycle events for webhooks: `connect`, `disconnect`, `channel_occupied`,
//! `channel_vacated`, `presence_join`, `presence_leave`, each emitted once across the cluster.
//!
//! The node that holds a connection emits its connect, disconnect, joins and leaves. Occupancy
//! is decided by the engine's [`LifecycleStore`]: when a channel's *local* subscriber count
//! goes 0 -> 1 or 1 -> 0, the node tells the store, and emits `channel_occupied` only when the
//! store says the channel was vacated cluster-wide, `channel_vacated` only when the store's
//! check (after [`LifecycleOptions::vacated_delay`]) says no node holds it and the period is
//! still open. A node's transitions on one channel are serialized by a per-channel async lock
//! and are *level-triggered*: whoever takes the lock reads the registry's current state and
//! tells the store what differs from what it told it last, so racing subscribes and
//! unsubscribes on one node cannot leave the store wrong.
//!
//! Dead nodes: every [`HEARTBEAT_INTERVAL`] each node writes its heartbeat into the store and
//! learns which nodes were not heard from for [`NODE_TTL`]; for each, it tries to claim the
//! cleanup, and the one winner emits `presence_leave` for the entries the dead node held and
//! `channel_vacated` where the dead node was the last holder. So those events follow a kill
//! within `NODE_TTL + HEARTBEAT_INTERVAL + vacated_delay` (plus the store calls).
//!
//! Events go into a bounded channel to the server's sender; a full channel drops the event,
//! counts it ([`Hub::lifecycle_dropped`]) and logs at most every [`DROP_LOG_INTERVAL`]. None of
//! this runs unless [`Hub::enable_lifecycle`] was called: the session paths check one
//! `OnceLock`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use herald_engine::{ClientInfo, HeldPresence, LifecycleStore, lock};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::cluster::{HEARTBEAT_INTERVAL, NODE_TTL};
use crate::node::{Shared, now_unix_millis};
use crate::{Disconnect, Hub};

/// How long a claim on a dead node's cleanup holds before another node may try again.
const CLAIM_TTL: Duration = Duration::from_secs(60);
/// At most one log line per this interval about events dropped on a full channel.
pub const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// One lifecycle event, as the hub emits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    /// A v4 UUID, unique per event (receivers deduplicate by it).
    pub id: String,
    /// When it was emitted, Unix milliseconds.
    pub time: i64,
    /// The id of the node that emitted it.
    pub node: String,
    /// What happened.
    pub kind: LifecycleKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleKind {
    /// A client connected (authenticated) on this node.
    Connect {
        /// Connection id.
        client: String,
        /// User id (empty for anonymous).
        user: String,
    },
    /// A connected client went away.
    Disconnect {
        /// Connection id.
        client: String,
        /// User id.
        user: String,
        /// Disconnect code (3000 for a plain close).
        code: u32,
        /// Disconnect reason.
        reason: String,
    },
    /// A channel got its first subscriber in the cluster.
    ChannelOccupied {
        /// The channel.
        channel: String,
        /// The occupancy period: the same id comes with its `ChannelVacated`; a channel's
        /// periods increase, so a receiver can order events from different nodes.
        period: u64,
    },
    /// A channel lost its last subscriber in the cluster.
    ChannelVacated {
        /// The channel.
        channel: String,
        /// The period that ended.
        period: u64,
    },
    /// A client entered the presence of a channel.
    PresenceJoin {
        /// The channel.
        channel: String,
        /// Connection id.
        client: String,
        /// User id.
        user: String,
        /// Connection info (raw, as the token or proxy gave it; empty when none).
        info: Bytes,
        /// Channel info (raw; empty when none).
        chan_info: Bytes,
    },
    /// A client left the presence of a channel (unsubscribed, disconnected, or its node died).
    PresenceLeave {
        /// The channel.
        channel: String,
        /// Connection id.
        client: String,
        /// User id.
        user: String,
    },
}

impl LifecycleKind {
    /// The channel the event is about, if it is about one.
    pub fn channel(&self) -> Option<&str> {
        match self {
            Self::Connect { .. } | Self::Disconnect { .. } => None,
            Self::ChannelOccupied { channel, .. }
            | Self::ChannelVacated { channel, .. }
            | Self::PresenceJoin { channel, .. }
            | Self::PresenceLeave { channel, .. } => Some(channel),
        }
    }

    /// The event's `type` on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "connect",
            Self::Disconnect { .. } => "disconnect",
            Self::ChannelOccupied { .. } => "channel_occupied",
            Self::ChannelVacated { .. } => "channel_vacated",
            Self::PresenceJoin { .. } => "presence_join",
            Self::PresenceLeave { .. } => "presence_leave",
        }
    }

    /// Every event type name.
    pub const NAMES: [&'static str; 6] = [
        "connect",
        "disconnect",
        "channel_occupied",
        "channel_vacated",
        "presence_join",
        "presence_leave",
    ];
}

/// Options of lifecycle events in the hub.
#[derive(Debug, Clone, Default)]
pub struct LifecycleOptions {
    /// How long a channel must stay without subscribers before `channel_vacated` (absorbs
    /// page reloads: a subscriber back within it continues the same period).
    pub vacated_delay: Duration,
}

/// The node's lifecycle machinery (present only when enabled).
pub(crate) struct Lifecycle {
    pub(crate) store: Arc<dyn LifecycleStore>,
    /// `None` when only node liveness was asked for ([`Hub::enable_liveness`]).
    events: Option<mpsc::Sender<LifecycleEvent>>,
    /// Where events about verbatim channels go instead ([`Hub::verbatim_lifecycle`]);
    /// without it they are not emitted (they are another protocol family's).
    verbatim: std::sync::OnceLock<mpsc::Sender<LifecycleEvent>>,
    options: LifecycleOptions,
    /// Per channel, what this node last told the store (true: it holds the channel), behind
    /// an async lock that serializes the node's store calls for the channel. Entries exist
    /// while the node holds the channel or a call is in flight. std Mutex: map updates only.
    channels: Mutex<HashMap<String, Arc<tokio::sync::Mutex<bool>>>>,
    dropped: AtomicU64,
    /// When the last drop was logged.
    drop_logged: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// Turns lifecycle events on: occupancy and held presence are kept in `store` (the
    /// presence manager's backend, so every node shares it), and events go into `events`
    /// (bounded; when full, events are dropped and counted). Call before [`Hub::start`];
    /// returns false (and changes nothing) when already enabled.
    pub fn enable_lifecycle(
        &self,
        store: Arc<dyn LifecycleStore>,
        events: mpsc::Sender<LifecycleEvent>,
        options: LifecycleOptions,
    ) -> bool {
        let lifecycle = Lifecycle {
            store,
            events: Some(events),
            verbatim: std::sync::OnceLock::new(),
            options,
            channels: Mutex::default(),
            dropped: AtomicU64::new(0),
            drop_logged: Mutex::new(None),
        };
        self.shared.lifecycle.set(lifecycle).is_ok()
    }

    /// Turns on node liveness without events: held presence and heartbeats go into `store`,
    /// and when a node dies, the live node that claims its cleanup hands each presence entry
    /// it held in a verbatim channel to the hook of [`Hub::on_verbatim_departure`]. Used by
    /// another protocol family's presence (the Pusher endpoint) when webhooks are off; with
    /// webhooks on, [`Hub::enable_lifecycle`] does it all. Call before [`Hub::start`];
    /// returns false (and changes nothing) when already enabled.
    pub fn enable_liveness(&self, store: Arc<dyn LifecycleStore>) -> bool {
        let lifecycle = Lifecycle {
            store,
            events: None,
            verbatim: std::sync::OnceLock::new(),
            options: LifecycleOptions::default(),
            channels: Mutex::default(),
            dropped: AtomicU64::new(0),
            drop_logged: Mutex::new(None),
        };
        self.shared.lifecycle.set(lifecycle).is_ok()
    }

    /// Sends lifecycle events about verbatim channels (occupancy) into `events` rather than
    /// to the webhook sender: another protocol family turns them into its own webhooks.
    /// Needs lifecycle or liveness on; returns false without it or when already set.
    pub fn verbatim_lifecycle(&self, events: mpsc::Sender<LifecycleEvent>) -> bool {
        self.shared
            .lifecycle
            .get()
            .is_some_and(|lifecycle| lifecycle.verbatim.set(events).is_ok())
    }

    /// Lifecycle events dropped because the channel to the sender was full.
    pub fn lifecycle_dropped(&self) -> u64 {
        self.shared
            .lifecycle
            .get()
            .map_or(0, |l| l.dropped.load(Ordering::Relaxed))
    }

    /// A client connected (registered with the node).
    pub(crate) fn lifecycle_connect(&self, client: &str, user: &str) {
        if let Some(lifecycle) = self.shared.lifecycle.get() {
            lifecycle.emit(
                &self.shared.node_id,
                LifecycleKind::Connect {
                    client: client.to_owned(),
                    user: user.to_owned(),
                },
            );
        }
    }

    /// A connected client went away with `disconnect`.
    pub(crate) fn lifecycle_disconnect(&self, client: &str, user: &str, disconnect: &Disconnect) {
        if let Some(lifecycle) = self.shared.lifecycle.get() {
            lifecycle.emit(
                &self.shared.node_id,
                LifecycleKind::Disconnect {
                    client: client.to_owned(),
                    user: user.to_owned(),
                    code: u32::from(disconnect.code),
                    reason: disconnect.reason.clone(),
                },
            );
        }
    }

    /// The local subscriber count of `channel` may have gone 0 -> 1 or 1 -> 0: tells the
    /// store, and emits `channel_occupied` / `channel_vacated` when it says so.
    pub(crate) async fn lifecycle_channel(&self, channel: &str) {
        if let Some(lifecycle) = self.shared.lifecycle.get() {
            lifecycle.sync_channel(&self.shared, channel).await;
        }
    }

    /// `info` entered the presence of `channel`.
    pub(crate) async fn lifecycle_join(&self, channel: &str, info: &ClientInfo) {
        let Some(lifecycle) = self.shared.lifecycle.get() else {
            return;
        };
        let held = HeldPresence {
            channel: channel.to_owned(),
            client: info.client.clone(),
            user: info.user.clone(),
        };
        if let Err(err) = lifecycle
            .store
            .hold_presence(&self.shared.node_id, &held)
            .await
        {
            tracing::warn!(%channel, client = %info.client, %err, "held presence not recorded: a leave after this node dies may be missed");
        }
        lifecycle.emit(
            &self.shared.node_id,
            LifecycleKind::PresenceJoin {
                channel: held.channel,
                client: held.client,
                user: held.user,
                info: info.conn_info.clone(),
                chan_info: info.chan_info.clone(),
            },
        );
    }

    /// `client` left the presence of `channel`.
    pub(crate) async fn lifecycle_leave(&self, channel: &str, client: &str, user: &str) {
        let Some(lifecycle) = self.shared.lifecycle.get() else {
            return;
        };
        lifecycle.emit(
            &self.shared.node_id,
            LifecycleKind::PresenceLeave {
                channel: channel.to_owned(),
                client: client.to_owned(),
                user: user.to_owned(),
            },
        );
        if let Err(err) = lifecycle
            .store
            .drop_presence(&self.shared.node_id, channel, client)
            .await
        {
            tracing::warn!(%channel, %client, %err, "held presence not forgotten");
        }
    }
}

impl Lifecycle {
    /// Queues an event for the sender. Overflow policy: a full channel drops the event, counts
    /// it and logs (rate-limited); the sender is gone only at shutdown.
    fn emit(&self, node: &str, kind: LifecycleKind) {
        let verbatim = kind
            .channel()
            .is_some_and(|channel| channel.starts_with(crate::VERBATIM_PREFIX));
        let events = match verbatim {
            true => self.verbatim.get(),
            false => self.events.as_ref(),
        };
        let Some(events) = events else {
            return;
        };
        let event = LifecycleEvent {
            id: crate::session::random_uuid(),
            time: now_unix_millis(),
            node: node.to_owned(),
            kind,
        };
        match events.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                let mut logged = lock(&self.drop_logged);
                if logged.is_none_or(|at| at.elapsed() >= DROP_LOG_INTERVAL) {
                    *logged = Some(Instant::now());
                    tracing::warn!(
                        dropped,
                        r#type = event.kind.name(),
                        "lifecycle event channel full: events dropped (webhook sender too slow)"
                    );
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::debug!("lifecycle event after the webhook sender stopped");
            }
        }
    }

    async fn sync_channel(&self, shared: &Arc<Shared>, channel: &str) {
        let cell = lock(&self.channels)
            .entry(channel.to_owned())
            .or_default()
            .clone();
        let mut vacant = false;
        {
            let mut announced = cell.lock().await;
            let local = shared.registry.has_local(channel);
            let node = shared.node_id.as_str();
            if local && !*announced {
                match self.store.occupy(node, channel).await {
                    Ok(period) => {
                        *announced = true;
                        if let Some(period) = period {
                            self.emit(
                                node,
                                LifecycleKind::ChannelOccupied {
                                    channel: channel.to_owned(),
                                    period,
                                },
                            );
                        }
                    }
                    Err(err) => tracing::warn!(%channel, %err, "channel occupancy not recorded"),
                }
            } else if !local && *announced {
                match self.store.release(node, channel).await {
                    Ok(empty) => {
                        *announced = false;
                        vacant = empty;
                    }
                    Err(err) => tracing::warn!(%channel, %err, "channel release not recorded"),
                }
            }
        }
        {
            let mut channels = lock(&self.channels);
            // Two references: the map's and ours; nobody else waits on it.
            if Arc::strong_count(&cell) == 2 && cell.try_lock().is_ok_and(|held| !*held) {
                channels.remove(channel);
            }
        }
        if vacant {
            self.vacated_later(shared, channel.to_owned()).await;
        }
    }

    /// Checks, after the vacated delay, whether `channel` is still vacant, and emits
    /// `channel_vacated` if this node's check closed the period. Without a delay the check
    /// runs at once (so the event follows the leave that caused it); with one, in a task.
    /// At shutdown the delay is cut short: nobody would check after this node is gone.
    async fn vacated_later(&self, shared: &Arc<Shared>, channel: String) {
        if self.options.vacated_delay.is_zero() || shared.shutdown.is_cancelled() {
            self.check_vacated(&shared.node_id, &channel).await;
            return;
        }
        let weak: Weak<Shared> = Arc::downgrade(shared);
        let delay = self.options.vacated_delay;
        let stop = shared.shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stop.cancelled() => {}
            }
            if let Some(shared) = weak.upgrade()
                && let Some(lifecycle) = shared.lifecycle.get()
            {
                lifecycle.check_vacated(&shared.node_id, &channel).await;
            }
        });
    }

    async fn check_vacated(&self, node: &str, channel: &str) {
        match self.store.check_vacated(channel).await {
            Ok(Some(period)) => self.emit(
                node,
                LifecycleKind::ChannelVacated {
                    channel: channel.to_owned(),
                    period,
                },
            ),
            Ok(None) => {}
            Err(err) => tracing::warn!(%channel, %err, "channel vacancy not checked"),
        }
    }

    /// One round of the liveness task: heartbeat, then clean up after every dead node whose
    /// cleanup this node wins.
    async fn watch_nodes(&self, shared: &Arc<Shared>) {
        let me = shared.node_id.as_str();
        let dead = match self.store.heartbeat(me, NODE_TTL).await {
            Ok(dead) => dead,
            Err(err) => {
                tracing::warn!(%err, "lifecycle heartbeat failed");
                return;
            }
        };
        for node in dead.iter().filter(|node| *node != me) {
            match self.store.claim_cleanup(node, me, CLAIM_TTL).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(err) => {
                    tracing::warn!(%node, %err, "dead node cleanup not claimed");
                    continue;
                }
            }
            let remains = match self.store.take_node(node).await {
                Ok(remains) => remains,
                Err(err) => {
                    tracing::warn!(%node, %err, "dead node cleanup failed; retried after the claim expires");
                    continue;
                }
            };
            tracing::info!(
                %node,
                leaves = remains.presence.len(),
                released = remains.released.len(),
                "cleaning up after a dead node"
            );
            for entry in remains.presence {
                if entry.channel.starts_with(crate::VERBATIM_PREFIX) {
                    // Another protocol family's member: its own hook says goodbye.
                    if let Some(hook) = shared.verbatim_departure.get() {
                        hook(
                            &Hub {
                                shared: shared.clone(),
                            },
                            entry,
                        );
                    }
                    continue;
                }
                self.emit(
                    me,
                    LifecycleKind::PresenceLeave {
                        channel: entry.channel,
                        client: entry.client,
                        user: entry.user,
                    },
                );
            }
            for channel in remains.released {
                self.vacated_later(shared, channel).await;
            }
        }
    }
}

/// When lifecycle events are enabled: heartbeats once now (so the node is known to the
/// cluster before it holds anything, and is cleaned up if it dies at once), then runs the
/// liveness task (heartbeat and dead-node cleanup) every [`HEARTBEAT_INTERVAL`] until shutdown.
pub(crate) async fn start_watch(shared: &Arc<Shared>) {
    let Some(lifecycle) = shared.lifecycle.get() else {
        return;
    };
    lifecycle.watch_nodes(shared).await;
    let weak = Arc::downgrade(shared);
    let stop = shared.shutdown.clone();
    tokio::spawn(async move {
        let start = Instant::now() + HEARTBEAT_INTERVAL;
        let mut ticker = tokio::time::interval_at(start, HEARTBEAT_INTERVAL);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = stop.cancelled() => break,
            }
            let Some(shared) = weak.upgrade() else {
                return;
            };
            if let Some(lifecycle) = shared.lifecycle.get() {
                lifecycle.watch_nodes(&shared).await;
            }
        }
    });
}
