//! `client.user_connection_limit` across the cluster. Centrifugo counts a user's connections per
//! node; Herald counts them in the presence backend, which every node shares (Redis; the memory
//! engine is one node anyway): each connection of a limited user keeps a presence entry in a
//! reserved per-user channel, refreshed with its other presence and expiring after
//! `presence_ttl` like them, so the connections of a node that died stop counting within
//! `presence_ttl` instead of leaking.
//!
//! Add, then count, then undo when over: two connects racing on different nodes may both be
//! refused, never both admitted past the limit. A presence backend that fails does not lock
//! users out: the connection is admitted (the node's own count still holds) and a warning
//! logged.

use herald_engine::ClientInfo;
use herald_proto::DisconnectCode;

use super::Session;
use crate::Disconnect;
use crate::limits::LimitCounters;

/// Prefix of the reserved presence channels; channel rules refuse such names from clients
/// and the API (102), so nobody reads or fakes these entries.
pub(crate) const USER_CONNECTIONS_PREFIX: &str = "__herald.user_connections:";

impl Session {
    /// Counts this freshly registered connection among its user's, or refuses it with 3504
    /// when the user already has `client.user_connection_limit` across the cluster.
    pub(super) async fn count_user_connection(&mut self) -> Result<(), Disconnect> {
        let limit = self.hub.shared.options.client.user_connection_limit;
        if limit == 0 || self.user.is_empty() {
            return Ok(());
        }
        let channel = self.user_connections_channel();
        let presence = self.hub.shared.presence.clone();
        let ttl = self.hub.shared.options.client.presence_ttl;
        let info = self.user_connection_info();
        if let Err(err) = presence
            .add_presence(&channel, &self.client, &info, ttl)
            .await
        {
            tracing::warn!(client = %self.client, user = %self.user, %err, "user connection count unavailable; admitted");
            return Ok(());
        }
        self.user_counted = true;
        let count = match presence.presence_stats(&channel).await {
            Ok(stats) => stats.num_clients as usize,
            Err(err) => {
                tracing::warn!(client = %self.client, user = %self.user, %err, "user connection count unavailable; admitted");
                return Ok(());
            }
        };
        if count <= limit {
            return Ok(());
        }
        self.uncount_user_connection().await;
        LimitCounters::bump(&self.hub.shared.limit_counters.user_connections);
        tracing::info!(client = %self.client, user = %self.user, limit, count, "user connection limit reached in the cluster");
        Err(DisconnectCode::CONNECTION_LIMIT.into())
    }

    /// Keeps the entry alive (with the session's other presence refreshes).
    pub(super) async fn refresh_user_connection(&self) {
        if !self.user_counted {
            return;
        }
        let channel = self.user_connections_channel();
        let ttl = self.hub.shared.options.client.presence_ttl;
        let info = self.user_connection_info();
        let result = self
            .hub
            .shared
            .presence
            .add_presence(&channel, &self.client, &info, ttl)
            .await;
        if let Err(err) = result {
            tracing::warn!(client = %self.client, %err, "user connection refresh failed");
        }
    }

    /// The connection no longer counts for its user.
    pub(super) async fn uncount_user_connection(&mut self) {
        if !std::mem::take(&mut self.user_counted) {
            return;
        }
        let channel = self.user_connections_channel();
        let result = self
            .hub
            .shared
            .presence
            .remove_presence(&channel, &self.client, &self.user)
            .await;
        if let Err(err) = result {
            // The entry expires after presence_ttl anyway.
            tracing::warn!(client = %self.client, %err, "user connection removal failed");
        }
    }

    fn user_connections_channel(&self) -> String {
        format!("{USER_CONNECTIONS_PREFIX}{}", self.user)
    }

    /// What the entry holds: who, not what the connection said about itself.
    fn user_connection_info(&self) -> ClientInfo {
        ClientInfo {
            user: self.user.to_string(),
            client: self.client.to_string(),
            conn_info: Default::default(),
            chan_info: Default::default(),
        }
    }
}
