//! `webhooks.*`: lifecycle events POSTed to the application (not in Centrifugo), as written
//! and as validated. See docs/webhooks.md.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

/// `webhooks.*`. Off by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhooksConfig {
    /// Send lifecycle events. Default false (then nothing of it runs, no extra engine calls).
    pub enabled: bool,
    /// Where events go; each endpoint gets its own queue, batches and retries.
    pub endpoints: Vec<WebhookEndpointConfig>,
    /// Events queued per endpoint; past it new events are dropped, counted and logged.
    /// Default 10000.
    pub queue_max_size: usize,
    /// Most events in one POST. Default 100.
    pub batch_max_size: usize,
    /// How long the first queued event waits for others to join its batch. Default 100ms.
    pub batch_max_delay: GoDuration,
    /// Wait before the first retry of a failed POST; doubled each retry. Default 500ms.
    pub retry_initial_backoff: GoDuration,
    /// Longest wait between retries. Default 10s.
    pub retry_max_backoff: GoDuration,
    /// A batch not delivered this long after its first attempt is dropped (logged, counted).
    /// Default 5m.
    pub retry_max_duration: GoDuration,
    /// How long a channel stays without subscribers before `channel_vacated` (a subscriber
    /// back within it continues the period: page reloads). Default 0s.
    pub vacated_delay: GoDuration,
    /// On shutdown, how long queued events may take to go out. Default 5s.
    pub flush_timeout: GoDuration,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            endpoints: Vec::new(),
            queue_max_size: 10_000,
            batch_max_size: 100,
            batch_max_delay: GoDuration::from_millis(100),
            retry_initial_backoff: GoDuration::from_millis(500),
            retry_max_backoff: GoDuration::from_secs(10),
            retry_max_duration: GoDuration::from_secs(300),
            vacated_delay: GoDuration::ZERO,
            flush_timeout: GoDuration::from_secs(5),
        }
    }
}

/// `webhooks.endpoints[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookEndpointConfig {
    /// `http://` or `https://` URL events are POSTed to. Required.
    pub url: String,
    /// HMAC-SHA256 key of the `X-Herald-Webhook-Signature` header. Required.
    pub secret: String,
    /// Event types sent here (`connect`, `disconnect`, `channel_occupied`, `channel_vacated`,
    /// `presence_join`, `presence_leave`); empty: all.
    pub events: Vec<String>,
    /// Timeout of one POST. Default 5s.
    pub timeout: GoDuration,
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
}

impl Default for WebhookEndpointConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret: String::new(),
            events: Vec::new(),
            timeout: GoDuration::from_secs(5),
            headers: BTreeMap::new(),
        }
    }
}

/// `webhooks.*`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// The endpoints.
    pub endpoints: Vec<WebhookEndpoint>,
    /// Events queued per endpoint.
    pub queue_max_size: usize,
    /// Most events per POST.
    pub batch_max_size: usize,
    /// How long a batch waits to fill.
    pub batch_max_delay: Duration,
    /// First retry backoff.
    pub retry_initial_backoff: Duration,
    /// Largest retry backoff.
    pub retry_max_backoff: Duration,
    /// Retry bound per batch.
    pub retry_max_duration: Duration,
    /// Delay before `channel_vacated`.
    pub vacated_delay: Duration,
    /// Flush bound at shutdown.
    pub flush_timeout: Duration,
}

/// One validated endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEndpoint {
    /// Where to POST.
    pub url: String,
    /// Signing key.
    pub secret: String,
    /// Event types sent here; empty: all.
    pub events: Vec<String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
}

/// Event type names.
const EVENTS: [&str; 6] = herald_hub::LifecycleKind::NAMES;

impl WebhooksConfig {
    /// Checks `webhooks.*`; `None` when disabled. Problems go to `fail(key, message)`.
    pub(super) fn validate(&self, mut fail: impl FnMut(String, String)) -> Option<WebhookSettings> {
        if !self.enabled {
            return None;
        }
        let mut problems: Vec<(String, String)> = Vec::new();
        let duration = |problems: &mut Vec<(String, String)>,
                        key: &str,
                        value: GoDuration,
                        allow_zero: bool| match value.to_std() {
            Some(d) if d.is_zero() && !allow_zero => {
                problems.push((format!("webhooks.{key}"), "must be above zero".into()));
                Duration::ZERO
            }
            Some(d) => d,
            None => {
                problems.push((
                    format!("webhooks.{key}"),
                    format!("must not be negative, got {value}"),
                ));
                Duration::ZERO
            }
        };
        let settings = WebhookSettings {
            endpoints: Vec::new(),
            queue_max_size: self.queue_max_size,
            batch_max_size: self.batch_max_size,
            batch_max_delay: duration(&mut problems, "batch_max_delay", self.batch_max_delay, true),
            retry_initial_backoff: duration(
                &mut problems,
                "retry_initial_backoff",
                self.retry_initial_backoff,
                false,
            ),
            retry_max_backoff: duration(
                &mut problems,
                "retry_max_backoff",
                self.retry_max_backoff,
                false,
            ),
            retry_max_duration: duration(
                &mut problems,
                "retry_max_duration",
                self.retry_max_duration,
                false,
            ),
            vacated_delay: duration(&mut problems, "vacated_delay", self.vacated_delay, true),
            flush_timeout: duration(&mut problems, "flush_timeout", self.flush_timeout, true),
        };
        let mut endpoints = Vec::with_capacity(self.endpoints.len());
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            let key = format!("webhooks.endpoints[{i}]");
            endpoints.push(WebhookEndpoint {
                url: endpoint.url.clone(),
                secret: endpoint.secret.clone(),
                events: endpoint.events.clone(),
                timeout: duration(
                    &mut problems,
                    &format!("endpoints[{i}].timeout"),
                    endpoint.timeout,
                    false,
                ),
                headers: endpoint
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            });
            match reqwest::Url::parse(&endpoint.url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
                Ok(_) => problems.push((
                    format!("{key}.url"),
                    "must be an http:// or https:// URL".into(),
                )),
                Err(err) => problems.push((format!("{key}.url"), format!("not a URL: {err}"))),
            }
            if endpoint.secret.is_empty() {
                problems.push((format!("{key}.secret"), "must not be empty".into()));
            }
            for name in &endpoint.events {
                if !EVENTS.contains(&name.as_str()) {
                    problems.push((
                        format!("{key}.events"),
                        format!("unknown event {name:?} (one of {})", EVENTS.join(", ")),
                    ));
                }
            }
            for (name, value) in &endpoint.headers {
                if http::HeaderName::try_from(name.as_str()).is_err()
                    || http::HeaderValue::try_from(value.as_str()).is_err()
                {
                    problems.push((format!("{key}.headers"), format!("invalid header {name:?}")));
                }
            }
        }
        if self.endpoints.is_empty() {
            problems.push((
                "webhooks.endpoints".into(),
                "at least one endpoint is needed".into(),
            ));
        }
        if self.queue_max_size == 0 {
            problems.push((
                "webhooks.queue_max_size".into(),
                "must be above zero".into(),
            ));
        }
        if self.batch_max_size == 0 {
            problems.push((
                "webhooks.batch_max_size".into(),
                "must be above zero".into(),
            ));
        }
        for (key, message) in problems {
            fail(key, message);
        }
        Some(WebhookSettings {
            endpoints,
            ..settings
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> WebhooksConfig {
        WebhooksConfig {
            enabled: true,
            endpoints: vec![WebhookEndpointConfig {
                url: "https://example.com/hook".into(),
                secret: "s".into(),
                ..WebhookEndpointConfig::default()
            }],
            ..WebhooksConfig::default()
        }
    }

    fn problems(config: &WebhooksConfig) -> Vec<String> {
        let mut keys = Vec::new();
        config.validate(|key, _| keys.push(key));
        keys
    }

    #[test]
    fn defaults_validate_and_disabled_is_none() {
        assert_eq!(WebhooksConfig::default().validate(|_, _| panic!()), None);
        let settings = enabled().validate(|k, m| panic!("{k}: {m}")).expect("on");
        assert_eq!(settings.queue_max_size, 10_000);
        assert_eq!(settings.batch_max_size, 100);
        assert_eq!(settings.batch_max_delay, Duration::from_millis(100));
        assert_eq!(settings.retry_max_duration, Duration::from_secs(300));
        assert_eq!(settings.endpoints[0].timeout, Duration::from_secs(5));
    }

    #[test]
    fn bad_values_name_their_keys() {
        let mut config = enabled();
        config.endpoints[0].url = "ftp://x".into();
        config.endpoints[0].secret.clear();
        config.endpoints[0].events = vec!["connect".into(), "joined".into()];
        config.queue_max_size = 0;
        config.batch_max_size = 0;
        config.retry_initial_backoff = GoDuration::ZERO;
        assert_eq!(
            problems(&config),
            [
                "webhooks.retry_initial_backoff",
                "webhooks.endpoints[0].url",
                "webhooks.endpoints[0].secret",
                "webhooks.endpoints[0].events",
                "webhooks.queue_max_size",
                "webhooks.batch_max_size",
            ]
        );
        config.endpoints.clear();
        assert!(problems(&config).contains(&"webhooks.endpoints".to_owned()));
        let mut config = enabled();
        config.endpoints[0].url = "not a url".into();
        assert_eq!(problems(&config), ["webhooks.endpoints[0].url"]);
    }
}
