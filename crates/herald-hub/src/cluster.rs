//! The control plane: how API commands and node heartbeats reach every node.
//!
//! Every operation that addresses connections (disconnect, unsubscribe, subscribe, refresh) is
//! sent with [`Broker::publish_control`](herald_engine::Broker::publish_control) and applied by
//! each node, this one included, to its own connections when the message comes back through
//! [`BrokerEventHandler::handle_control`]. A single node with the memory engine takes the same
//! path (the memory broker loops control messages back), so the multi-node case needs no second
//! code path. Nodes announce themselves every [`HEARTBEAT_INTERVAL`]; a node not heard from for
//! [`NODE_TTL`] is dropped from `/api/info`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use herald_engine::{BrokerEventHandler, ClientInfo, Publication, StreamPosition};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::node::{NodeInfo, Shared, Target};
use crate::outbox::ControlRejected;
use crate::registry::Registry;
use crate::session::{Control, ServerSubscription};
use crate::{Disconnect, SubscribeOverride};

/// How often a node announces itself.
pub(crate) const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(3);
/// A node not heard from for this long is considered gone.
pub(crate) const NODE_TTL: Duration = Duration::from_secs(7);

/// A control message, as sent between nodes (JSON: low volume, easy to read in a capture).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ControlMessage {
    /// A node's heartbeat with its counters.
    Node(WireNode),
    /// A node is shutting down: drop it now rather than after [`NODE_TTL`].
    NodeShutdown { uid: String },
    /// Close a user's connections.
    Disconnect {
        target: WireTarget,
        code: u16,
        reason: String,
    },
    /// Unsubscribe a user's connections from a channel.
    Unsubscribe { target: WireTarget, channel: String },
    /// Subscribe a user's connections to a channel.
    Subscribe {
        target: WireTarget,
        subscription: WireSubscription,
    },
    /// A command frame for an emulated session on node `node` (see `emulation.rs`); the
    /// other nodes ignore it.
    Emulation {
        node: String,
        session: String,
        /// Base64 of the frame (Protobuf frames are binary).
        data: String,
    },
    /// A question to every node (`survey.rs`); each answers with a `SurveyReply` to `from`.
    SurveyRequest {
        id: u64,
        from: String,
        query: crate::survey::SurveyQuery,
    },
    /// A node's answer to survey `id` of node `to`; the other nodes ignore it.
    SurveyReply {
        id: u64,
        to: String,
        from: String,
        answer: crate::survey::SurveyAnswer,
    },
    /// Change a user's connections' expiry.
    Refresh {
        target: WireTarget,
        expired: bool,
        expire_at: Option<i64>,
        info: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WireNode {
    uid: String,
    name: String,
    version: String,
    num_clients: usize,
    num_users: usize,
    num_channels: usize,
    num_subs: usize,
    uptime: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WireTarget {
    user: String,
    client: Option<String>,
    whitelist: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WireSubscription {
    channel: String,
    /// Base64, since channel info may be binary.
    info: String,
    data: String,
    expire_at: Option<i64>,
    presence: Option<bool>,
    join_leave: Option<bool>,
    force_push_join_leave: Option<bool>,
    force_positioning: Option<bool>,
    force_recovery: Option<bool>,
}

impl ControlMessage {
    pub(crate) fn encode(&self) -> Bytes {
        // Serializing plain data with owned strings cannot fail.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    pub(crate) fn disconnect(target: &Target, disconnect: &Disconnect) -> Self {
        Self::Disconnect {
            target: target.into(),
            code: disconnect.code,
            reason: disconnect.reason.clone(),
        }
    }

    pub(crate) fn subscribe(target: &Target, sub: &ServerSubscription) -> Self {
        let b64 = |b: &Bytes| base64::engine::general_purpose::STANDARD.encode(b);
        Self::Subscribe {
            target: target.into(),
            subscription: WireSubscription {
                channel: sub.channel.clone(),
                info: b64(&sub.info),
                data: b64(&sub.data),
                expire_at: sub.expire_at,
                presence: sub.overrides.presence,
                join_leave: sub.overrides.join_leave,
                force_push_join_leave: sub.overrides.force_push_join_leave,
                force_positioning: sub.overrides.force_positioning,
                force_recovery: sub.overrides.force_recovery,
            },
        }
    }

    pub(crate) fn refresh(
        target: &Target,
        expired: bool,
        expire_at: Option<i64>,
        info: Option<&Bytes>,
    ) -> Self {
        Self::Refresh {
            target: target.into(),
            expired,
            expire_at,
            info: info.map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
        }
    }
}

impl From<&Target> for WireTarget {
    fn from(target: &Target) -> Self {
        Self {
            user: target.user.clone(),
            client: target.client.clone(),
            whitelist: target.whitelist.clone(),
        }
    }
}

impl From<WireTarget> for Target {
    fn from(wire: WireTarget) -> Self {
        Self {
            user: wire.user,
            client: wire.client,
            whitelist: wire.whitelist,
        }
    }
}

impl From<&NodeInfo> for WireNode {
    fn from(info: &NodeInfo) -> Self {
        Self {
            uid: info.uid.clone(),
            name: info.name.clone(),
            version: info.version.clone(),
            num_clients: info.num_clients,
            num_users: info.num_users,
            num_channels: info.num_channels,
            num_subs: info.num_subs,
            uptime: info.uptime,
        }
    }
}

impl From<WireNode> for NodeInfo {
    fn from(wire: WireNode) -> Self {
        Self {
            uid: wire.uid,
            name: wire.name,
            version: wire.version,
            num_clients: wire.num_clients,
            num_users: wire.num_users,
            num_channels: wire.num_channels,
            num_subs: wire.num_subs,
            uptime: wire.uptime,
        }
    }
}

fn decode_b64(text: &str) -> Bytes {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(Bytes::from)
        .unwrap_or_default()
}

/// Nodes heard from recently.
#[derive(Debug, Default)]
pub(crate) struct Nodes {
    // std Mutex: map updates only, nothing awaits.
    seen: Mutex<HashMap<String, (NodeInfo, Instant)>>,
}

impl Nodes {
    pub(crate) fn record(&self, info: NodeInfo) {
        self.lock().insert(info.uid.clone(), (info, Instant::now()));
    }

    /// Whether a node with this id was heard from within [`NODE_TTL`].
    pub(crate) fn contains(&self, uid: &str) -> bool {
        self.lock()
            .get(uid)
            .is_some_and(|(_, at)| at.elapsed() < NODE_TTL)
    }

    pub(crate) fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }

    /// Live nodes, sorted by name then uid; expired ones are dropped on the way.
    pub(crate) fn live(&self) -> Vec<NodeInfo> {
        let now = Instant::now();
        let mut seen = self.lock();
        seen.retain(|_, (_, at)| now.duration_since(*at) < NODE_TTL);
        let mut nodes: Vec<NodeInfo> = seen.values().map(|(info, _)| info.clone()).collect();
        nodes.sort_by(|a, b| (&a.name, &a.uid).cmp(&(&b.name, &b.uid)));
        nodes
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (NodeInfo, Instant)>> {
        // Every critical section is one map operation; a poisoned lock is still consistent.
        herald_engine::lock(&self.seen)
    }
}

/// What the broker delivers to: publications, joins and leaves go to the registry (fan-out);
/// control messages are applied to this node's connections.
pub(crate) struct NodeEvents {
    pub(crate) registry: Arc<Registry>,
    /// Weak: the broker holds this handler and the node holds the broker.
    pub(crate) shared: Weak<Shared>,
    /// Publications in its channel are the node's probes coming back, not for subscribers.
    pub(crate) probe: Arc<crate::probe::Probe>,
}

impl BrokerEventHandler for NodeEvents {
    fn handle_publication(
        &self,
        channel: &str,
        publication: &Publication,
        position: &StreamPosition,
    ) {
        if self.probe.is_probe(channel) {
            self.probe.on_publication(publication);
            return;
        }
        self.registry
            .handle_publication(channel, publication, position);
    }

    fn handle_join(&self, channel: &str, info: &ClientInfo) {
        self.registry.handle_join(channel, info);
    }

    fn handle_leave(&self, channel: &str, info: &ClientInfo) {
        self.registry.handle_leave(channel, info);
    }

    fn handle_control(&self, data: &[u8]) {
        let message: ControlMessage = match serde_json::from_slice(data) {
            Ok(message) => message,
            Err(err) => {
                tracing::warn!(%err, "undecodable control message skipped");
                return;
            }
        };
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        apply(shared, message);
    }

    fn handle_gap(&self) {
        self.registry.handle_gap();
    }
}

/// Applies a control message to this node's connections.
fn apply(shared: Arc<Shared>, message: ControlMessage) {
    match message {
        ControlMessage::Node(node) => shared.nodes.record(node.into()),
        ControlMessage::NodeShutdown { uid } => shared.nodes.forget(&uid),
        ControlMessage::Disconnect {
            target,
            code,
            reason,
        } => {
            let disconnect = Disconnect { code, reason };
            for (_, outbox) in shared.targets(&target.into()) {
                outbox.close(disconnect.clone());
            }
        }
        ControlMessage::Emulation {
            node,
            session,
            data,
        } => {
            if node != shared.node_id {
                return;
            }
            let Ok(frame) = base64::engine::general_purpose::STANDARD.decode(&data) else {
                tracing::warn!(%session, "forwarded emulation frame is not base64; skipped");
                return;
            };
            if let Err(err) = shared.emulations.deliver(&session, Bytes::from(frame)) {
                tracing::info!(%session, %err, "forwarded emulation frame not delivered");
            }
        }
        ControlMessage::SurveyRequest { id, from, query } => {
            crate::survey::answer(shared, id, from, query);
        }
        ControlMessage::SurveyReply {
            id,
            to,
            from,
            answer,
        } => {
            if to == shared.node_id {
                shared.surveys.deliver(id, &from, answer);
            }
        }
        ControlMessage::Unsubscribe { target, channel } => {
            send_to_sessions(&shared, target.into(), move || {
                Control::Unsubscribe(channel.clone())
            });
        }
        ControlMessage::Subscribe {
            target,
            subscription: wire,
        } => {
            let subscription = ServerSubscription {
                channel: wire.channel,
                info: decode_b64(&wire.info),
                data: decode_b64(&wire.data),
                expire_at: wire.expire_at,
                overrides: SubscribeOverride {
                    presence: wire.presence,
                    join_leave: wire.join_leave,
                    force_push_join_leave: wire.force_push_join_leave,
                    force_positioning: wire.force_positioning,
                    force_recovery: wire.force_recovery,
                },
            };
            send_to_sessions(&shared, target.into(), move || {
                Control::Subscribe(subscription.clone())
            });
        }
        ControlMessage::Refresh {
            target,
            expired,
            expire_at,
            info,
        } => {
            let info = info.as_deref().map(decode_b64);
            send_to_sessions(&shared, target.into(), || Control::Refresh {
                expired,
                expire_at,
                info: info.clone(),
            });
        }
    }
}

/// Hands a command to each addressed session without waiting: the broker's delivery path must
/// never block. Overflow policy: a session whose control queue is full is not keeping up, so
/// it is closed with 3011 "force reconnect" (the client reconnects and its state is rebuilt)
/// rather than the command being dropped.
fn send_to_sessions(shared: &Shared, target: Target, make: impl Fn() -> Control) {
    for (client, outbox) in shared.targets(&target) {
        match outbox.push_control(make()) {
            Ok(()) => {}
            Err(ControlRejected::Full) => {
                crate::metrics::count_overflow(crate::metrics::Queue::ControlQueue);
                tracing::warn!(%client, "control queue full: forcing a reconnect");
                outbox.close(herald_proto::DisconnectCode::FORCE_RECONNECT.into());
            }
            Err(ControlRejected::Closed) => {
                tracing::debug!(%client, "connection closed before the API command reached it");
            }
        }
    }
}

/// Announces this node every [`HEARTBEAT_INTERVAL`] until shutdown, then says goodbye.
pub(crate) fn spawn_heartbeat(shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    let stop = shared.shutdown.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(HEARTBEAT_INTERVAL);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = stop.cancelled() => break,
            }
            let Some(shared) = weak.upgrade() else {
                return;
            };
            let message = ControlMessage::Node(WireNode::from(&shared.local_info()));
            if let Err(err) = shared.broker.publish_control(message.encode()).await {
                tracing::warn!(%err, "node heartbeat not sent");
            }
        }
        if let Some(shared) = weak.upgrade() {
            let message = ControlMessage::NodeShutdown {
                uid: shared.node_id.clone(),
            };
            let _ = shared.broker.publish_control(message.encode()).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_round_trip() {
        let target = Target {
            user: "42".into(),
            client: Some("c".into()),
            whitelist: vec!["w".into()],
        };
        let sub = ServerSubscription {
            channel: "news".into(),
            info: Bytes::from_static(b"\x00binary"),
            expire_at: Some(7),
            overrides: SubscribeOverride {
                presence: Some(true),
                ..Default::default()
            },
            ..Default::default()
        };
        let encoded = ControlMessage::subscribe(&target, &sub).encode();
        let decoded: ControlMessage = serde_json::from_slice(&encoded).expect("decodes");
        let ControlMessage::Subscribe {
            target: t,
            subscription: s,
        } = decoded
        else {
            panic!("wrong variant");
        };
        assert_eq!(t.user, "42");
        assert_eq!(decode_b64(&s.info), sub.info);
        assert_eq!(s.presence, Some(true));
    }

    #[tokio::test(start_paused = true)]
    async fn nodes_not_heard_from_expire() {
        let nodes = Nodes::default();
        nodes.record(NodeInfo {
            uid: "a".into(),
            name: "a".into(),
            ..Default::default()
        });
        assert_eq!(nodes.live().len(), 1);
        tokio::time::advance(NODE_TTL).await;
        assert!(nodes.live().is_empty());
    }
}
