//! Limits configured under `client.*` beyond Centrifugo's free ones: the per-IP connection
//! limits' client address (`client.ip_header`) and per-connection command rates
//! (`client.rate_limit.client_command`, the shape of Centrifugo PRO's), as written and as
//! validated. Every limit Herald has is listed in docs/limits.md.

use std::sync::Arc;

use herald_hub::{CommandKind, CommandRateLimits, Rate};
use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

/// `client.rate_limit.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientRateLimitConfig {
    /// Commands per connection (`client.rate_limit.client_command`). Off by default.
    pub client_command: ClientCommandRateLimitConfig,
}

/// `client.rate_limit.client_command.*`: token buckets per connection. A command takes a
/// token from every bucket of `total` and of its own kind (`default` for a kind without its
/// own), or from none; short of one it gets error 111 "too many requests".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientCommandRateLimitConfig {
    /// Turn the limits on. Default false (then no connection pays anything for them).
    pub enabled: bool,
    /// Buckets every command takes from.
    pub total: BucketsConfig,
    /// Buckets shared by the command kinds below that are not enabled.
    pub default: BucketsConfig,
    /// `subscribe` commands.
    pub subscribe: BucketsConfig,
    /// `unsubscribe` commands (Herald: not in Centrifugo PRO's list).
    pub unsubscribe: BucketsConfig,
    /// `publish` commands.
    pub publish: BucketsConfig,
    /// `history` commands.
    pub history: BucketsConfig,
    /// `presence` commands.
    pub presence: BucketsConfig,
    /// `presence_stats` commands.
    pub presence_stats: BucketsConfig,
    /// `refresh` commands.
    pub refresh: BucketsConfig,
    /// `sub_refresh` commands.
    pub sub_refresh: BucketsConfig,
    /// `rpc` commands (Centrifugo PRO's per-method `method_overrides` are not supported).
    pub rpc: BucketsConfig,
    /// Close a connection refused this many commands in a row with 3013 "too many requests"
    /// (the SDK reconnects with backoff); `0`: never. Herald's. Default 10.
    pub disconnect_after: u32,
}

impl Default for ClientCommandRateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            total: BucketsConfig::default(),
            default: BucketsConfig::default(),
            subscribe: BucketsConfig::default(),
            unsubscribe: BucketsConfig::default(),
            publish: BucketsConfig::default(),
            history: BucketsConfig::default(),
            presence: BucketsConfig::default(),
            presence_stats: BucketsConfig::default(),
            refresh: BucketsConfig::default(),
            sub_refresh: BucketsConfig::default(),
            rpc: BucketsConfig::default(),
            disconnect_after: 10,
        }
    }
}

/// A set of token buckets, all of which must hold a token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BucketsConfig {
    /// Use these buckets. Default false.
    pub enabled: bool,
    /// The buckets.
    pub buckets: Vec<BucketConfig>,
}

/// One token bucket: `rate` tokens per `interval`, holding at most `rate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BucketConfig {
    /// Refill period. Default `1s`; must be positive.
    pub interval: GoDuration,
    /// Tokens per interval. Required, above 0.
    pub rate: u32,
}

impl Default for BucketConfig {
    fn default() -> Self {
        Self {
            interval: GoDuration::from_secs(1),
            rate: 0,
        }
    }
}

impl ClientCommandRateLimitConfig {
    /// The hub's limits, `None` when off; `fail(key, message)` for each invalid value.
    pub(crate) fn validate(
        &self,
        mut fail: impl FnMut(&str, String),
    ) -> Option<Arc<CommandRateLimits>> {
        if !self.enabled {
            return None;
        }
        const PREFIX: &str = "client.rate_limit.client_command";
        let mut rates = |name: &str, set: &BucketsConfig| -> Vec<Rate> {
            if !set.enabled {
                return Vec::new();
            }
            let key = format!("{PREFIX}.{name}.buckets");
            if set.buckets.is_empty() {
                fail(&key, "enabled without buckets".to_owned());
            }
            set.buckets
                .iter()
                .filter_map(|bucket| {
                    let interval = bucket.interval.to_std().filter(|d| !d.is_zero());
                    match (Rate::new(bucket.rate, interval.unwrap_or_default()), interval) {
                        (Some(rate), Some(_)) => Some(rate),
                        _ => {
                            fail(
                                &key,
                                format!(
                                    "each bucket needs a rate above 0 and a positive interval, got rate {} interval {}",
                                    bucket.rate, bucket.interval
                                ),
                            );
                            None
                        }
                    }
                })
                .collect()
        };
        let total = rates("total", &self.total);
        let default = rates("default", &self.default);
        let own = CommandKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let set = self.kind(kind);
                set.enabled.then(|| (kind, rates(kind.key(), set)))
            })
            .collect();
        let limits = CommandRateLimits::new(total, default, own, self.disconnect_after);
        if limits.is_none() {
            fail(PREFIX, "enabled, but no bucket set is".to_owned());
        }
        limits.map(Arc::new)
    }

    fn kind(&self, kind: CommandKind) -> &BucketsConfig {
        match kind {
            CommandKind::Subscribe => &self.subscribe,
            CommandKind::Unsubscribe => &self.unsubscribe,
            CommandKind::Publish => &self.publish,
            CommandKind::History => &self.history,
            CommandKind::Presence => &self.presence,
            CommandKind::PresenceStats => &self.presence_stats,
            CommandKind::Refresh => &self.refresh,
            CommandKind::SubRefresh => &self.sub_refresh,
            CommandKind::Rpc => &self.rpc,
        }
    }
}

/// `client.ip_header` validated: a header name, lower-case, or `None` for `""`.
pub(crate) fn ip_header(raw: &str, mut fail: impl FnMut(&str, String)) -> Option<String> {
    if raw.is_empty() {
        return None;
    }
    match http::HeaderName::from_bytes(raw.as_bytes()) {
        Ok(name) => Some(name.as_str().to_owned()),
        Err(_) => {
            fail("client.ip_header", format!("not a header name: {raw:?}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(config: &ClientCommandRateLimitConfig) -> (bool, Vec<String>) {
        let mut errors = Vec::new();
        let limits = config.validate(|key, message| errors.push(format!("{key}: {message}")));
        (limits.is_some(), errors)
    }

    #[test]
    fn off_by_default_and_checked_when_on() {
        assert_eq!(errors(&Default::default()), (false, Vec::new()));
        let mut config = ClientCommandRateLimitConfig {
            enabled: true,
            ..Default::default()
        };
        let (_, found) = errors(&config);
        assert_eq!(
            found,
            ["client.rate_limit.client_command: enabled, but no bucket set is"]
        );
        config.publish = BucketsConfig {
            enabled: true,
            buckets: vec![BucketConfig {
                interval: GoDuration::from_secs(1),
                rate: 0,
            }],
        };
        let (_, found) = errors(&config);
        assert!(
            found[0].starts_with("client.rate_limit.client_command.publish.buckets: each bucket"),
            "{found:?}"
        );
        config.publish.buckets[0].rate = 5;
        assert_eq!(errors(&config), (true, Vec::new()));
    }

    #[test]
    fn the_ip_header_must_be_a_header_name() {
        let mut found = Vec::new();
        let mut fail = |key: &str, message: String| found.push(format!("{key}: {message}"));
        assert_eq!(ip_header("", &mut fail), None);
        assert_eq!(
            ip_header("X-Forwarded-For", &mut fail).as_deref(),
            Some("x-forwarded-for")
        );
        assert_eq!(ip_header("bad header", &mut fail), None);
        assert_eq!(
            found,
            ["client.ip_header: not a header name: \"bad header\""]
        );
    }
}
