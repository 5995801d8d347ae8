//! `pusher.*`: the Pusher-protocol endpoint's apps (Herald's own section; issue 13), as
//! written and as validated.
//!
//! Each app is an isolated tenant: its own key (the `/app/<key>` a pusher-js client connects
//! to), secret (signing channel auth, sign-ins, HTTP API requests and webhooks), id (the
//! `/apps/<id>/` of the HTTP API), switches and limits. Channels of different apps never meet,
//! on any engine. With no app configured, the endpoint is not served.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

/// `pusher.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PusherConfig {
    /// The apps served. Default none: no Pusher endpoint.
    pub apps: Vec<PusherAppConfig>,
    /// Seconds of silence after which a client pings (sent in
    /// `pusher:connection_established`); the server closes a connection silent for this plus
    /// 30 s with 4201. Default 120s (Pusher's recommendation).
    pub activity_timeout: GoDuration,
    /// Path prefix of the WebSocket endpoint (pusher-js `wsPath`): clients connect to
    /// `{prefix}/app/<key>`. Default `""`.
    pub path_prefix: String,
}

impl Default for PusherConfig {
    fn default() -> Self {
        Self {
            apps: Vec::new(),
            activity_timeout: GoDuration::from_secs(120),
            path_prefix: String::new(),
        }
    }
}

/// `pusher.apps[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PusherAppConfig {
    /// The app id of the HTTP API's `/apps/<id>/` (the npm `pusher` library's `appId`; it
    /// must be a number for the library's `forURL`). Required, unique.
    pub id: String,
    /// The key clients connect with (`/app/<key>`) and API requests name (`auth_key`).
    /// Required, unique.
    pub key: String,
    /// Signs channel auth, sign-ins, API requests and webhooks. Required.
    pub secret: String,
    /// Serve the app; a disabled app's connections are closed with 4003 and its API
    /// answers 403. Default true.
    pub enabled: bool,
    /// Let clients trigger `client-*` events on private and presence channels. Default false.
    pub client_events: bool,
    /// Client events one connection may send per second; past it the connection is closed
    /// with 4301. 0: no limit. Default 10 (Pusher's).
    pub client_event_rate: u32,
    /// Connections of the app on this node; past it new ones are closed with 4004. 0: no
    /// limit. Default 0.
    pub max_connections: u32,
    /// Members of one presence channel; a subscription past it is refused. Default 100.
    pub max_presence_members: u32,
    /// Bytes of a presence member's `user_info`. Default 1024.
    pub max_user_info_size: u32,
    /// Bytes of one event's `data` (API trigger or client event); past it the API answers
    /// 413 and a client event is refused. Default 10240.
    pub max_event_size: u32,
    /// Subscription counting: subscribers of public and private channels get
    /// `pusher_internal:subscription_count` when the channel's count (across the cluster)
    /// changes, at most once a second per channel and node, and `subscription_count` webhooks
    /// go out. Each subscription then costs one presence entry in the engine. Default false.
    pub subscription_count: bool,
    /// Where the app's webhooks go, in Pusher's format. Default none.
    pub webhooks: Vec<PusherWebhookConfig>,
}

/// `pusher.apps[].webhooks[]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PusherWebhookConfig {
    /// The URL POSTed to. Required, http or https.
    pub url: String,
    /// Event types sent (`channel_occupied`, `channel_vacated`, `member_added`,
    /// `member_removed`, `client_event`, `cache_miss`, `subscription_count`); empty: all of
    /// them.
    pub event_types: Vec<String>,
    /// Extra request headers.
    pub headers: std::collections::BTreeMap<String, String>,
}

/// The webhook event types an endpoint may ask for.
pub const PUSHER_WEBHOOK_EVENTS: [&str; 7] = [
    "channel_occupied",
    "channel_vacated",
    "member_added",
    "member_removed",
    "client_event",
    "cache_miss",
    "subscription_count",
];

impl Default for PusherAppConfig {
    fn default() -> Self {
        Self {
            id: String::new(),
            key: String::new(),
            secret: String::new(),
            enabled: true,
            client_events: false,
            client_event_rate: 10,
            max_connections: 0,
            max_presence_members: 100,
            max_user_info_size: 1024,
            max_event_size: 10 * 1024,
            subscription_count: false,
            webhooks: Vec::new(),
        }
    }
}

/// `pusher.*`, validated.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct PusherSettings {
    /// The apps; empty: the endpoint is not served.
    pub apps: Vec<PusherApp>,
    /// Sent to clients as `activity_timeout`.
    pub activity_timeout: Duration,
    /// Without a trailing `/`; `""` for the root.
    pub path_prefix: String,
}

/// One app, validated.
#[derive(Clone, PartialEq, Eq)]
pub struct PusherApp {
    /// `/apps/<id>/`.
    pub id: String,
    /// `/app/<key>`, `auth_key`.
    pub key: String,
    /// The signing secret.
    pub secret: String,
    /// Served.
    pub enabled: bool,
    /// Client events allowed.
    pub client_events: bool,
    /// Client events per second per connection; `None`: no limit.
    pub client_event_rate: Option<u32>,
    /// Connections on this node; `None`: no limit.
    pub max_connections: Option<u32>,
    /// Members per presence channel.
    pub max_presence_members: u32,
    /// Bytes of a member's `user_info`.
    pub max_user_info_size: usize,
    /// Bytes of an event's `data`.
    pub max_event_size: usize,
    /// Subscription counting on.
    pub subscription_count: bool,
    /// Webhook endpoints.
    pub webhooks: Vec<PusherWebhook>,
}

/// One webhook endpoint of an app, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PusherWebhook {
    /// POSTed to.
    pub url: String,
    /// Types sent; empty: all.
    pub event_types: Vec<String>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for PusherSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PusherSettings")
            .field("apps", &self.apps)
            .field("activity_timeout", &self.activity_timeout)
            .field("path_prefix", &self.path_prefix)
            .finish()
    }
}

impl std::fmt::Debug for PusherApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("PusherApp")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("enabled", &self.enabled)
            .field("client_events", &self.client_events)
            .finish_non_exhaustive()
    }
}

/// Characters an app id or key may have: they are path segments and signed query values.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl PusherConfig {
    /// Checks the section; each problem goes to `fail` with its key.
    pub(super) fn validate(&self, mut fail: impl FnMut(&str, String)) -> PusherSettings {
        let activity_timeout = match self.activity_timeout.to_std() {
            Some(d) if d >= Duration::from_secs(1) => d,
            _ => {
                fail(
                    "pusher.activity_timeout",
                    format!("must be at least 1s, got {}", self.activity_timeout),
                );
                Duration::from_secs(120)
            }
        };
        let prefix = &self.path_prefix;
        if !prefix.is_empty() && !prefix.starts_with('/') {
            fail(
                "pusher.path_prefix",
                format!("must start with /, got {prefix:?}"),
            );
        }
        let mut ids = HashSet::new();
        let mut keys = HashSet::new();
        let mut apps = Vec::with_capacity(self.apps.len());
        for (i, app) in self.apps.iter().enumerate() {
            let key = |field: &str| format!("pusher.apps[{i}].{field}");
            if !is_token(&app.id) {
                fail(
                    &key("id"),
                    format!("must be 1 to 128 of A-Z a-z 0-9 - _ ., got {:?}", app.id),
                );
            } else if !ids.insert(app.id.as_str()) {
                fail(&key("id"), format!("{:?} is used by another app", app.id));
            }
            if !is_token(&app.key) {
                fail(
                    &key("key"),
                    format!("must be 1 to 128 of A-Z a-z 0-9 - _ ., got {:?}", app.key),
                );
            } else if !keys.insert(app.key.as_str()) {
                fail(&key("key"), format!("{:?} is used by another app", app.key));
            }
            if app.secret.is_empty() {
                fail(&key("secret"), "required".to_owned());
            }
            if app.max_presence_members == 0 {
                fail(
                    &key("max_presence_members"),
                    "must be at least 1".to_owned(),
                );
            }
            if app.max_event_size == 0 {
                fail(&key("max_event_size"), "must be at least 1".to_owned());
            }
            let mut webhooks = Vec::with_capacity(app.webhooks.len());
            for (j, hook) in app.webhooks.iter().enumerate() {
                let key = |field: &str| format!("pusher.apps[{i}].webhooks[{j}].{field}");
                if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
                    fail(
                        &key("url"),
                        format!("must be an http or https URL, got {:?}", hook.url),
                    );
                }
                for event in &hook.event_types {
                    if !PUSHER_WEBHOOK_EVENTS.contains(&event.as_str()) {
                        fail(
                            &key("event_types"),
                            format!(
                                "unknown event type {event:?} (known: {})",
                                PUSHER_WEBHOOK_EVENTS.join(", ")
                            ),
                        );
                    }
                }
                webhooks.push(PusherWebhook {
                    url: hook.url.clone(),
                    event_types: hook.event_types.clone(),
                    headers: hook
                        .headers
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                });
            }
            let positive = |n: u32| (n > 0).then_some(n);
            apps.push(PusherApp {
                id: app.id.clone(),
                key: app.key.clone(),
                secret: app.secret.clone(),
                enabled: app.enabled,
                client_events: app.client_events,
                client_event_rate: positive(app.client_event_rate),
                max_connections: positive(app.max_connections),
                max_presence_members: app.max_presence_members,
                max_user_info_size: app.max_user_info_size as usize,
                max_event_size: app.max_event_size as usize,
                subscription_count: app.subscription_count,
                webhooks,
            });
        }
        PusherSettings {
            apps,
            activity_timeout,
            path_prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(id: &str, key: &str) -> PusherAppConfig {
        PusherAppConfig {
            id: id.to_owned(),
            key: key.to_owned(),
            secret: "s".to_owned(),
            ..PusherAppConfig::default()
        }
    }

    fn validate(config: &PusherConfig) -> (PusherSettings, Vec<String>) {
        let mut problems = Vec::new();
        let settings = config.validate(|key, message| problems.push(format!("{key}: {message}")));
        (settings, problems)
    }

    #[test]
    fn defaults_serve_nothing() {
        let (settings, problems) = validate(&PusherConfig::default());
        assert!(problems.is_empty());
        assert!(settings.apps.is_empty());
        assert_eq!(settings.activity_timeout, Duration::from_secs(120));
    }

    #[test]
    fn apps_with_their_limits() {
        let mut one = app("1", "key-1");
        one.max_connections = 5;
        one.client_event_rate = 0;
        let config = PusherConfig {
            apps: vec![one, app("2", "key-2")],
            path_prefix: "/pusher/".to_owned(),
            ..PusherConfig::default()
        };
        let (settings, problems) = validate(&config);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(settings.path_prefix, "/pusher");
        assert_eq!(settings.apps[0].max_connections, Some(5));
        assert_eq!(settings.apps[0].client_event_rate, None);
        assert_eq!(settings.apps[1].client_event_rate, Some(10));
        assert_eq!(settings.apps[1].max_event_size, 10_240);
        assert!(
            !format!("{settings:?}").contains("\"s\""),
            "no secret in logs"
        );
    }

    #[test]
    fn every_problem_is_named() {
        let mut no_secret = app("3", "k3");
        no_secret.secret.clear();
        let config = PusherConfig {
            apps: vec![app("1", "k"), app("1", "k"), app("a/b", "k 2"), no_secret],
            activity_timeout: GoDuration::ZERO,
            path_prefix: "x".to_owned(),
        };
        let (_, problems) = validate(&config);
        let keys: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap_or_default())
            .collect();
        assert_eq!(
            keys,
            [
                "pusher.activity_timeout",
                "pusher.path_prefix",
                "pusher.apps[1].id",
                "pusher.apps[1].key",
                "pusher.apps[2].id",
                "pusher.apps[2].key",
                "pusher.apps[3].secret",
            ],
            "{problems:#?}"
        );
    }
}
