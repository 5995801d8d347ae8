//! Webhooks in Pusher's format (`pusher.apps[].webhooks`): `{"time_ms", "events"}` POSTed with
//! `X-Pusher-Key` and `X-Pusher-Signature` (hex HMAC-SHA256 of the body with the app's
//! secret), through the same endpoint machinery as Herald's lifecycle webhooks
//! (`webhooks/sender.rs`: a bounded queue per endpoint, one batch at a time, retried with
//! backoff for up to 5 minutes as Pusher does).
//!
//! Where each event comes from, once across the cluster:
//! - `channel_occupied` / `channel_vacated`: the hub's lifecycle occupancy (the engine's
//!   `LifecycleStore` decides which node emits), forwarded here by [`forward_occupancy`];
//! - `member_added` / `member_removed`: the node of the connection that made the user's
//!   first or last presence (or, when its node died, the node that cleaned up after it);
//! - `client_event` and `cache_miss`: the node of the connection concerned.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use herald_hub::{Hub, LifecycleEvent, LifecycleKind};
use herald_pusher::webhook::{self, KEY_HEADER, SIGNATURE_HEADER, WebhookEvent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::apps::Apps;
use crate::config::PusherWebhook;
use crate::webhooks::{Endpoint, EndpointOptions, Format, WebhookStats};

/// Events waiting per endpoint; past it new ones are dropped, counted and logged.
const QUEUE_MAX: usize = 10_000;
/// Lifecycle events waiting to be turned into webhooks.
const OCCUPANCY_QUEUE: usize = 10_000;

/// Pusher's wire format for one app.
pub(crate) struct PusherFormat {
    key: String,
    secret: String,
}

impl Format for PusherFormat {
    type Event = WebhookEvent;

    fn name(event: &WebhookEvent) -> &str {
        event.name()
    }

    fn body(&self, batch: &[Arc<WebhookEvent>]) -> Bytes {
        let events: Vec<&WebhookEvent> = batch.iter().map(|e| &**e).collect();
        let time_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Bytes::from(webhook::body(time_ms, &events))
    }

    fn headers(&self, _id: &str, body: &Bytes) -> Vec<(&'static str, String)> {
        vec![
            (KEY_HEADER, self.key.clone()),
            (
                SIGNATURE_HEADER,
                herald_pusher::sign::hmac_hex(&self.secret, body),
            ),
        ]
    }
}

/// One app's webhook endpoints.
pub(crate) struct AppWebhooks {
    endpoints: Vec<Endpoint<PusherFormat>>,
}

impl std::fmt::Debug for AppWebhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppWebhooks")
            .field("endpoints", &self.endpoints.len())
            .finish()
    }
}

impl AppWebhooks {
    /// Starts the endpoints of an app (none: nothing is ever queued).
    pub(crate) fn start(
        key: &str,
        secret: &str,
        hooks: &[PusherWebhook],
        client: &reqwest::Client,
        stop: &CancellationToken,
    ) -> Self {
        let stats = Arc::new(WebhookStats::default());
        let endpoints = hooks
            .iter()
            .map(|hook| {
                let options = EndpointOptions {
                    url: hook.url.clone(),
                    events: hook.event_types.clone(),
                    timeout: Duration::from_secs(5),
                    headers: hook.headers.clone(),
                    queue_max_size: QUEUE_MAX,
                    batch_max_size: 50,
                    batch_max_delay: Duration::ZERO,
                    retry_initial_backoff: Duration::from_millis(500),
                    retry_max_backoff: Duration::from_secs(30),
                    retry_max_duration: Duration::from_secs(300),
                    flush_timeout: Duration::from_secs(5),
                };
                let format = PusherFormat {
                    key: key.to_owned(),
                    secret: secret.to_owned(),
                };
                Endpoint::start(options, format, client, &stats, stop)
            })
            .collect();
        Self { endpoints }
    }

    /// Whether any endpoint is configured (callers skip building events otherwise).
    pub(crate) fn enabled(&self) -> bool {
        !self.endpoints.is_empty()
    }

    /// Queues `event` for every endpoint that wants its type.
    pub(crate) fn send(&self, event: WebhookEvent) {
        if self.endpoints.is_empty() {
            return;
        }
        let event = Arc::new(event);
        for endpoint in &self.endpoints {
            endpoint.offer(&event);
        }
    }
}

/// Has the hub hand over its occupancy events about the apps' channels and turns them into
/// `channel_occupied` / `channel_vacated`. Needs lifecycle or liveness on in `hub` (see
/// `departures::start`). Call before `Hub::start`.
pub(crate) fn forward_occupancy(hub: &Hub, apps: Arc<Apps>) {
    let (events, mut received) = mpsc::channel::<LifecycleEvent>(OCCUPANCY_QUEUE);
    if !hub.verbatim_lifecycle(events) {
        tracing::warn!("pusher channel_occupied/vacated webhooks are off: lifecycle is not on");
        return;
    }
    tokio::spawn(async move {
        while let Some(event) = received.recv().await {
            let (key, occupied) = match &event.kind {
                LifecycleKind::ChannelOccupied { channel, .. } => (channel, true),
                LifecycleKind::ChannelVacated { channel, .. } => (channel, false),
                _ => continue,
            };
            let Some((app, channel)) = apps.by_channel_key(key) else {
                continue;
            };
            let channel = channel.to_owned();
            app.webhooks.send(match occupied {
                true => WebhookEvent::ChannelOccupied { channel },
                false => WebhookEvent::ChannelVacated { channel },
            });
        }
    });
}
