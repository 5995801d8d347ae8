//! `opentelemetry.*` as in Centrifugo v6: OpenTelemetry tracing of server API calls and proxy
//! calls, as written and as validated. The exporter itself (where spans go, with which headers)
//! is configured by the standard `OTEL_*` environment variables; `docs/tracing.md` lists them.
//!
//! Tracing is compiled in only with the `otel` cargo feature: a binary built without it refuses
//! `opentelemetry.enabled: true` at start-up rather than running without the traces the
//! operator asked for.

use serde::{Deserialize, Serialize};

/// `opentelemetry.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenTelemetryConfig {
    /// Export spans over OTLP: every proxy call, and the server API calls with `api`. Needs a
    /// binary built with `--features otel`. Default false.
    pub enabled: bool,
    /// Also trace server API calls (HTTP and gRPC), continuing a caller's W3C `traceparent`.
    /// Default false.
    pub api: bool,
    /// Centrifugo traces its async consumers (Kafka, PostgreSQL outbox) with it. Accepted, no
    /// effect: Herald has no async consumers. Default false.
    pub consuming: bool,
}

/// `opentelemetry.*`, validated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenTelemetrySettings {
    /// Tracing on: proxy calls are traced.
    pub enabled: bool,
    /// Server API calls are traced too (only with `enabled`).
    pub api: bool,
}

impl OpenTelemetryConfig {
    /// Checks the section (`fail` gets the key and the problem).
    pub(super) fn validate(&self, mut fail: impl FnMut(&str, String)) -> OpenTelemetrySettings {
        if self.enabled && !cfg!(feature = "otel") {
            fail(
                "opentelemetry.enabled",
                "this herald binary was built without OpenTelemetry; build it with \
                 `cargo build --release --features otel` (docs/tracing.md)"
                    .to_owned(),
            );
        }
        OpenTelemetrySettings {
            enabled: self.enabled,
            api: self.enabled && self.api,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(config: &OpenTelemetryConfig) -> (OpenTelemetrySettings, Vec<(String, String)>) {
        let mut failures = Vec::new();
        let settings = config.validate(|k, m| failures.push((k.to_owned(), m)));
        (settings, failures)
    }

    #[test]
    fn off_by_default() {
        let (settings, failures) = validate(&OpenTelemetryConfig::default());
        assert_eq!(settings, OpenTelemetrySettings::default());
        assert!(failures.is_empty());
    }

    #[test]
    fn api_needs_enabled() {
        let config = OpenTelemetryConfig {
            api: true,
            ..OpenTelemetryConfig::default()
        };
        assert!(!validate(&config).0.api);
    }

    #[test]
    fn enabled_needs_the_feature() {
        let config = OpenTelemetryConfig {
            enabled: true,
            api: true,
            consuming: true,
        };
        let (settings, failures) = validate(&config);
        assert!(settings.enabled && settings.api);
        if cfg!(feature = "otel") {
            assert!(failures.is_empty());
        } else {
            assert_eq!(failures.len(), 1);
            assert_eq!(failures[0].0, "opentelemetry.enabled");
            assert!(
                failures[0].1.contains("--features otel"),
                "{}",
                failures[0].1
            );
        }
    }
}
