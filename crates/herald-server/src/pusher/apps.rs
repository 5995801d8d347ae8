//! The configured apps, looked up by key (the WebSocket path) or id (the HTTP API path), and
//! what every connection of an app shares: its rules, its key space, its connection count.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use herald_pusher::{AppRules, Channel, SocketId};

use tokio_util::sync::CancellationToken;

use super::counting::Counting;
use super::webhooks::AppWebhooks;
use crate::config::{PusherApp, PusherSettings};

/// The start of every Pusher channel key in the hub: `herald_hub::VERBATIM_PREFIX` and the
/// family's name (a test checks they agree).
const SCOPE: &str = "__herald.verbatim/pusher/";

/// Every app of `pusher.apps`, and the endpoint's settings.
#[derive(Debug)]
pub(crate) struct Apps {
    by_key: HashMap<String, Arc<App>>,
    by_id: HashMap<String, Arc<App>>,
    /// Sent to clients in `pusher:connection_established`.
    pub(crate) activity_timeout: Duration,
    /// The socket ids' first number: random per process, so ids are unique across a cluster.
    node_number: u64,
    /// The socket ids' second number.
    next_connection: AtomicU64,
}

/// One app.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) settings: PusherApp,
    /// What its connections' protocol state machines check.
    pub(crate) rules: Arc<AppRules>,
    /// `__herald.verbatim/pusher/<id>:`: the start of its channels' names in the hub, and
    /// of its users' keys in the node's client index.
    scope: String,
    /// Its connections on this node.
    connections: AtomicU32,
    /// Its webhook endpoints (possibly none).
    pub(crate) webhooks: AppWebhooks,
    /// Subscription counting's throttle (unused when the app does not count).
    pub(crate) counting: Arc<Counting>,
}

impl Apps {
    /// The apps of `settings`, their webhook endpoints started (sending with `client`;
    /// `stop` starts their last flush).
    pub(crate) fn new(
        settings: &PusherSettings,
        client: &reqwest::Client,
        stop: &CancellationToken,
    ) -> Self {
        let mut by_key = HashMap::new();
        let mut by_id = HashMap::new();
        for app in &settings.apps {
            let rules = AppRules {
                key: app.key.clone(),
                secret: app.secret.clone(),
                client_events: app.client_events,
                client_event_rate: app.client_event_rate,
                max_user_info_size: app.max_user_info_size,
                max_event_size: app.max_event_size,
            };
            let webhooks = AppWebhooks::start(&app.key, &app.secret, &app.webhooks, client, stop);
            let app = Arc::new(App {
                settings: app.clone(),
                rules: Arc::new(rules),
                scope: format!("{SCOPE}{}:", app.id),
                connections: AtomicU32::new(0),
                webhooks,
                counting: Arc::default(),
            });
            by_key.insert(app.settings.key.clone(), app.clone());
            by_id.insert(app.settings.id.clone(), app);
        }
        // Below 2^53 so that JavaScript reads the number exactly.
        let node_number = (uuid::Uuid::new_v4().as_u128() % 1_000_000_000) as u64 + 1;
        Self {
            by_key,
            by_id,
            activity_timeout: settings.activity_timeout,
            node_number,
            next_connection: AtomicU64::new(1),
        }
    }

    /// The app clients connect to with `key`.
    pub(crate) fn by_key(&self, key: &str) -> Option<&Arc<App>> {
        self.by_key.get(key)
    }

    /// The app `/apps/<id>/` addresses.
    pub(crate) fn by_id(&self, id: &str) -> Option<&Arc<App>> {
        self.by_id.get(id)
    }

    /// The app and its channel a hub key names (`__herald.verbatim/pusher/<id>:<channel>`).
    pub(crate) fn by_channel_key<'a>(&self, key: &'a str) -> Option<(&Arc<App>, &'a str)> {
        let scoped = key.strip_prefix(SCOPE)?;
        // App ids have no ':' (the configuration checks them).
        let (id, channel) = scoped.split_once(':')?;
        Some((self.by_id.get(id)?, channel))
    }

    /// A socket id no other connection of the cluster has.
    pub(crate) fn next_socket_id(&self) -> SocketId {
        let minor = self.next_connection.fetch_add(1, Ordering::Relaxed);
        SocketId::new(self.node_number, minor)
    }
}

impl App {
    /// The hub's name for the app's `channel`.
    pub(crate) fn channel_key(&self, channel: &Channel) -> String {
        format!("{}{channel}", self.scope)
    }

    /// The start of every channel key of the app.
    pub(crate) fn scope(&self) -> &str {
        &self.scope
    }

    /// The app's channel a hub key names, if it is one of the app's.
    pub(crate) fn channel_of<'a>(&self, key: &'a str) -> Option<&'a str> {
        key.strip_prefix(self.scope.as_str())
    }

    /// The client-index key of the app's user `user` (signed in with `pusher:signin`).
    pub(crate) fn user_key(&self, user: &str) -> String {
        format!("{}#{user}", self.scope)
    }

    /// Counts a new connection, unless the app is at `max_connections` on this node.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<AppConnection> {
        let limit = self.settings.max_connections.unwrap_or(u32::MAX);
        self.connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()?;
        Some(AppConnection { app: self.clone() })
    }
}

/// A connection counted against its app's `max_connections`; uncounted when dropped.
#[derive(Debug)]
pub(crate) struct AppConnection {
    pub(crate) app: Arc<App>,
}

impl Drop for AppConnection {
    fn drop(&mut self) {
        self.app.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_is_under_the_hubs_verbatim_prefix() {
        assert_eq!(SCOPE, format!("{}pusher/", herald_hub::VERBATIM_PREFIX));
    }

    #[test]
    fn a_channel_key_names_its_app_and_channel() {
        let settings = PusherSettings {
            apps: vec![PusherApp {
                id: "1001".to_owned(),
                key: "k".to_owned(),
                secret: "s".to_owned(),
                enabled: true,
                client_events: false,
                client_event_rate: None,
                max_connections: None,
                max_presence_members: 100,
                max_user_info_size: 1024,
                max_event_size: 10_240,
                subscription_count: false,
                webhooks: Vec::new(),
            }],
            ..PusherSettings::default()
        };
        let apps = Apps::new(
            &settings,
            &reqwest::Client::new(),
            &CancellationToken::new(),
        );
        let channel = Channel::parse("presence-a.b").expect("valid");
        let app = apps.by_id("1001").expect("configured");
        let key = app.channel_key(&channel);
        let (found, name) = apps.by_channel_key(&key).expect("an app's key");
        assert!(Arc::ptr_eq(found, app));
        assert_eq!(name, "presence-a.b");
        assert!(apps.by_channel_key("presence-a.b").is_none());
        assert!(apps.by_channel_key(&format!("{SCOPE}999:x")).is_none());
    }
}
