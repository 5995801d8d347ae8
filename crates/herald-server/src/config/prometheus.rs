//! `prometheus.*` as in Centrifugo v6: the `/metrics` endpoint, as written and as validated.
//! The metrics themselves are listed in `docs/metrics.md`.

use serde::{Deserialize, Serialize};

/// `prometheus.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrometheusConfig {
    /// Serve metrics in Prometheus's text format at `handler_prefix` and start counting.
    /// Default false: nothing is counted and the path answers 404.
    pub enabled: bool,
    /// Path of the metrics endpoint; must start with `/`. Default `/metrics`.
    pub handler_prefix: String,
    /// Centrifugo counts HTTP responses by status with it. Accepted for compatibility, no
    /// effect: Herald does not instrument its HTTP handlers. Default false.
    pub instrument_http_handlers: bool,
    /// Centrifugo's histogram of publications per recovery. Accepted, no effect (recoveries
    /// are counted by outcome). Default false.
    pub recovered_publications_histogram: bool,
    /// Centrifugo's native (sparse) histograms. Accepted, no effect: Herald's histograms
    /// have fixed buckets. Default false.
    pub native_histograms: bool,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            handler_prefix: "/metrics".to_owned(),
            instrument_http_handlers: false,
            recovered_publications_histogram: false,
            native_histograms: false,
        }
    }
}

/// `prometheus.*`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusSettings {
    /// Serve `/metrics` and count.
    pub enabled: bool,
    /// The endpoint's path.
    pub handler_prefix: String,
}

impl PrometheusConfig {
    /// Checks the path (`fail` gets the key and the problem).
    pub(super) fn validate(&self, mut fail: impl FnMut(&str, String)) -> PrometheusSettings {
        let path = self.handler_prefix.trim_end_matches('/');
        if !self.handler_prefix.starts_with('/') || path.is_empty() {
            fail(
                "prometheus.handler_prefix",
                format!(
                    "must be a path starting with / other than /, got {:?}",
                    self.handler_prefix
                ),
            );
        }
        PrometheusSettings {
            enabled: self.enabled,
            handler_prefix: path.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_off_at_slash_metrics() {
        let mut failures = Vec::new();
        let settings =
            PrometheusConfig::default().validate(|k, m| failures.push((k.to_owned(), m)));
        assert!(failures.is_empty());
        assert_eq!(
            settings,
            PrometheusSettings {
                enabled: false,
                handler_prefix: "/metrics".to_owned()
            }
        );
    }

    #[test]
    fn a_path_without_a_slash_is_refused_under_its_key() {
        let config = PrometheusConfig {
            handler_prefix: "metrics".to_owned(),
            ..Default::default()
        };
        let mut failures = Vec::new();
        config.validate(|k, m| failures.push((k.to_owned(), m)));
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].0, "prometheus.handler_prefix");
    }
}
