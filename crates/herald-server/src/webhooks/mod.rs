//! Lifecycle webhooks: the hub's [`LifecycleEvent`]s, POSTed as signed JSON batches to the
//! configured endpoints (docs/webhooks.md).
//!
//! ```text
//! hub ──(bounded mpsc, overflow counted in the hub)──► dispatcher task
//!        ──► per endpoint: bounded queue (overflow counted, logged) ──► sender task
//!              batch (batch_max_size / batch_max_delay) ─► sign ─► POST, retried with backoff
//! ```
//!
//! Each endpoint sends one batch at a time, so its events arrive in the order the node emitted
//! them. A batch that fails (non-2xx, connection error, timeout) is retried with exponential
//! backoff from `retry_initial_backoff` to `retry_max_backoff` until `retry_max_duration`
//! after its first attempt, then dropped with an error log and counted. The batch id
//! (`X-Herald-Webhook-Id`) stays the same across retries, so a receiver can deduplicate.
//! [`Webhooks::shutdown`] hands on what the hub emitted while connections closed and gives the
//! queues `flush_timeout` to empty.

mod event;
mod sender;
mod sign;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use herald_engine::LifecycleStore;
use herald_hub::{Hub, LifecycleEvent, LifecycleOptions};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use event::encode_batch;
pub use sign::{SIGNATURE_HEADER, TIMESTAMP_HEADER, WEBHOOK_ID_HEADER, signature};

use crate::config::WebhookSettings;
pub(crate) use sender::{Endpoint, EndpointOptions, Format};

/// Herald's own format (docs/webhooks.md): a JSON batch of lifecycle events, signed with the
/// endpoint's secret over the attempt's timestamp and the body.
struct Lifecycle {
    secret: Vec<u8>,
}

impl Format for Lifecycle {
    type Event = LifecycleEvent;

    fn name(event: &LifecycleEvent) -> &str {
        event.kind.name()
    }

    fn body(&self, batch: &[Arc<LifecycleEvent>]) -> bytes::Bytes {
        bytes::Bytes::from(encode_batch(batch))
    }

    fn headers(&self, id: &str, body: &bytes::Bytes) -> Vec<(&'static str, String)> {
        let timestamp = unix_secs();
        vec![
            (WEBHOOK_ID_HEADER, id.to_owned()),
            (TIMESTAMP_HEADER, timestamp.to_string()),
            (SIGNATURE_HEADER, signature(&self.secret, timestamp, body)),
        ]
    }
}

/// Counters of the webhook sender (logged at shutdown; read by tests).
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Events delivered (2xx).
    pub delivered: AtomicU64,
    /// Events dropped because an endpoint's queue was full.
    pub overflowed: AtomicU64,
    /// Events dropped because their batch was not delivered within `retry_max_duration` (or
    /// before the shutdown flush ended).
    pub expired: AtomicU64,
    /// Failed POST attempts (each retried until the bound).
    pub failed_attempts: AtomicU64,
}

/// The running webhook sender.
#[derive(Debug)]
pub struct Webhooks {
    stop: CancellationToken,
    dispatcher: JoinHandle<()>,
    stats: Arc<WebhookStats>,
    settings: WebhookSettings,
}

impl Webhooks {
    /// Turns lifecycle events on in `hub` (occupancy in `store`) and starts sending them.
    /// Call before [`Hub::start`].
    pub fn start(
        settings: WebhookSettings,
        hub: &Hub,
        store: Arc<dyn LifecycleStore>,
    ) -> anyhow::Result<Self> {
        let client = crate::outbound::http_client()?;
        let (events, receiver) = mpsc::channel(settings.queue_max_size.max(1));
        let options = LifecycleOptions {
            vacated_delay: settings.vacated_delay,
        };
        if !hub.enable_lifecycle(store, events, options) {
            anyhow::bail!("lifecycle events were already enabled on this hub");
        }
        let stats = Arc::new(WebhookStats::default());
        let stop = CancellationToken::new();
        // The endpoints flush once the dispatcher has queued what the hub emitted before stop.
        let flush = CancellationToken::new();
        let endpoints: Vec<Endpoint<Lifecycle>> = settings
            .endpoints
            .iter()
            .map(|endpoint| {
                let options = EndpointOptions {
                    url: endpoint.url.clone(),
                    events: endpoint.events.clone(),
                    timeout: endpoint.timeout,
                    headers: endpoint.headers.clone(),
                    queue_max_size: settings.queue_max_size,
                    batch_max_size: settings.batch_max_size,
                    batch_max_delay: settings.batch_max_delay,
                    retry_initial_backoff: settings.retry_initial_backoff,
                    retry_max_backoff: settings.retry_max_backoff,
                    retry_max_duration: settings.retry_max_duration,
                    flush_timeout: settings.flush_timeout,
                };
                let format = Lifecycle {
                    secret: endpoint.secret.as_bytes().to_vec(),
                };
                Endpoint::start(options, format, &client, &stats, &flush)
            })
            .collect();
        let dispatcher = tokio::spawn(dispatch(receiver, endpoints, stop.clone(), flush));
        tracing::info!(endpoints = settings.endpoints.len(), "webhooks enabled");
        Ok(Self {
            stop,
            dispatcher,
            stats,
            settings,
        })
    }

    /// The sender's counters.
    pub fn stats(&self) -> Arc<WebhookStats> {
        self.stats.clone()
    }

    /// Queues what the hub already emitted, then lets each endpoint send what it holds for at
    /// most `flush_timeout`; what is left is dropped and counted.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let bound = self.settings.flush_timeout + std::time::Duration::from_secs(1);
        if tokio::time::timeout(bound, self.dispatcher).await.is_err() {
            tracing::warn!("webhook flush did not finish in time");
        }
        let stats = &self.stats;
        tracing::info!(
            delivered = stats.delivered.load(Ordering::Relaxed),
            overflowed = stats.overflowed.load(Ordering::Relaxed),
            expired = stats.expired.load(Ordering::Relaxed),
            "webhooks stopped"
        );
    }
}

/// Moves events from the hub's channel into the queues of the endpoints that want them; on
/// stop, takes what is left in the channel, then waits for the endpoints to flush.
async fn dispatch(
    mut receiver: mpsc::Receiver<LifecycleEvent>,
    endpoints: Vec<Endpoint<Lifecycle>>,
    stop: CancellationToken,
    flush: CancellationToken,
) {
    loop {
        tokio::select! {
            event = receiver.recv() => match event {
                Some(event) => route(&endpoints, event),
                None => break,
            },
            () = stop.cancelled() => break,
        }
    }
    while let Ok(event) = receiver.try_recv() {
        route(&endpoints, event);
    }
    flush.cancel();
    for endpoint in endpoints {
        endpoint.finish().await;
    }
}

fn route(endpoints: &[Endpoint<Lifecycle>], event: LifecycleEvent) {
    let event = Arc::new(event);
    for endpoint in endpoints {
        endpoint.offer(&event);
    }
}

/// Now, Unix seconds.
pub(crate) fn unix_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
