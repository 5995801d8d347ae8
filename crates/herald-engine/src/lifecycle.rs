//! The cluster-wide side of lifecycle events (webhooks): which nodes hold subscribers of a
//! channel, whether the channel is occupied, which presence entries each node holds, and which
//! nodes stopped announcing themselves. The hub emits `channel_occupied` or `channel_vacated`
//! only when a [`LifecycleStore`] call tells it to, so across the cluster each occupancy period
//! gives exactly one of each, whichever node saw the first subscriber come and the last one go.

use std::time::Duration;

use async_trait::async_trait;

use crate::EngineError;

/// A presence entry a node holds, recorded so that another node can announce its leave when
/// the holder dies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HeldPresence {
    /// The channel.
    pub channel: String,
    /// The connection id.
    pub client: String,
    /// The user id (empty for anonymous).
    pub user: String,
}

/// What a dead node left behind, taken by the node that won its cleanup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadNodeRemains {
    /// Presence entries the dead node held: each needs a `presence_leave`.
    pub presence: Vec<HeldPresence>,
    /// Channels that the dead node was the last holder of: each needs
    /// [`LifecycleStore::check_vacated`].
    pub released: Vec<String>,
}

/// Cluster-wide occupancy, held presence and node liveness, for exactly-once lifecycle events.
///
/// Every method is atomic in the backend (one lock in memory, one Lua script per channel in
/// Redis), so concurrent callers on several nodes agree on who emits.
#[async_trait]
pub trait LifecycleStore: Send + Sync + 'static {
    /// `node` got its first local subscriber of `channel`. Returns the id of a new occupancy
    /// period when the channel was not occupied (the caller emits `channel_occupied`), `None`
    /// when it already was. Period ids of one channel increase.
    async fn occupy(&self, node: &str, channel: &str) -> Result<Option<u64>, EngineError>;

    /// `node` lost its last local subscriber of `channel`. Returns true when no node holds the
    /// channel any more: the caller then calls [`LifecycleStore::check_vacated`] (after its
    /// vacated delay).
    async fn release(&self, node: &str, channel: &str) -> Result<bool, EngineError>;

    /// Ends the occupancy period of `channel` if still no node holds it and it is occupied:
    /// returns the period's id (the caller emits `channel_vacated`) to exactly one caller.
    async fn check_vacated(&self, channel: &str) -> Result<Option<u64>, EngineError>;

    /// Records that `node` holds a presence entry.
    async fn hold_presence(&self, node: &str, entry: &HeldPresence) -> Result<(), EngineError>;

    /// Forgets a presence entry `node` held.
    async fn drop_presence(
        &self,
        node: &str,
        channel: &str,
        client: &str,
    ) -> Result<(), EngineError>;

    /// Records that `node` is alive now; returns the other nodes not heard from for `ttl`
    /// (on the backend's clock), whose remains nobody has taken yet.
    async fn heartbeat(&self, node: &str, ttl: Duration) -> Result<Vec<String>, EngineError>;

    /// Claims the cleanup of `dead` for `claimer`, for `ttl`: true for one caller only.
    async fn claim_cleanup(
        &self,
        dead: &str,
        claimer: &str,
        ttl: Duration,
    ) -> Result<bool, EngineError>;

    /// Removes `dead` from every channel it held and from the node list, and returns what it
    /// left: its presence entries and the channels it was the last holder of.
    async fn take_node(&self, dead: &str) -> Result<DeadNodeRemains, EngineError>;
}
