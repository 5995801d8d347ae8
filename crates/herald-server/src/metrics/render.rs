//! Prometheus text format (version 0.0.4) of every metric Herald has. Names follow
//! Centrifugo's (`centrifugo_` namespace, its subsystems and labels) where they mean the same
//! thing, so dashboards made for Centrifugo work; Herald's own have names Centrifugo does not
//! use. `docs/metrics.md` lists them all.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use herald_hub::Hub;
use herald_hub::metrics::{
    BrokerOp, HistogramSnapshot, Method, Metrics, PushKind, Queue, Transport,
};

use crate::webhooks::WebhookStats;

/// What a scrape reads besides the hub's counters.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The node: gauges from its state, and lifecycle drops.
    pub hub: Hub,
    /// The webhook sender's counters, when webhooks are on.
    pub webhooks: Option<Arc<WebhookStats>>,
}

/// The exposition of every metric. Counters are only written when counting is on.
pub fn render(sources: &Sources) -> String {
    let mut out = Out(String::with_capacity(16 * 1024));
    gauges(&mut out, &sources.hub);
    limits_and_health(&mut out, &sources.hub);
    if let Some(m) = herald_hub::metrics() {
        client(&mut out, m);
        node(&mut out, m, sources);
        api_and_proxy(&mut out, m);
    }
    if let Some(stats) = &sources.webhooks {
        webhooks(&mut out, stats);
    }
    out.0
}

/// Refusals by every limit and the readiness probe's counts: plain atomics the hub keeps
/// whether or not metrics are on (`Hub::limit_counters`, `Hub::health_counters`), read here.
fn limits_and_health(out: &mut Out, hub: &Hub) {
    let limits = hub.limit_counters().snapshot();
    let health = hub.health_counters();
    let counters: [(&str, &str, u64); 11] = [
        (
            "centrifugo_node_client_connection_limit",
            "Number of connections refused (503) by client.connection_limit.",
            limits.node_connection_limit,
        ),
        (
            "centrifugo_node_client_connection_rate_limit",
            "Number of connections refused (503) by client.connection_rate_limit.",
            limits.node_connection_rate,
        ),
        (
            "centrifugo_node_client_ip_connection_limit",
            "Number of connections refused (429) by client.ip_connection_limit.",
            limits.ip_connection_limit,
        ),
        (
            "centrifugo_node_client_ip_connection_rate_limit",
            "Number of connections refused (429) by client.ip_connection_rate_limit.",
            limits.ip_connection_rate,
        ),
        (
            "centrifugo_client_command_rate_limited",
            "Number of commands answered with error 111 by client.rate_limit.client_command.",
            limits.command_rate,
        ),
        (
            "centrifugo_client_command_rate_limit_disconnects",
            "Number of connections closed with 3013 for going on past their command rate.",
            limits.command_rate_disconnects,
        ),
        (
            "centrifugo_client_user_connection_limit",
            "Number of connections closed with 3504 by client.user_connection_limit.",
            limits.user_connection_limit,
        ),
        (
            "centrifugo_api_rate_limited",
            "Number of server API requests refused by http_api.rate_limit or grpc_api.rate_limit.",
            limits.api_rate,
        ),
        (
            "centrifugo_node_probe_failures",
            "Number of end-to-end broker probes that did not come back in time.",
            health.probe_failures,
        ),
        (
            "centrifugo_broker_forced_reconnects",
            "Number of broker links dropped and re-established because a probe failed.",
            health.link_reconnects,
        ),
        (
            "centrifugo_node_drained_clients",
            "Number of clients closed by a paced drain at shutdown.",
            health.drained_clients,
        ),
    ];
    for (name, help, value) in counters {
        out.header(name, "counter", help);
        out.sample(name, &[], value as f64);
    }
    let name = "centrifugo_node_ready";
    out.header(
        name,
        "gauge",
        "1 while the node is ready (the readiness endpoint's 200), else 0.",
    );
    out.sample(name, &[], f64::from(u8::from(hub.readiness().is_ok())));
}

fn gauges(out: &mut Out, hub: &Hub) {
    let info = hub.node_info();
    let gauge = |out: &mut Out, name: &str, help: &str, value: usize| {
        out.header(name, "gauge", help);
        out.sample(name, &[], value as f64);
    };
    gauge(
        out,
        "centrifugo_node_num_clients",
        "Number of clients connected.",
        info.num_clients,
    );
    gauge(
        out,
        "centrifugo_node_num_users",
        "Number of unique users connected.",
        info.num_users,
    );
    gauge(
        out,
        "centrifugo_node_num_subscriptions",
        "Number of subscriptions.",
        info.num_subs,
    );
    gauge(
        out,
        "centrifugo_node_num_channels",
        "Number of channels with one or more subscribers.",
        info.num_channels,
    );
    gauge(
        out,
        "centrifugo_node_num_nodes",
        "Number of nodes in the cluster.",
        hub.nodes().len(),
    );
    out.header("centrifugo_node_build", "gauge", "Node build info.");
    out.sample("centrifugo_node_build", &[("version", &info.version)], 1.0);
}

fn client(out: &mut Out, m: &Metrics) {
    for (name, help, table) in [
        (
            "centrifugo_transport_messages_received",
            "Number of commands received from clients, by transport and method.",
            &m.commands_received,
        ),
        (
            "centrifugo_transport_messages_sent",
            "Number of replies sent to clients, by transport and the method they answer.",
            &m.replies_sent,
        ),
    ] {
        out.header(name, "counter", help);
        for transport in Transport::ALL {
            for method in Method::ALL {
                let value = table[transport.index()][method.index()].get();
                if value > 0 {
                    let labels = [
                        ("transport", transport.name()),
                        ("frame_type", method.name()),
                    ];
                    out.sample(name, &labels, value as f64);
                }
            }
        }
    }
    let name = "centrifugo_client_command_duration_seconds_histogram";
    out.header(name, "histogram", "Duration of client commands, by method.");
    for method in Method::ALL {
        let snapshot = m.command_duration[method.index()].snapshot();
        if snapshot.count > 0 {
            out.histogram(name, &[("method", method.name())], &snapshot);
        }
    }
    let name = "centrifugo_client_num_reply_errors";
    out.header(
        name,
        "counter",
        "Number of errors in replies sent to clients, by method and code.",
    );
    for ((method, code), value) in m.reply_errors.snapshot() {
        let code = code.to_string();
        out.sample(
            name,
            &[("method", method.name()), ("code", &code)],
            value as f64,
        );
    }
    let name = "centrifugo_client_num_server_disconnects";
    out.header(
        name,
        "counter",
        "Number of connections ended, by disconnect code.",
    );
    for (code, value) in m.disconnects.snapshot() {
        out.sample(name, &[("code", &code.to_string())], value as f64);
    }
    let name = "centrifugo_client_recover";
    out.header(name, "counter", "Count of recover operations, by outcome.");
    for (recovered, index) in [("no", 0), ("yes", 1)] {
        out.sample(
            name,
            &[("recovered", recovered)],
            m.recoveries[index].get() as f64,
        );
    }
}

fn node(out: &mut Out, m: &Metrics, sources: &Sources) {
    for (name, help, counters) in [
        (
            "centrifugo_node_messages_sent_count",
            "Number of messages queued to subscribers (each delivery counts), by type.",
            &m.messages_sent,
        ),
        (
            "centrifugo_node_messages_received_count",
            "Number of messages received from the broker, by type.",
            &m.messages_received,
        ),
    ] {
        out.header(name, "counter", help);
        for kind in PushKind::ALL {
            out.sample(
                name,
                &[("type", kind.name())],
                counters[kind.index()].get() as f64,
            );
        }
    }
    let name = "centrifugo_node_queue_overflows";
    out.header(
        name,
        "counter",
        "Number of overflows of bounded queues, by queue.",
    );
    for queue in Queue::ALL {
        out.sample(
            name,
            &[("queue", queue.name())],
            m.overflows[queue.index()].get() as f64,
        );
    }
    out.sample(
        name,
        &[("queue", "lifecycle_events")],
        sources.hub.lifecycle_dropped() as f64,
    );
    if let Some(stats) = &sources.webhooks {
        let value = stats.overflowed.load(Ordering::Relaxed);
        out.sample(name, &[("queue", "webhook_endpoint")], value as f64);
    }
    let name = "centrifugo_broker_gaps";
    out.header(
        name,
        "counter",
        "Number of times the broker reported it may have missed messages (reconnects, drops).",
    );
    out.sample(name, &[], m.broker_gaps.get() as f64);
    let name = "centrifugo_broker_duration_seconds_histogram";
    out.header(name, "histogram", "Duration of engine calls, by operation.");
    for op in BrokerOp::ALL {
        let snapshot = m.broker_duration[op.index()].snapshot();
        out.histogram(name, &[("op", op.name())], &snapshot);
    }
}

fn api_and_proxy(out: &mut Out, m: &Metrics) {
    let name = "centrifugo_api_command_duration_seconds_histogram";
    out.header(
        name,
        "histogram",
        "Duration of server API commands, by protocol and method.",
    );
    for ((protocol, method), snapshot) in m.api_duration.snapshot() {
        out.histogram(
            name,
            &[("protocol", protocol), ("method", method)],
            &snapshot,
        );
    }
    let name = "centrifugo_api_command_errors_total";
    out.header(
        name,
        "counter",
        "Number of server API command errors, by protocol, method and code.",
    );
    for ((protocol, method, code), value) in m.api_errors.snapshot() {
        let code = code.to_string();
        let labels = [("protocol", protocol), ("method", method), ("error", &code)];
        out.sample(name, &labels, value as f64);
    }
    let name = "centrifugo_proxy_duration_seconds_histogram";
    out.header(
        name,
        "histogram",
        "Duration of proxy calls, by protocol, type and proxy name.",
    );
    for ((protocol, kind, proxy), snapshot) in m.proxy_duration.snapshot() {
        let labels = [("protocol", protocol), ("type", kind), ("name", &proxy)];
        out.histogram(name, &labels, &snapshot);
    }
    let name = "centrifugo_proxy_errors";
    out.header(
        name,
        "counter",
        "Number of failed proxy calls, by protocol, type and proxy name.",
    );
    for ((protocol, kind, proxy), value) in m.proxy_errors.snapshot() {
        let labels = [("protocol", protocol), ("type", kind), ("name", &proxy)];
        out.sample(name, &labels, value as f64);
    }
}

fn webhooks(out: &mut Out, stats: &WebhookStats) {
    for (name, help, counter) in [
        (
            "centrifugo_webhooks_delivered",
            "Lifecycle events delivered to webhook endpoints (2xx).",
            &stats.delivered,
        ),
        (
            "centrifugo_webhooks_expired",
            "Lifecycle events dropped after retry_max_duration (or at shutdown).",
            &stats.expired,
        ),
        (
            "centrifugo_webhooks_failed_attempts",
            "Failed webhook POST attempts (each retried until the bound).",
            &stats.failed_attempts,
        ),
    ] {
        out.header(name, "counter", help);
        out.sample(name, &[], counter.load(Ordering::Relaxed) as f64);
    }
}

/// The output being written; `fmt::Write` into a `String` cannot fail.
struct Out(String);

impl Out {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.0, " {value}");
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], snapshot: &HistogramSnapshot) {
        for (bound, count) in &snapshot.buckets {
            let _ = write!(self.0, "{name}_bucket");
            self.labels(labels, Some(&bound.to_string()));
            let _ = writeln!(self.0, " {count}");
        }
        let _ = write!(self.0, "{name}_bucket");
        self.labels(labels, Some("+Inf"));
        let _ = writeln!(self.0, " {}", snapshot.count);
        let _ = write!(self.0, "{name}_sum");
        self.labels(labels, None);
        let _ = writeln!(self.0, " {}", snapshot.sum);
        let _ = write!(self.0, "{name}_count");
        self.labels(labels, None);
        let _ = writeln!(self.0, " {}", snapshot.count);
    }

    /// `{a="x",b="y"}` (nothing without labels), with `le` last when given.
    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.0.push('{');
        let le = le.map(|le| ("le", le));
        for (i, (key, value)) in labels.iter().copied().chain(le).enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            let _ = write!(self.0, "{key}=\"");
            escape(&mut self.0, value);
            self.0.push('"');
        }
        self.0.push('}');
    }
}

/// A label value as the text format needs it: backslash, quote and newline escaped.
fn escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_has_cumulative_buckets_inf_sum_and_count() {
        let mut out = Out(String::new());
        let snapshot = HistogramSnapshot {
            buckets: vec![(0.005, 1), (0.01, 3)],
            sum: 0.5,
            count: 4,
        };
        out.histogram("h", &[("method", "publish")], &snapshot);
        assert_eq!(
            out.0,
            "h_bucket{method=\"publish\",le=\"0.005\"} 1\n\
             h_bucket{method=\"publish\",le=\"0.01\"} 3\n\
             h_bucket{method=\"publish\",le=\"+Inf\"} 4\n\
             h_sum{method=\"publish\"} 0.5\n\
             h_count{method=\"publish\"} 4\n"
        );
    }

    struct NoTokens;

    impl herald_hub::TokenVerifier for NoTokens {
        fn verify_connect_token(
            &self,
            _: &str,
        ) -> Result<herald_hub::ConnectTokenClaims, herald_hub::TokenError> {
            Err(herald_hub::TokenError::Invalid("no tokens here".into()))
        }

        fn verify_subscribe_token(
            &self,
            _: &str,
        ) -> Result<herald_hub::SubscribeTokenClaims, herald_hub::TokenError> {
            Err(herald_hub::TokenError::Invalid("no tokens here".into()))
        }
    }

    /// Metric names (`centrifugo_...`) in `text`.
    fn names_in(text: &str) -> std::collections::BTreeSet<String> {
        let regex = regex::Regex::new(r"centrifugo_[a-z_]+").expect("valid regex");
        regex
            .find_iter(text)
            .map(|m| m.as_str().to_owned())
            .collect()
    }

    /// Whether `name` is a rendered family, or a histogram series of one.
    fn is_rendered(rendered: &std::collections::BTreeSet<String>, name: &str) -> bool {
        rendered.contains(name)
            || ["_bucket", "_count", "_sum"]
                .iter()
                .filter_map(|suffix| name.strip_suffix(suffix))
                .any(|family| rendered.contains(family))
    }

    #[tokio::test]
    async fn every_metric_the_docs_and_the_dashboard_name_is_rendered() {
        herald_hub::enable_metrics();
        let engine = Arc::new(herald_engine::memory::MemoryEngine::new());
        let hub = Hub::new(
            herald_hub::NodeOptions::default(),
            engine.clone(),
            engine,
            Arc::new(NoTokens),
        );
        let sources = Sources {
            hub,
            webhooks: Some(Arc::default()),
        };
        let rendered: std::collections::BTreeSet<String> = render(&sources)
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .filter_map(|line| line.split(' ').next())
            .map(str::to_owned)
            .collect();
        let docs = include_str!("../../../../docs/metrics.md");
        let dashboard = include_str!("../../../../docs/grafana-dashboard.json");
        for name in names_in(docs).iter().chain(&names_in(dashboard)) {
            assert!(
                is_rendered(&rendered, name),
                "{name} is documented but not rendered"
            );
        }
        for name in &rendered {
            assert!(
                docs.contains(name.as_str()),
                "{name} is rendered but not in docs/metrics.md"
            );
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = Out(String::new());
        out.sample("c", &[("name", "a\"b\\c\nd")], 2.0);
        assert_eq!(out.0, "c{name=\"a\\\"b\\\\c\\nd\"} 2\n");
    }
}
