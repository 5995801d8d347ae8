//! The counting primitives: a counter, a fixed-bucket histogram and a keyed family of either.
//! All are `const`-constructible so the node's [`Metrics`](super::Metrics) can be a `static`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A monotonic count. Relaxed: a scrape needs each value, not an order between them.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Zero.
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n` (fan-out adds its deliveries once per publication).
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The most buckets a histogram has (bounds in seconds, `+Inf` implied).
const MAX_BUCKETS: usize = 16;

/// Centrifugo's client command buckets (centrifuge `metrics.go`): 100 µs to 10 s.
pub const COMMAND_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Prometheus's default buckets, which Centrifugo's API and proxy histograms use.
pub const DEFAULT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A duration histogram with fixed bucket bounds. Each observation is three relaxed atomic
/// adds (its bucket, the sum, the count); buckets are stored per bucket and made cumulative
/// when read.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: [AtomicU64; MAX_BUCKETS],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

/// What a scrape reads from a [`Histogram`].
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, observations at or below it)`, cumulative, without `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of observations in seconds.
    pub sum: f64,
    /// Observations (the `+Inf` bucket).
    pub count: u64,
}

impl Histogram {
    /// Empty, with `bounds` (ascending, at most 16).
    pub const fn new(bounds: &'static [f64]) -> Self {
        assert!(bounds.len() <= MAX_BUCKETS, "too many histogram buckets");
        Self {
            bounds,
            buckets: [const { AtomicU64::new(0) }; MAX_BUCKETS],
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one duration.
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(index) = self.bounds.iter().position(|&bound| secs <= bound) {
            self.buckets[index].fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Cumulative buckets, sum and count.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let buckets = self
            .bounds
            .iter()
            .zip(&self.buckets)
            .map(|(&bound, count)| {
                total += count.load(Ordering::Relaxed);
                (bound, total)
            })
            .collect();
        // Read after the buckets so the `+Inf` bucket is never below the last bound's.
        let count = self.count.load(Ordering::Relaxed).max(total);
        HistogramSnapshot {
            buckets,
            sum: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            count,
        }
    }
}

/// Counters keyed by labels that are only known at run time (error and disconnect codes, API
/// methods, proxy names), for events off the fan-out path. `std` mutex: nothing awaits under it,
/// and the critical section is one map update.
#[derive(Debug)]
pub struct CounterFamily<K>(Mutex<BTreeMap<K, u64>>);

impl<K: Ord + Clone> CounterFamily<K> {
    /// Empty.
    pub const fn new() -> Self {
        Self(Mutex::new(BTreeMap::new()))
    }

    /// Adds one to `key`'s count.
    pub fn inc(&self, key: K) {
        *herald_engine::lock(&self.0).entry(key).or_default() += 1;
    }

    /// Every key seen and its count, in key order.
    pub fn snapshot(&self) -> Vec<(K, u64)> {
        herald_engine::lock(&self.0)
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

impl<K: Ord + Clone> Default for CounterFamily<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// Histograms keyed by run-time labels (API method and protocol, proxy type and name).
#[derive(Debug)]
pub struct HistogramFamily<K> {
    bounds: &'static [f64],
    // `std` mutex: nothing awaits under it; a call takes it once, after its work is done.
    map: Mutex<BTreeMap<K, Histogram>>,
}

impl<K: Ord + Clone> HistogramFamily<K> {
    /// Empty, each histogram with `bounds`.
    pub const fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            map: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records one duration under `key`.
    pub fn observe(&self, key: K, elapsed: Duration) {
        let mut map = herald_engine::lock(&self.map);
        map.entry(key)
            .or_insert_with(|| Histogram::new(self.bounds))
            .observe(elapsed);
    }

    /// Every key seen and its histogram, in key order.
    pub fn snapshot(&self) -> Vec<(K, HistogramSnapshot)> {
        herald_engine::lock(&self.map)
            .iter()
            .map(|(k, h)| (k.clone(), h.snapshot()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_the_sum_is_in_seconds() {
        let histogram = Histogram::new(&[0.001, 0.01, 0.1]);
        histogram.observe(Duration::from_micros(500));
        histogram.observe(Duration::from_millis(5));
        histogram.observe(Duration::from_millis(5));
        histogram.observe(Duration::from_secs(2));
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.buckets, vec![(0.001, 1), (0.01, 3), (0.1, 3)]);
        assert_eq!(snapshot.count, 4);
        assert!((snapshot.sum - 2.0105).abs() < 1e-9, "{}", snapshot.sum);
    }

    #[test]
    fn a_family_counts_per_key() {
        let family = CounterFamily::new();
        family.inc(("publish", 103));
        family.inc(("publish", 103));
        family.inc(("subscribe", 102));
        assert_eq!(
            family.snapshot(),
            vec![(("publish", 103), 2), (("subscribe", 102), 1)]
        );
    }
}
