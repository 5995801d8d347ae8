//! Results that travel between the connection tasks, worker processes and the report: latency
//! histograms and per-round / per-open counters, each with a `merge` so any number of groups
//! adds up to one result.
//!
//! A [`Latency`] histogram serializes as HdrHistogram's V2 encoding in base64, so a worker's
//! full distribution (not a few percentiles, which cannot be merged) reaches the parent.

use std::collections::BTreeMap;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer as HdrDeserializer, Serializer as _, V2Serializer};
use serde::{Deserialize, Serialize};

/// Largest latency recorded exactly, in µs; larger values are recorded as this.
const MAX_MICROS: u64 = 600_000_000;

/// A latency distribution in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Latency(
            Histogram::new_with_bounds(1, MAX_MICROS, 3)
                .expect("constant bounds are valid: 1 <= low, high >= 2 * low, sigfig <= 5"),
        )
    }
}

impl Latency {
    /// Records one value in µs (values below 1 count as 1, above ten minutes as ten minutes).
    pub fn record(&mut self, micros: i64) {
        let value = u64::try_from(micros).unwrap_or(0).max(1);
        self.0.saturating_record(value);
    }

    /// Adds another distribution into this one.
    pub fn merge(&mut self, other: &Latency) {
        // Both have the same bounds, so adding cannot go out of range; if it ever did, record
        // the other's values one by one, saturating.
        if self.0.add(&other.0).is_err() {
            for value in other.0.iter_recorded() {
                self.0
                    .saturating_record_n(value.value_iterated_to(), value.count_at_value());
            }
        }
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The value at `quantile` (0.0 ..= 1.0) in µs; 0 when empty.
    pub fn quantile(&self, quantile: f64) -> u64 {
        if self.0.is_empty() {
            0
        } else {
            self.0.value_at_quantile(quantile)
        }
    }

    /// Largest value in µs; 0 when empty.
    pub fn max(&self) -> u64 {
        self.0.max()
    }

    /// Mean in µs; 0 when empty.
    pub fn mean(&self) -> f64 {
        if self.0.is_empty() {
            0.0
        } else {
            self.0.mean()
        }
    }

    /// The usual percentiles for a report.
    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            count: self.count(),
            p50_us: self.quantile(0.50),
            p90_us: self.quantile(0.90),
            p99_us: self.quantile(0.99),
            p999_us: self.quantile(0.999),
            max_us: self.max(),
            mean_us: self.mean(),
        }
    }

    /// HdrHistogram V2 encoding, base64.
    pub fn to_base64(&self) -> String {
        let mut bytes = Vec::new();
        // Writing into a Vec fails only if the histogram cannot be encoded at all, which V2
        // handles for every u64 histogram; an empty string then decodes as an empty histogram.
        if V2Serializer::new().serialize(&self.0, &mut bytes).is_err() {
            bytes.clear();
        }
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Reads [`Latency::to_base64`]'s output.
    pub fn from_base64(text: &str) -> Result<Latency, String> {
        if text.is_empty() {
            return Ok(Latency::default());
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("histogram base64: {e}"))?;
        let decoded: Histogram<u64> = HdrDeserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("histogram V2: {e:?}"))?;
        let mut latency = Latency::default();
        latency.merge(&Latency(decoded));
        Ok(latency)
    }
}

impl Serialize for Latency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Latency::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// Percentiles of a [`Latency`], in µs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Mean.
    pub mean_us: f64,
}

/// What one group of connections saw during one round of publications.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundStats {
    /// Connections open at the start of the round.
    pub subscribers: u64,
    /// Of those, how many were closed by its end.
    pub closed: u64,
    /// Distinct messages received, over all connections.
    pub received: u64,
    /// Messages received again.
    pub duplicates: u64,
    /// Messages received after a later one.
    pub out_of_order: u64,
    /// Accepted messages that some connection never received (counted per connection).
    pub lost: u64,
    /// Connections that received every accepted message.
    pub complete: u64,
    /// Messages of an earlier round that arrived during this one.
    pub stale: u64,
    /// Publications whose data was not a benchmark stamp.
    pub foreign: u64,
    /// Arrival time of the first delivery, µs since the epoch.
    pub first_us: Option<i64>,
    /// Arrival time of the last delivery, µs since the epoch.
    pub last_us: Option<i64>,
    /// End-to-end latency of each delivery, from its scheduled send time.
    pub latency: Latency,
    /// A few reasons connections were closed, for the report.
    pub close_reasons: Vec<String>,
}

impl RoundStats {
    /// Adds another group's round into this one.
    pub fn merge(&mut self, other: &RoundStats) {
        self.subscribers += other.subscribers;
        self.closed += other.closed;
        self.received += other.received;
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
        self.lost += other.lost;
        self.complete += other.complete;
        self.stale += other.stale;
        self.foreign += other.foreign;
        self.first_us = min_some(self.first_us, other.first_us);
        self.last_us = max_some(self.last_us, other.last_us);
        self.latency.merge(&other.latency);
        merge_reasons(&mut self.close_reasons, &other.close_reasons);
    }
}

/// How opening a group's connections went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenStats {
    /// Connections attempted.
    pub wanted: u64,
    /// Connections connected and subscribed.
    pub opened: u64,
    /// Failures by kind ("timeout", "refused", ...).
    pub failures: BTreeMap<String, u64>,
    /// The first failure's message.
    pub first_failure: Option<String>,
    /// When the first attempt started, µs since the epoch.
    pub started_us: i64,
    /// When the last successful attempt completed, µs since the epoch.
    pub finished_us: i64,
    /// Time from starting the TCP connect to the subscribe reply, per connection.
    pub latency: Latency,
}

impl OpenStats {
    /// Adds another group's open phase into this one.
    pub fn merge(&mut self, other: &OpenStats) {
        let first = self.wanted == 0;
        self.wanted += other.wanted;
        self.opened += other.opened;
        for (kind, count) in &other.failures {
            *self.failures.entry(kind.clone()).or_insert(0) += count;
        }
        if self.first_failure.is_none() {
            self.first_failure.clone_from(&other.first_failure);
        }
        self.started_us = if first {
            other.started_us
        } else {
            self.started_us.min(other.started_us)
        };
        self.finished_us = self.finished_us.max(other.finished_us);
        self.latency.merge(&other.latency);
    }

    /// Failed attempts.
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    /// Wall time from the first attempt to the last success, in seconds.
    pub fn elapsed_seconds(&self) -> f64 {
        (self.finished_us - self.started_us).max(0) as f64 / 1e6
    }

    /// Connections established per second of [`OpenStats::elapsed_seconds`].
    pub fn per_second(&self) -> f64 {
        let elapsed = self.elapsed_seconds();
        if elapsed > 0.0 {
            self.opened as f64 / elapsed
        } else {
            0.0
        }
    }
}

/// How many close reasons a result keeps.
pub(crate) const MAX_REASONS: usize = 5;

fn merge_reasons(into: &mut Vec<String>, from: &[String]) {
    for reason in from {
        if into.len() >= MAX_REASONS {
            break;
        }
        if !into.contains(reason) {
            into.push(reason.clone());
        }
    }
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.max(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency(values: impl IntoIterator<Item = i64>) -> Latency {
        let mut latency = Latency::default();
        for value in values {
            latency.record(value);
        }
        latency
    }

    #[test]
    fn histogram_survives_base64_and_merges() {
        let a = latency(1..=1000);
        let b = latency(1001..=2000);
        let a = Latency::from_base64(&a.to_base64()).expect("decodes");
        let b: Latency =
            serde_json::from_str(&serde_json::to_string(&b).expect("encodes")).expect("decodes");
        let mut merged = a.clone();
        merged.merge(&b);
        assert_eq!(merged.count(), 2000);
        assert_eq!(merged.max(), b.max());
        let p50 = merged.quantile(0.5);
        assert!((999..=1001).contains(&p50), "p50 {p50}");
        assert_eq!(Latency::from_base64("").map(|l| l.count()), Ok(0));
        assert!(Latency::from_base64("!!").is_err());
    }

    #[test]
    fn out_of_range_values_saturate() {
        let l = latency([-5, 0, i64::MAX]);
        assert_eq!(l.count(), 3);
        assert_eq!(l.quantile(0.0), 1);
        assert!(l.max() >= MAX_MICROS);
    }

    #[test]
    fn rounds_add_up() {
        let mut total = RoundStats::default();
        let one = RoundStats {
            subscribers: 10,
            received: 100,
            lost: 1,
            complete: 9,
            first_us: Some(50),
            last_us: Some(80),
            latency: latency([10, 20]),
            close_reasons: vec!["3008 slow".into()],
            ..RoundStats::default()
        };
        let two = RoundStats {
            subscribers: 5,
            received: 50,
            duplicates: 2,
            complete: 5,
            first_us: Some(40),
            last_us: Some(70),
            latency: latency([30]),
            close_reasons: vec!["3008 slow".into(), "eof".into()],
            ..RoundStats::default()
        };
        total.merge(&one);
        total.merge(&two);
        assert_eq!(
            (
                total.subscribers,
                total.received,
                total.lost,
                total.duplicates
            ),
            (15, 150, 1, 2)
        );
        assert_eq!(total.complete, 14);
        assert_eq!((total.first_us, total.last_us), (Some(40), Some(80)));
        assert_eq!(total.latency.count(), 3);
        assert_eq!(total.close_reasons, vec!["3008 slow", "eof"]);
    }

    #[test]
    fn opens_add_up() {
        let mut total = OpenStats::default();
        let mut a = OpenStats {
            wanted: 10,
            opened: 9,
            started_us: 2_000_000,
            finished_us: 3_000_000,
            first_failure: Some("timeout".into()),
            ..OpenStats::default()
        };
        a.failures.insert("timeout".into(), 1);
        let b = OpenStats {
            wanted: 10,
            opened: 10,
            started_us: 1_000_000,
            finished_us: 2_500_000,
            ..OpenStats::default()
        };
        total.merge(&a);
        total.merge(&b);
        assert_eq!((total.wanted, total.opened, total.failed()), (20, 19, 1));
        assert_eq!(total.elapsed_seconds(), 2.0);
        assert_eq!(total.per_second(), 9.5);
        assert_eq!(total.first_failure.as_deref(), Some("timeout"));
    }
}
