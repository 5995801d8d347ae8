//! The engine boundary. The hub talks to brokers and presence managers only through these traits,
//! so the memory engine, the Redis engine and the NATS broker are interchangeable.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::{
    ClientInfo, EngineError, HistoryOptions, HistoryResult, PresenceStats, Publication,
    PublishOptions, PublishResult, StreamPosition,
};

/// Receives what a broker delivers. Every publication reaches the node through this path, whether
/// it was published on this node or another, so local fan-out does not care where it came from.
///
/// Calls for one channel arrive in stream order and never concurrently. Implementations must not
/// block: they only enqueue into bounded outboxes.
pub trait BrokerEventHandler: Send + Sync + 'static {
    /// A publication in `channel`; `position` is the stream position right after it (its epoch
    /// lets positioned subscribers detect a changed stream).
    fn handle_publication(
        &self,
        channel: &str,
        publication: &Publication,
        position: &StreamPosition,
    );
    /// A client joined `channel`.
    fn handle_join(&self, channel: &str, info: &ClientInfo);
    /// A client left `channel`.
    fn handle_leave(&self, channel: &str, info: &ClientInfo);

    /// A control message (node heartbeat, API command) sent by some node with
    /// [`Broker::publish_control`], this node included. The bytes are the hub's business.
    fn handle_control(&self, data: &[u8]) {
        let _ = data;
    }

    /// The broker lost its connection to its backend and has restored it (resubscribing every
    /// channel): events of any channel may have been missed in between. Subscribers that rely on
    /// positions must be told to recover.
    fn handle_gap(&self) {}
}

/// Moves publications between nodes and keeps channel history.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Starts delivering events to `handler`. Called once, before any other method.
    async fn run(&self, handler: Arc<dyn BrokerEventHandler>) -> Result<(), EngineError>;

    /// This node now has subscribers in `channel`: deliver its events here.
    async fn subscribe(&self, channel: &str) -> Result<(), EngineError>;

    /// This node has no subscribers in `channel` left.
    async fn unsubscribe(&self, channel: &str) -> Result<(), EngineError>;

    /// Publishes into `channel`: appends to its stream when `opts` keeps history (assigning the
    /// next offset) and delivers it to every node subscribed to the channel, atomically with
    /// respect to other publishes into the same channel.
    async fn publish(
        &self,
        channel: &str,
        publication: Publication,
        opts: &PublishOptions,
    ) -> Result<PublishResult, EngineError>;

    /// Announces that `info` joined `channel`.
    async fn publish_join(&self, channel: &str, info: &ClientInfo) -> Result<(), EngineError>;

    /// Announces that `info` left `channel`.
    async fn publish_leave(&self, channel: &str, info: &ClientInfo) -> Result<(), EngineError>;

    /// Reads the channel stream.
    async fn history(
        &self,
        channel: &str,
        opts: &HistoryOptions,
    ) -> Result<HistoryResult, EngineError>;

    /// Drops the channel's publications but keeps its position (offset and epoch).
    async fn remove_history(&self, channel: &str) -> Result<(), EngineError>;

    /// Delivers `data` to [`BrokerEventHandler::handle_control`] on every node, this one
    /// included. A broker without a control plane refuses.
    async fn publish_control(&self, data: bytes::Bytes) -> Result<(), EngineError> {
        let _ = data;
        Err(EngineError::Unavailable {
            reason: "this broker has no control plane".to_owned(),
        })
    }

    /// Whether the broker can currently reach its backend (for `/health`).
    fn is_healthy(&self) -> bool {
        true
    }

    /// Drops the link that delivers events to this node and establishes it again, subscribing
    /// every channel anew and then reporting [`BrokerEventHandler::handle_gap`]. The hub calls
    /// it when its end-to-end probe did not come back although the broker reports itself
    /// healthy: the link looks alive but delivers nothing (a wedged PUB/SUB connection).
    /// Returns at once; the reconnect happens in the background. A broker that delivers
    /// in-process has no link to drop.
    fn reconnect(&self) {}
}

/// Keeps who is subscribed to a channel, with expiry so that a dead node's entries vanish.
#[async_trait]
pub trait PresenceManager: Send + Sync + 'static {
    /// Adds or refreshes `client_id` in `channel` for `ttl`.
    async fn add_presence(
        &self,
        channel: &str,
        client_id: &str,
        info: &ClientInfo,
        ttl: Duration,
    ) -> Result<(), EngineError>;

    /// Removes `client_id` from `channel` (`user` is given so user counters can be kept).
    async fn remove_presence(
        &self,
        channel: &str,
        client_id: &str,
        user: &str,
    ) -> Result<(), EngineError>;

    /// Everyone present in `channel`, keyed by connection id.
    async fn presence(&self, channel: &str) -> Result<HashMap<String, ClientInfo>, EngineError>;

    /// Counters of `channel`.
    async fn presence_stats(&self, channel: &str) -> Result<PresenceStats, EngineError>;

    /// Whether the presence backend can currently be reached (for the readiness endpoint).
    fn is_available(&self) -> bool {
        true
    }
}
