//! The Pusher Channels side of the server (issue 13): the configured apps and what the
//! WebSocket endpoint (`transport/websocket/pusher.rs`) and the HTTP API share. The protocol
//! itself is the `herald-pusher` crate; the node is the same hub as the Centrifugo protocol's,
//! reached through `herald_hub::VerbatimClient`.
//!
//! - [`apps`]: apps by key and by id, their key spaces in the hub, connection counts, socket
//!   ids.
//! - [`members`]: presence channels' members from the hub's presence entries.
//! - [`api`]: the HTTP API, `/apps/<id>/...`.
//! - [`counting`]: subscription counting (`pusher_internal:subscription_count`).
//! - [`departures`]: `member_removed` for the members of a node that died.
//! - [`webhooks`]: webhooks in Pusher's format.

pub(crate) mod api;
pub(crate) mod apps;
pub(crate) mod counting;
pub(crate) mod departures;
pub(crate) mod webhooks;

use std::sync::Arc;

use herald_engine::LifecycleStore;
use herald_hub::Hub;
use tokio_util::sync::CancellationToken;

use crate::config::PusherSettings;

/// Sets up the Pusher side of the node before it starts: the apps (and their webhook
/// endpoints), node liveness for presence, and the occupancy webhooks. `stop` starts the
/// webhook endpoints' last flush at shutdown.
pub(crate) fn start(
    settings: &PusherSettings,
    hub: &Hub,
    store: Arc<dyn LifecycleStore>,
    stop: &CancellationToken,
) -> anyhow::Result<Arc<apps::Apps>> {
    let client = crate::outbound::http_client()?;
    let apps = Arc::new(apps::Apps::new(settings, &client, stop));
    departures::start(hub, store, apps.clone());
    if settings.apps.iter().any(|app| !app.webhooks.is_empty()) {
        webhooks::forward_occupancy(hub, apps.clone());
    }
    tracing::info!(apps = settings.apps.len(), "pusher endpoint enabled");
    Ok(apps)
}
pub(crate) mod members;

/// How long a cache channel keeps its last event (Pusher's 30 minutes).
pub(crate) const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 60);
