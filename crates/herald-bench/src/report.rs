//! Results as data ([`Report`], serialized by `--json`) and as a human-readable table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::adapter::Flavor;
use crate::procfs::Machine;
use crate::stats::{LatencySummary, OpenStats};

/// The result of one workload run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "workload", rename_all = "snake_case")]
pub enum Report {
    /// `connect`.
    Connect(ConnectReport),
    /// `fanout`.
    Fanout(FanoutReport),
    /// `storm`.
    Storm(StormReport),
    /// `rooms`.
    Rooms(RoomsReport),
}

impl Report {
    /// Whether the run met its own expectations (nothing failed, lost or duplicated); the
    /// binary exits with 2 when not.
    pub fn ok(&self) -> bool {
        match self {
            Report::Connect(r) => r.ok(),
            Report::Fanout(r) => r.ok(),
            Report::Storm(r) => r.ok(),
            Report::Rooms(r) => r.ok(),
        }
    }

    /// The report as aligned text.
    pub fn to_table(&self) -> String {
        match self {
            Report::Connect(r) => r.to_table(),
            Report::Fanout(r) => r.to_table(),
            Report::Storm(r) => r.to_table(),
            Report::Rooms(r) => r.to_table(),
        }
    }
}

/// Who ran what where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The command line, shell-quoted.
    pub command: String,
    /// The machine.
    pub machine: Machine,
    /// Protocol of the server.
    pub flavor: Flavor,
    /// Worker processes used (1: none).
    pub workers: usize,
    /// Source addresses used.
    pub source_addrs: usize,
}

/// How opening the connections went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenSummary {
    /// Connections attempted.
    pub wanted: u64,
    /// Connected and subscribed.
    pub opened: u64,
    /// Failed attempts.
    pub failed: u64,
    /// Failures by kind.
    pub failures: BTreeMap<String, u64>,
    /// The first failure.
    pub first_failure: Option<String>,
    /// Seconds from the first attempt to the last success.
    pub seconds: f64,
    /// Connections established per second.
    pub per_second: f64,
    /// Time to connect and subscribe, per connection.
    pub latency: LatencySummary,
}

impl From<&OpenStats> for OpenSummary {
    fn from(open: &OpenStats) -> Self {
        OpenSummary {
            wanted: open.wanted,
            opened: open.opened,
            failed: open.failed(),
            failures: open.failures.clone(),
            first_failure: open.first_failure.clone(),
            seconds: open.elapsed_seconds(),
            per_second: open.per_second(),
            latency: open.latency.summary(),
        }
    }
}

/// The `connect` workload's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectReport {
    /// Run description.
    pub run: RunInfo,
    /// Opening.
    pub open: OpenSummary,
    /// Server CPU seconds spent while the connections were opened.
    pub open_server_cpu_seconds: Option<f64>,
    /// Generator CPU share of the machine while opening.
    pub open_bench_cpu_share: f64,
    /// Connections dropped by a full listen queue while opening (machine-wide counter; each
    /// costs a one-second SYN retransmit).
    pub listen_overflows: Option<u64>,
    /// Server RSS before opening, bytes.
    pub server_rss_before: Option<u64>,
    /// Server RSS after opening and settling, bytes.
    pub server_rss_after: Option<u64>,
    /// (after - before) / opened.
    pub rss_per_connection: Option<f64>,
    /// Seconds the connections were held.
    pub hold_seconds: f64,
    /// Connections the server closed before the liveness check ended.
    pub closed: u64,
    /// Connections that received the liveness-check publication.
    pub alive_verified: u64,
    /// A few close reasons.
    pub close_reasons: Vec<String>,
}

impl ConnectReport {
    /// Every connection opened and passed the liveness check.
    pub fn ok(&self) -> bool {
        self.open.failed == 0
            && self.open.opened == self.open.wanted
            && self.alive_verified == self.open.opened
    }

    fn to_table(&self) -> String {
        let mut t = Table::new(format!(
            "connect: {} connections, {}",
            self.open.wanted,
            self.run.flavor.name()
        ));
        open_rows(&mut t, &self.open);
        t.row(
            "server CPU while opening",
            opt(self.open_server_cpu_seconds, |s| format!("{s:.2} s")),
        );
        t.row("generator CPU share", percent(self.open_bench_cpu_share));
        t.row(
            "listen queue overflows",
            opt(self.listen_overflows, |n| n.to_string()),
        );
        t.row("server RSS before", opt(self.server_rss_before, mib));
        t.row("server RSS after", opt(self.server_rss_after, mib));
        t.row(
            "server RSS per connection",
            opt(self.rss_per_connection, kib),
        );
        t.row("held", format!("{:.1} s", self.hold_seconds));
        t.row("closed by the server", self.closed.to_string());
        t.row(
            "alive at the end",
            format!("{} of {}", self.alive_verified, self.open.opened),
        );
        for reason in &self.close_reasons {
            t.row("close reason", reason.clone());
        }
        t.row("verdict", verdict(self.ok()));
        t.finish()
    }
}

/// The `fanout` workload's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FanoutReport {
    /// Run description.
    pub run: RunInfo,
    /// Opening the subscribers.
    pub open: OpenSummary,
    /// Data bytes per publication.
    pub payload_bytes: usize,
    /// Whether the rate was stepped up.
    pub stepped: bool,
    /// The p99 bound of a sustainable round, ms.
    pub p99_bound_ms: f64,
    /// One entry per round.
    pub steps: Vec<StepReport>,
    /// Highest rate (msg/s) whose round was sustainable.
    pub highest_sustainable_rate: Option<f64>,
    /// Server RSS after the subscribers connected, bytes.
    pub server_rss: Option<u64>,
}

impl FanoutReport {
    /// Fixed rate: nothing lost or duplicated and the round was sustainable. Stepped: some
    /// rate was sustainable.
    pub fn ok(&self) -> bool {
        if self.stepped {
            self.highest_sustainable_rate.is_some()
        } else {
            self.steps
                .iter()
                .all(|s| s.lost == 0 && s.duplicates == 0 && s.publish_failed == 0)
        }
    }

    /// The round of the highest sustainable rate, or the only round.
    pub fn headline(&self) -> Option<&StepReport> {
        if self.stepped {
            self.steps.iter().rfind(|s| s.sustainable)
        } else {
            self.steps.first()
        }
    }

    fn to_table(&self) -> String {
        let mut t = Table::new(format!(
            "fanout: {} subscribers, {} B payload, {}",
            self.open.wanted,
            self.payload_bytes,
            self.run.flavor.name()
        ));
        open_rows(&mut t, &self.open);
        t.row("server RSS", opt(self.server_rss, mib));
        let mut out = t.finish();
        out.push('\n');
        let _ = writeln!(
            out,
            "{:>9} {:>11} {:>6} {:>5} {:>5} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>11} {:>6} {:>6}  verdict",
            "rate/s",
            "deliv/s",
            "lost",
            "dup",
            "ooo",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "srv CPU",
            "deliv/srvCPU",
            "srv %",
            "gen %"
        );
        for s in &self.steps {
            let _ = writeln!(
                out,
                "{:>9.0} {:>11.0} {:>6} {:>5} {:>5} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8} {:>11} {:>6} {:>6}  {}",
                s.rate,
                s.deliveries_per_second,
                s.lost,
                s.duplicates,
                s.out_of_order,
                ms(s.latency.p50_us),
                ms(s.latency.p90_us),
                ms(s.latency.p99_us),
                ms(s.latency.p999_us),
                ms(s.latency.max_us),
                opt(s.server_cpu_seconds, |c| format!("{c:.2}s")),
                opt(s.deliveries_per_server_cpu_second, |d| format!("{d:.0}")),
                opt(s.server_cpu_share, percent),
                percent(s.bench_cpu_share),
                s.verdict
            );
        }
        if self.stepped {
            let _ = writeln!(
                out,
                "highest sustainable rate: {}",
                opt(self.highest_sustainable_rate, |r| format!(
                    "{r:.0} msg/s ({:.0} deliveries/s)",
                    r * self.open.opened as f64
                ))
            );
        }
        out
    }
}

/// One round of `fanout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// Publications per second.
    pub rate: f64,
    /// Seconds of publishing.
    pub duration_seconds: f64,
    /// Publications attempted.
    pub published: u64,
    /// Publications the server rejected.
    pub publish_failed: u64,
    /// The first rejection.
    pub first_publish_error: Option<String>,
    /// Subscribers at the start of the round.
    pub subscribers: u64,
    /// Accepted publications x subscribers.
    pub expected_deliveries: u64,
    /// Distinct deliveries.
    pub received: u64,
    /// Expected deliveries that never came.
    pub lost: u64,
    /// Deliveries of a message a subscriber already had.
    pub duplicates: u64,
    /// Deliveries after a later message.
    pub out_of_order: u64,
    /// Deliveries from an earlier round.
    pub stale: u64,
    /// Subscribers closed during the round.
    pub closed: u64,
    /// Seconds from the first due time to the last delivery.
    pub active_seconds: f64,
    /// received / active_seconds.
    pub deliveries_per_second: f64,
    /// End-to-end latency from the scheduled send time.
    pub latency: LatencySummary,
    /// How late the publisher wrote requests (its own lag).
    pub publish_lag: LatencySummary,
    /// HTTP API round trip.
    pub api_response: LatencySummary,
    /// Server CPU seconds over the round (publishing, draining, collecting).
    pub server_cpu_seconds: Option<f64>,
    /// Server CPU as a share of the machine.
    pub server_cpu_share: Option<f64>,
    /// received / server CPU seconds.
    pub deliveries_per_server_cpu_second: Option<f64>,
    /// Generator CPU seconds (this process and its workers).
    pub bench_cpu_seconds: f64,
    /// Generator CPU as a share of the machine.
    pub bench_cpu_share: f64,
    /// received / generator CPU seconds: the generator's own ceiling per core.
    pub deliveries_per_bench_cpu_second: f64,
    /// Nothing lost and p99 within the bound.
    pub sustainable: bool,
    /// Why, in words.
    pub verdict: String,
    /// A few close reasons.
    pub close_reasons: Vec<String>,
}

/// The `storm` workload's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StormReport {
    /// Run description.
    pub run: RunInfo,
    /// Opening the clients before the storm.
    pub open: OpenSummary,
    /// Clients.
    pub clients: u64,
    /// Publications per second.
    pub rate: f64,
    /// Seconds of publishing.
    pub duration_seconds: f64,
    /// Seconds of publishing before the drop.
    pub warmup_seconds: f64,
    /// Largest reconnect backoff, ms.
    pub max_backoff_ms: u64,
    /// Publications attempted.
    pub published: u64,
    /// Publications the API rejected.
    pub publish_failed: u64,
    /// The first rejection.
    pub first_publish_error: Option<String>,
    /// Clients reconnected and resubscribed after the drop.
    pub back: u64,
    /// Clients that never came back (gave up or timed out).
    pub not_back: u64,
    /// Clients whose recovering subscribe said `recovered: false`.
    pub not_recovered: u64,
    /// Seconds from the drop until the coordinator saw every client back (`None` if some
    /// never came back).
    pub all_back_seconds: Option<f64>,
    /// Per client, time from the drop to its recovering subscribe reply.
    pub back_time: LatencySummary,
    /// Connections the machine dropped because a listen queue was full, from the drop until
    /// everyone was back (each costs a client a SYN retransmit: 1 s, then 3 s, 7 s).
    pub listen_overflows: Option<u64>,
    /// Reconnect attempts that failed and were retried after another backoff.
    pub reconnect_retries: u64,
    /// Accepted publications x clients.
    pub expected_deliveries: u64,
    /// Distinct deliveries (live and recovered).
    pub received: u64,
    /// Accepted publications some client never got (per client).
    pub lost: u64,
    /// Deliveries of a number a client already had.
    pub duplicates: u64,
    /// Deliveries after a later number.
    pub out_of_order: u64,
    /// Clients that got everything exactly once in order.
    pub complete_clients: u64,
    /// Publications that were not the run's.
    pub foreign: u64,
    /// Server CPU seconds from the start of publishing to the end of draining.
    pub server_cpu_seconds: Option<f64>,
    /// The same as a share of the machine.
    pub server_cpu_share: Option<f64>,
    /// Generator CPU seconds over the same span.
    pub bench_cpu_seconds: f64,
    /// Server RSS after the clients connected, bytes.
    pub server_rss_before: Option<u64>,
    /// Server RSS right before the drop.
    pub server_rss_at_drop: Option<u64>,
    /// Server RSS after draining.
    pub server_rss_after: Option<u64>,
    /// A few reasons clients failed to come back or were closed.
    pub failures: Vec<String>,
}

impl StormReport {
    /// Nothing lost or duplicated, every client back and recovered, every publish accepted.
    pub fn ok(&self) -> bool {
        self.lost == 0
            && self.duplicates == 0
            && self.not_back == 0
            && self.not_recovered == 0
            && self.publish_failed == 0
    }

    fn to_table(&self) -> String {
        let mut t = Table::new(format!(
            "storm: {} clients, {} msg/s, drop after {:.1} s, backoff 0..{} ms, {}",
            self.clients,
            self.rate,
            self.warmup_seconds,
            self.max_backoff_ms,
            self.run.flavor.name()
        ));
        open_rows(&mut t, &self.open);
        t.row(
            "published",
            format!("{} ({} failed)", self.published, self.publish_failed),
        );
        if let Some(error) = &self.first_publish_error {
            t.row("first publish error", error.clone());
        }
        t.row(
            "back after the drop",
            format!("{} of {}", self.back, self.clients),
        );
        t.row("recovered: false", self.not_recovered.to_string());
        t.row(
            "all back (resubscribed)",
            opt(self.all_back_seconds, |s| {
                format!("{:.3} s after the drop", s)
            }),
        );
        t.row(
            "back time p50 / p99 / max",
            format!(
                "{:.1} / {:.1} / {:.1} ms",
                ms(self.back_time.p50_us),
                ms(self.back_time.p99_us),
                ms(self.back_time.max_us)
            ),
        );
        t.row(
            "deliveries",
            format!("{} of {}", self.received, self.expected_deliveries),
        );
        t.row(
            "lost / duplicated / out of order",
            format!(
                "{} / {} / {}",
                self.lost, self.duplicates, self.out_of_order
            ),
        );
        t.row(
            "listen queue overflows",
            opt(self.listen_overflows, |n| n.to_string()),
        );
        t.row(
            "failed reconnect attempts",
            self.reconnect_retries.to_string(),
        );
        t.row(
            "complete clients",
            format!("{} of {}", self.complete_clients, self.clients),
        );
        t.row(
            "server CPU",
            match (self.server_cpu_seconds, self.server_cpu_share) {
                (Some(s), Some(share)) => format!("{s:.2} s ({})", percent(share)),
                _ => "n/a".to_owned(),
            },
        );
        t.row("generator CPU", format!("{:.2} s", self.bench_cpu_seconds));
        t.row("server RSS before", opt(self.server_rss_before, mib));
        t.row("server RSS at the drop", opt(self.server_rss_at_drop, mib));
        t.row("server RSS after", opt(self.server_rss_after, mib));
        for failure in &self.failures {
            t.row("failure", failure.clone());
        }
        t.row("verdict", verdict(self.ok()));
        t.finish()
    }
}

/// The `rooms` workload's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomsReport {
    /// Run description.
    pub run: RunInfo,
    /// Opening the clients.
    pub open: OpenSummary,
    /// Clients.
    pub clients: u64,
    /// Clients per room.
    pub room_size: u64,
    /// Rooms.
    pub rooms: u64,
    /// Messages per second per client.
    pub rate_per_client: f64,
    /// Seconds of publishing.
    pub duration_seconds: f64,
    /// Data bytes per message.
    pub payload_bytes: usize,
    /// Messages sent.
    pub sent: u64,
    /// Messages the server rejected (error reply or a failed send).
    pub publish_failed: u64,
    /// The first rejection.
    pub first_publish_error: Option<String>,
    /// Accepted messages x members of the sender's room.
    pub expected_deliveries: u64,
    /// Distinct deliveries.
    pub received: u64,
    /// Expected deliveries that never arrived.
    pub lost: u64,
    /// Deliveries of a message the client already had.
    pub duplicates: u64,
    /// Deliveries after a later message of the same sender.
    pub out_of_order: u64,
    /// Connections closed during the run.
    pub closed: u64,
    /// Seconds from the first due time to the last delivery.
    pub active_seconds: f64,
    /// Deliveries per second of `active_seconds`.
    pub deliveries_per_second: f64,
    /// End-to-end latency from each message's due time.
    pub latency: LatencySummary,
    /// Server CPU seconds while publishing and draining.
    pub server_cpu_seconds: Option<f64>,
    /// The same as a share of the machine.
    pub server_cpu_share: Option<f64>,
    /// Deliveries per server CPU-second.
    pub deliveries_per_server_cpu_second: Option<f64>,
    /// Generator CPU seconds.
    pub bench_cpu_seconds: f64,
    /// Server RSS after the clients connected.
    pub server_rss: Option<u64>,
    /// A few close reasons.
    pub close_reasons: Vec<String>,
}

impl RoomsReport {
    /// Nothing lost, duplicated, rejected or closed.
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.duplicates == 0 && self.publish_failed == 0 && self.closed == 0
    }

    fn to_table(&self) -> String {
        let mut t = Table::new(format!(
            "rooms: {} clients in {} rooms of {}, {} msg/s per client, {}",
            self.clients,
            self.rooms,
            self.room_size,
            self.rate_per_client,
            self.run.flavor.name()
        ));
        open_rows(&mut t, &self.open);
        t.row(
            "sent",
            format!("{} ({} failed)", self.sent, self.publish_failed),
        );
        if let Some(error) = &self.first_publish_error {
            t.row("first publish error", error.clone());
        }
        t.row(
            "deliveries",
            format!("{} of {}", self.received, self.expected_deliveries),
        );
        t.row(
            "lost / duplicated / out of order",
            format!(
                "{} / {} / {}",
                self.lost, self.duplicates, self.out_of_order
            ),
        );
        t.row(
            "deliveries/s",
            format!(
                "{:.0} over {:.2} s",
                self.deliveries_per_second, self.active_seconds
            ),
        );
        t.row(
            "latency p50 / p90 / p99 / max",
            format!(
                "{:.2} / {:.2} / {:.2} / {:.2} ms",
                ms(self.latency.p50_us),
                ms(self.latency.p90_us),
                ms(self.latency.p99_us),
                ms(self.latency.max_us)
            ),
        );
        t.row(
            "server CPU",
            match (self.server_cpu_seconds, self.server_cpu_share) {
                (Some(s), Some(share)) => format!("{s:.2} s ({})", percent(share)),
                _ => "n/a".to_owned(),
            },
        );
        t.row(
            "deliveries per server CPU-second",
            opt(self.deliveries_per_server_cpu_second, |d| format!("{d:.0}")),
        );
        t.row("generator CPU", format!("{:.2} s", self.bench_cpu_seconds));
        t.row("server RSS", opt(self.server_rss, mib));
        t.row("closed", self.closed.to_string());
        for reason in &self.close_reasons {
            t.row("close reason", reason.clone());
        }
        t.row("verdict", verdict(self.ok()));
        t.finish()
    }
}

fn open_rows(t: &mut Table, open: &OpenSummary) {
    t.row("opened", format!("{} of {}", open.opened, open.wanted));
    t.row(
        "connects/s",
        format!("{:.0} ({:.2} s)", open.per_second, open.seconds),
    );
    t.row(
        "connect latency p50 / p99 / max",
        format!(
            "{:.2} / {:.2} / {:.2} ms",
            ms(open.latency.p50_us),
            ms(open.latency.p99_us),
            ms(open.latency.max_us)
        ),
    );
    if open.failed > 0 {
        let kinds: Vec<String> = open
            .failures
            .iter()
            .map(|(kind, n)| format!("{kind}: {n}"))
            .collect();
        t.row("failed", format!("{} ({})", open.failed, kinds.join(", ")));
        if let Some(first) = &open.first_failure {
            t.row("first failure", first.clone());
        }
    }
}

/// Two columns of text under a title.
struct Table {
    title: String,
    rows: Vec<(String, String)>,
}

impl Table {
    fn new(title: String) -> Self {
        Table {
            title,
            rows: Vec::new(),
        }
    }

    fn row(&mut self, key: &str, value: String) {
        self.rows.push((key.to_owned(), value));
    }

    fn finish(self) -> String {
        let width = self.rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = format!("{}\n", self.title);
        for (key, value) in self.rows {
            let _ = writeln!(out, "  {key:<width$}  {value}");
        }
        out
    }
}

/// µs as ms.
pub(crate) fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

pub(crate) fn opt<T>(value: Option<T>, f: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| "n/a".to_owned(), f)
}

pub(crate) fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

pub(crate) fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}

fn verdict(ok: bool) -> String {
    if ok { "ok" } else { "FAILED" }.to_owned()
}
