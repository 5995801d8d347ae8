//! One endpoint: its bounded queue and the task that batches, signs and POSTs, one batch at a
//! time (so events arrive in order), retrying with backoff up to the configured bound. The
//! wire format is a [`Format`]: Herald's lifecycle webhooks, or Pusher's (`pusher/webhooks.rs`).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::WebhookStats;

/// How an endpoint's batches look on the wire.
pub(crate) trait Format: Send + Sync + 'static {
    /// What is sent.
    type Event: Send + Sync + 'static;
    /// The event's type, as endpoints filter on it.
    fn name(event: &Self::Event) -> &str;
    /// The body of one batch (the same on every attempt).
    fn body(&self, batch: &[Arc<Self::Event>]) -> Bytes;
    /// The headers of one attempt to POST `body` (`id`: the batch's, the same on every
    /// attempt), besides `Content-Type: application/json` and the configured ones.
    fn headers(&self, id: &str, body: &Bytes) -> Vec<(&'static str, String)>;
}

/// An endpoint's settings.
#[derive(Debug, Clone)]
pub(crate) struct EndpointOptions {
    pub(crate) url: String,
    /// Event types sent; empty: all.
    pub(crate) events: Vec<String>,
    pub(crate) timeout: Duration,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) queue_max_size: usize,
    pub(crate) batch_max_size: usize,
    pub(crate) batch_max_delay: Duration,
    pub(crate) retry_initial_backoff: Duration,
    pub(crate) retry_max_backoff: Duration,
    pub(crate) retry_max_duration: Duration,
    pub(crate) flush_timeout: Duration,
}

/// At most one log line per this interval about an endpoint's full queue.
const OVERFLOW_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The dispatcher's handle on an endpoint.
pub(crate) struct Endpoint<F: Format> {
    shared: Arc<Queue<F::Event>>,
    wanted: Vec<String>,
    task: JoinHandle<()>,
}

/// An endpoint's queue, shared by the dispatcher (pushes) and its sender task (takes).
struct Queue<E> {
    url: String,
    /// std Mutex: pushes and takes only, nothing awaits under it.
    events: Mutex<VecDeque<Arc<E>>>,
    max: usize,
    ready: Notify,
    stats: Arc<WebhookStats>,
    overflow_logged: Mutex<Option<Instant>>,
}

/// What the sender task needs besides the queue.
struct Sender<F: Format> {
    queue: Arc<Queue<F::Event>>,
    client: reqwest::Client,
    format: F,
    timeout: Duration,
    headers: Vec<(String, String)>,
    batch_max_size: usize,
    batch_max_delay: Duration,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_duration: Duration,
    flush_timeout: Duration,
    stop: CancellationToken,
}

impl<F: Format> Endpoint<F> {
    pub(crate) fn start(
        options: EndpointOptions,
        format: F,
        client: &reqwest::Client,
        stats: &Arc<WebhookStats>,
        stop: &CancellationToken,
    ) -> Self {
        let queue = Arc::new(Queue {
            url: options.url,
            events: Mutex::new(VecDeque::new()),
            max: options.queue_max_size,
            ready: Notify::new(),
            stats: stats.clone(),
            overflow_logged: Mutex::new(None),
        });
        let sender = Sender {
            queue: queue.clone(),
            client: client.clone(),
            format,
            timeout: options.timeout,
            headers: options.headers,
            batch_max_size: options.batch_max_size.max(1),
            batch_max_delay: options.batch_max_delay,
            initial_backoff: options.retry_initial_backoff,
            max_backoff: options.retry_max_backoff,
            max_duration: options.retry_max_duration,
            flush_timeout: options.flush_timeout,
            stop: stop.clone(),
        };
        Self {
            shared: queue,
            wanted: options.events,
            task: tokio::spawn(sender.run()),
        }
    }

    /// Queues `event` if this endpoint wants its type. Overflow policy: a full queue drops the
    /// new event, counts it and logs (at most every [`OVERFLOW_LOG_INTERVAL`]).
    pub(crate) fn offer(&self, event: &Arc<F::Event>) {
        let name = F::name(event);
        if !self.wanted.is_empty() && !self.wanted.iter().any(|w| w == name) {
            return;
        }
        let queue = &self.shared;
        {
            let mut events = herald_engine::lock(&queue.events);
            if events.len() < queue.max {
                events.push_back(event.clone());
                drop(events);
                queue.ready.notify_one();
                return;
            }
        }
        let overflowed = queue.stats.overflowed.fetch_add(1, Ordering::Relaxed) + 1;
        let mut logged = herald_engine::lock(&queue.overflow_logged);
        if logged.is_none_or(|at| at.elapsed() >= OVERFLOW_LOG_INTERVAL) {
            *logged = Some(Instant::now());
            tracing::warn!(
                url = %queue.url,
                overflowed,
                max = queue.max,
                "webhook queue full: events dropped"
            );
        }
    }

    /// Waits for the sender task, which ends once the queue is empty after stop (or the
    /// flush timeout passed).
    pub(crate) async fn finish(self) {
        self.shared.ready.notify_one();
        let _ = self.task.await;
    }
}

impl<F: Format> Sender<F> {
    async fn run(self) {
        // Set once stop fires: after it nothing waits to fill a batch, and nothing is sent
        // past it plus the flush timeout.
        let mut flush_deadline: Option<Instant> = None;
        loop {
            if flush_deadline.is_none() && self.stop.is_cancelled() {
                flush_deadline = Some(Instant::now() + self.flush_timeout);
            }
            if self.queue.is_empty() {
                if flush_deadline.is_some() {
                    return;
                }
                tokio::select! {
                    () = self.queue.ready.notified() => {}
                    () = self.stop.cancelled() => {}
                }
                continue;
            }
            if flush_deadline.is_none()
                && !self.batch_max_delay.is_zero()
                && self.queue.len() < self.batch_max_size
            {
                tokio::select! {
                    () = tokio::time::sleep(self.batch_max_delay) => {}
                    () = self.stop.cancelled() => {}
                }
            }
            let batch = self.queue.take(self.batch_max_size);
            self.deliver(&batch, flush_deadline).await;
        }
    }

    /// POSTs one batch until it succeeds or its time is up.
    async fn deliver(&self, batch: &[Arc<F::Event>], mut flush_deadline: Option<Instant>) {
        let body = self.format.body(batch);
        let id = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        let mut backoff = self.initial_backoff;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let error = match self.attempt(&id, &body).await {
                Ok(()) => {
                    self.queue
                        .stats
                        .delivered
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    return;
                }
                Err(error) => error,
            };
            self.queue
                .stats
                .failed_attempts
                .fetch_add(1, Ordering::Relaxed);
            if flush_deadline.is_none() && self.stop.is_cancelled() {
                flush_deadline = Some(Instant::now() + self.flush_timeout);
            }
            let retry_at = Instant::now() + backoff;
            let mut deadline = started + self.max_duration;
            if let Some(flush) = flush_deadline {
                deadline = deadline.min(flush);
            }
            if retry_at > deadline {
                self.queue
                    .stats
                    .expired
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                tracing::error!(
                    url = %self.queue.url,
                    batch = %id,
                    events = batch.len(),
                    attempts,
                    %error,
                    "webhook batch dropped: not delivered within the retry bound"
                );
                return;
            }
            tracing::warn!(url = %self.queue.url, batch = %id, attempts, %error, retry_in = ?backoff, "webhook POST failed; retrying");
            tokio::select! {
                () = tokio::time::sleep_until(retry_at) => {}
                // Shutdown shortens the wait: the flush deadline may be nearer.
                () = self.stop.cancelled(), if flush_deadline.is_none() => {
                    flush_deadline = Some(Instant::now() + self.flush_timeout);
                    tokio::time::sleep_until(retry_at.min(flush_deadline.unwrap_or(retry_at))).await;
                }
            }
            backoff = (backoff * 2).min(self.max_backoff);
        }
    }

    async fn attempt(&self, id: &str, body: &Bytes) -> Result<(), String> {
        let mut request = self
            .client
            .post(&self.queue.url)
            .timeout(self.timeout)
            .header(http::header::CONTENT_TYPE, "application/json");
        let signed = self.format.headers(id, body);
        // Configured headers first and never in place of the format's own (the signature,
        // the key): a receiver must be able to trust those.
        for (name, value) in &self.headers {
            if !signed.iter().any(|(own, _)| own.eq_ignore_ascii_case(name))
                && !name.eq_ignore_ascii_case("content-type")
            {
                request = request.header(name, value);
            }
        }
        for (name, value) in signed {
            request = request.header(name, value);
        }
        match request.body(body.clone()).send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("status {}", response.status())),
            Err(err) => Err(err.to_string()),
        }
    }
}

impl<E> Queue<E> {
    fn is_empty(&self) -> bool {
        herald_engine::lock(&self.events).is_empty()
    }

    fn len(&self) -> usize {
        herald_engine::lock(&self.events).len()
    }

    fn take(&self, max: usize) -> Vec<Arc<E>> {
        let mut events = herald_engine::lock(&self.events);
        let n = events.len().min(max);
        events.drain(..n).collect()
    }
}
