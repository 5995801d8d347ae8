//! How often each limit refused something: plain atomic counters on the node, bumped where the
//! limit is checked and read by whoever exports metrics ([`crate::Hub::limit_counters`]). Nothing
//! per connection; relaxed ordering, as each counter stands alone.

use std::sync::atomic::{AtomicU64, Ordering};

/// Refusals per limit since the node started.
#[derive(Debug, Default)]
pub struct LimitCounters {
    pub(crate) node_rate: AtomicU64,
    pub(crate) node_full: AtomicU64,
    pub(crate) ip_rate: AtomicU64,
    pub(crate) ip_full: AtomicU64,
    pub(crate) command_rate: AtomicU64,
    pub(crate) command_rate_disconnects: AtomicU64,
    pub(crate) user_connections: AtomicU64,
    pub(crate) api_rate: AtomicU64,
}

/// The counters' values at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitCountersSnapshot {
    /// Connections refused by `client.connection_rate_limit` (HTTP 503).
    pub node_connection_rate: u64,
    /// Connections refused by `client.connection_limit` (HTTP 503).
    pub node_connection_limit: u64,
    /// Connections refused by `client.ip_connection_rate_limit` (HTTP 429).
    pub ip_connection_rate: u64,
    /// Connections refused by `client.ip_connection_limit` (HTTP 429).
    pub ip_connection_limit: u64,
    /// Commands answered with error 111 by `client.rate_limit.client_command`.
    pub command_rate: u64,
    /// Connections closed with 3013 for going on past their command rate.
    pub command_rate_disconnects: u64,
    /// Connections closed with 3504 by `client.user_connection_limit`.
    pub user_connection_limit: u64,
    /// Server API requests refused by `http_api.rate_limit` / `grpc_api.rate_limit`.
    pub api_rate: u64,
}

impl LimitCounters {
    /// Adds one to `counter`.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a server API request refused by its key's rate (the API lives in the server
    /// crate; the count lives here with the others).
    pub fn api_rate_limited(&self) {
        Self::bump(&self.api_rate);
    }

    /// The current values.
    pub fn snapshot(&self) -> LimitCountersSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        LimitCountersSnapshot {
            node_connection_rate: get(&self.node_rate),
            node_connection_limit: get(&self.node_full),
            ip_connection_rate: get(&self.ip_rate),
            ip_connection_limit: get(&self.ip_full),
            command_rate: get(&self.command_rate),
            command_rate_disconnects: get(&self.command_rate_disconnects),
            user_connection_limit: get(&self.user_connections),
            api_rate: get(&self.api_rate),
        }
    }
}
