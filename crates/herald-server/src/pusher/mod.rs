//! The Pusher Channels side of the server (issue 13): the configured apps and what the
//! WebSocket endpoint (`transport/websocket/pusher.rs`) and the HTTP API share. The protocol
//! itself is the `herald-pusher` crate; the node is the same hub as the Centrifugo protocol's,
//! reached through `herald_hub::VerbatimClient`.
//!
//! - [`apps`]: apps by key and by id, their key spaces in the hub, connection counts, socket
//!   ids.
//! - [`members`]: presence channels' members from the hub's presence entries.
//! - [`api`]: the HTTP API, `/apps/<id>/...`.
//! - [`departures`]: `member_removed` for the members of a node that died.

pub(crate) mod api;
pub(crate) mod apps;
pub(crate) mod departures;
pub(crate) mod members;

/// How long a cache channel keeps its last event (Pusher's 30 minutes).
pub(crate) const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 60);
