//! The node's metrics: every counter and histogram Herald keeps, in one `static` the hub, the
//! transports, the API and the proxies add to at their existing log sites. The server renders
//! them in Prometheus's text format at scrape time (`herald-server/src/metrics/`), together with
//! gauges it reads from the hub's state then (clients, users, subscriptions, channels): nothing
//! is kept per connection.
//!
//! Counting is off until [`enable_metrics`] (`prometheus.enabled`); [`metrics`] is then
//! `Some`, and each site is one relaxed load when it is off. To add a counter: a field here,
//! its line in the server's `metrics/render.rs` (the one place that spells metric names), and
//! its row in `docs/metrics.md`.
//!
//! Why a `static` rather than a field of the [`Hub`](crate::Hub): the sites that count (an
//! outbox overflowing, a transport timing out, a proxy call) hold no hub handle, and a process
//! serves one node; so the counters need no plumbing and cost no pointer per connection.

mod broker;
mod labels;
mod primitives;

use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) use broker::TimedBroker;
pub use labels::{BrokerOp, Method, PushKind, Queue, Transport};
pub use primitives::{
    COMMAND_BUCKETS, Counter, CounterFamily, DEFAULT_BUCKETS, Histogram, HistogramFamily,
    HistogramSnapshot,
};

static METRICS: Metrics = Metrics::new();
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns counting on for the process (call before [`Hub::new`](crate::Hub::new), so broker
/// calls are timed too).
pub fn enable_metrics() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// The process's metrics, when counting is on.
pub fn metrics() -> Option<&'static Metrics> {
    ENABLED.load(Ordering::Relaxed).then_some(&METRICS)
}

/// API call labels: `(protocol, method)`, e.g. `("http", "publish")`.
pub type ApiKey = (&'static str, &'static str);
/// API error labels: `(protocol, method, error code)`.
pub type ApiErrorKey = (&'static str, &'static str, u32);
/// Proxy call labels: `(protocol, type, name)`, e.g. `("http", "connect", "default")`.
pub type ProxyKey = (&'static str, &'static str, String);

/// Every counter and histogram of the node. Fields are grouped as the rendered families are.
#[derive(Debug)]
pub struct Metrics {
    /// Commands received, by transport and method (`transport_messages_received`).
    pub commands_received: [[Counter; Method::COUNT]; Transport::COUNT],
    /// Replies sent, by transport and the method they answer (`transport_messages_sent`).
    pub replies_sent: [[Counter; Method::COUNT]; Transport::COUNT],
    /// Command handling time by method, engine and proxy calls included
    /// (`client_command_duration_seconds_histogram`).
    pub command_duration: [Histogram; Method::COUNT],
    /// Error replies by `(method, code)` (`client_num_reply_errors`).
    pub reply_errors: CounterFamily<(Method, u32)>,
    /// Connections ended, by disconnect code, counted once per session when it closes
    /// (`client_num_server_disconnects`).
    pub disconnects: CounterFamily<u32>,
    /// Events queued to subscribers by the registry, by kind; a fan-out adds its number of
    /// deliveries once (`node_messages_sent_count`).
    pub messages_sent: [Counter; PushKind::COUNT],
    /// Events the registry received from the broker, by kind (`node_messages_received_count`).
    pub messages_received: [Counter; PushKind::COUNT],
    /// Recoveries on subscribe: index 0 not recovered, 1 recovered (`client_recover`).
    pub recoveries: [Counter; 2],
    /// Overflows of the bounded queues, by queue (`node_queue_overflows_total`).
    pub overflows: [Counter; Queue::COUNT],
    /// Times the broker reported it may have missed events (`handle_gap`: reconnects, NATS
    /// slow-consumer drops).
    pub broker_gaps: Counter,
    /// Engine call durations by operation (`broker_duration_seconds`).
    pub broker_duration: [Histogram; BrokerOp::COUNT],
    /// Server API calls by `(protocol, method)` (`api_command_duration_seconds_histogram`).
    pub api_duration: HistogramFamily<ApiKey>,
    /// Server API errors by `(protocol, method, code)` (`api_command_errors_total`).
    pub api_errors: CounterFamily<ApiErrorKey>,
    /// Proxy calls by `(protocol, type, name)` (`proxy_duration_seconds_histogram`).
    pub proxy_duration: HistogramFamily<ProxyKey>,
    /// Failed proxy calls by `(protocol, type, name)` (`proxy_errors`).
    pub proxy_errors: CounterFamily<ProxyKey>,
}

impl Metrics {
    const fn new() -> Self {
        Self {
            commands_received: [const { [const { Counter::new() }; Method::COUNT] };
                Transport::COUNT],
            replies_sent: [const { [const { Counter::new() }; Method::COUNT] }; Transport::COUNT],
            command_duration: [const { Histogram::new(COMMAND_BUCKETS) }; Method::COUNT],
            reply_errors: CounterFamily::new(),
            disconnects: CounterFamily::new(),
            messages_sent: [const { Counter::new() }; PushKind::COUNT],
            messages_received: [const { Counter::new() }; PushKind::COUNT],
            recoveries: [const { Counter::new() }; 2],
            overflows: [const { Counter::new() }; Queue::COUNT],
            broker_gaps: Counter::new(),
            broker_duration: [const { Histogram::new(COMMAND_BUCKETS) }; BrokerOp::COUNT],
            api_duration: HistogramFamily::new(DEFAULT_BUCKETS),
            api_errors: CounterFamily::new(),
            proxy_duration: HistogramFamily::new(DEFAULT_BUCKETS),
            proxy_errors: CounterFamily::new(),
        }
    }
}

/// Counts an overflow of `queue`, when counting is on.
pub fn count_overflow(queue: Queue) {
    if let Some(m) = metrics() {
        m.overflows[queue.index()].inc();
    }
}
