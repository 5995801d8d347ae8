//! Validated node options. The server crate parses Centrifugo-shaped configuration files into
//! these; the hub never reads files or the environment.

use std::time::Duration;

use std::sync::Arc;

use regex::Regex;

use crate::Proxy;

/// Everything the hub needs to know about how to treat clients and channels.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Node name, shown in `/api/info`.
    pub name: String,
    /// Version string sent in connect replies (Centrifugo sends e.g. "6.9.1 OSS").
    pub version: String,
    /// Connection-level behaviour.
    pub client: ClientOptions,
    /// Channels, namespaces and their options.
    pub channel: ChannelConfig,
    /// RPC namespaces and their proxies.
    pub rpc: RpcOptions,
    /// The end-to-end broker probe behind [`Hub::readiness`](crate::Hub::readiness).
    pub probe: crate::ProbeOptions,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            name: "herald".to_owned(),
            version: concat!("herald ", env!("CARGO_PKG_VERSION")).to_owned(),
            client: ClientOptions::default(),
            channel: ChannelConfig::default(),
            rpc: RpcOptions::default(),
            probe: crate::ProbeOptions::default(),
        }
    }
}

/// Connection-level options (Centrifugo's `client.*`).
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Accept connections without a token and allow every channel operation (tests, demos).
    pub insecure: bool,
    /// Accept a connection without a token as the anonymous user `""`.
    pub allow_anonymous_connect_without_token: bool,
    /// Reject connection tokens whose user is `""` with 3507.
    pub disallow_anonymous_connection_tokens: bool,
    /// App-level ping interval; `None` disables pings.
    pub ping_interval: Option<Duration>,
    /// How long to wait for a pong; `None` means no pong is expected.
    pub pong_timeout: Option<Duration>,
    /// Close a connection that sent no connect command within this delay (3502).
    pub stale_close_delay: Duration,
    /// Grace period after connection expiry before closing with 3005.
    pub expired_close_delay: Duration,
    /// Grace period after subscription expiry before unsubscribing with 2501.
    pub expired_sub_close_delay: Duration,
    /// Per-connection outgoing queue bound in bytes; over it the client is closed with 3008.
    pub queue_max_size: usize,
    /// Subscriptions per connection; over it error 106 (3505 for server-side subscriptions).
    pub channel_limit: usize,
    /// Connections per user, on this node and across the cluster (counted in the presence
    /// backend, `session/user_limit.rs`); 0 is unlimited; over it 3504.
    pub user_connection_limit: usize,
    /// Subscribe every authenticated connection to its user's personal channel.
    pub subscribe_to_user_personal_channel: PersonalChannelOptions,
    /// How often presence entries are refreshed.
    pub presence_update_interval: Duration,
    /// Presence entries expire this long after their last refresh.
    pub presence_ttl: Duration,
    /// Upper bound for the `limit` of a client history call.
    pub history_max_publication_limit: usize,
    /// Upper bound for publications returned by a recovery.
    pub recovery_max_publication_limit: usize,
    /// Add the server time to connect replies.
    pub connect_include_server_time: bool,
    /// Asked who a connection is when it comes without a token (`client.proxy.connect`).
    pub connect_proxy: Option<Arc<dyn Proxy>>,
    /// Asked to extend a connection whose expiry passed (`client.proxy.refresh`); without it
    /// the client must send a fresh token.
    pub refresh_proxy: Option<Arc<dyn Proxy>>,
    /// Request headers some proxy forwards (the union of their `http_headers`), lower-case:
    /// the transports keep these of each client's request, and nothing else.
    pub proxy_http_headers: Vec<String>,
    /// Headers from the client's headers emulation some proxy forwards (the union of their
    /// `emulated_headers`), lower-case: a connection keeps these of its connect command.
    pub proxy_emulated_headers: Vec<String>,
    /// Clients this node accepts at once (`client.connection_limit`); 0: no limit. Past it a
    /// new connection is refused with 503 before the upgrade.
    pub connection_limit: usize,
    /// New connections per second this node accepts (`client.connection_rate_limit`, a token
    /// bucket holding one second's worth); 0: no limit. Past it: 503 before the upgrade.
    pub connection_rate_limit: u32,
    /// Connections open at once from one client IP (`client.ip_connection_limit`, Herald's);
    /// 0: no limit. Past it: 429 before the upgrade.
    pub ip_connection_limit: usize,
    /// New connections per second from one client IP (`client.ip_connection_rate_limit`,
    /// Herald's, a token bucket holding one second's worth); 0: no limit. Past it: 429.
    pub ip_connection_rate_limit: u32,
    /// The request header, lower-case, whose last comma-separated address is the client IP
    /// for the per-IP limits (`client.ip_header`, set only behind a trusted proxy); `None`:
    /// the peer address.
    pub ip_header: Option<String>,
    /// Commands per connection by kind (`client.rate_limit.client_command`); `None`: none.
    pub command_rate_limits: Option<Arc<crate::CommandRateLimits>>,
    /// How long a WebSocket connection's writer collects messages before writing them, to
    /// trade that much delay for fewer writes (`client.write_delay`). Zero (default): at once,
    /// straight from the fan-out when the connection is idle.
    pub write_delay: Duration,
    /// Most messages joined into one WebSocket frame (`client.max_messages_in_frame`);
    /// `None` (default): no limit, everything a connection has queued leaves as one frame.
    /// The frames of one batch still leave in one write.
    pub max_messages_in_frame: Option<usize>,
    /// Replies to commands do not wait for `write_delay`: a reply leaves at once, with what
    /// is queued before it (`client.reply_without_queue`).
    pub reply_without_queue: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            insecure: false,
            allow_anonymous_connect_without_token: false,
            disallow_anonymous_connection_tokens: false,
            ping_interval: Some(Duration::from_secs(25)),
            pong_timeout: Some(Duration::from_secs(8)),
            stale_close_delay: Duration::from_secs(10),
            expired_close_delay: Duration::from_secs(25),
            expired_sub_close_delay: Duration::from_secs(25),
            queue_max_size: 1_048_576,
            channel_limit: 128,
            user_connection_limit: 0,
            subscribe_to_user_personal_channel: PersonalChannelOptions::default(),
            presence_update_interval: Duration::from_secs(27),
            presence_ttl: Duration::from_secs(60),
            history_max_publication_limit: 300,
            recovery_max_publication_limit: 300,
            connect_include_server_time: false,
            connect_proxy: None,
            refresh_proxy: None,
            proxy_http_headers: Vec::new(),
            proxy_emulated_headers: Vec::new(),
            connection_limit: 0,
            connection_rate_limit: 0,
            ip_connection_limit: 0,
            ip_connection_rate_limit: 0,
            ip_header: None,
            command_rate_limits: None,
            write_delay: Duration::ZERO,
            max_messages_in_frame: None,
            reply_without_queue: false,
        }
    }
}

/// `client.subscribe_to_user_personal_channel`.
#[derive(Debug, Clone, Default)]
pub struct PersonalChannelOptions {
    /// Turn the personal channel on.
    pub enabled: bool,
    /// Keep only one connection per user: a newer connection disconnects older ones.
    pub single_connection: bool,
    /// Namespace of the personal channel (`""` for none): the channel is `ns:#user`.
    pub personal_channel_namespace: String,
}

/// Channel naming rules and namespaces (Centrifugo's `channel.*`).
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    /// Options of channels without a namespace.
    pub without_namespace: ChannelOptions,
    /// Named namespaces.
    pub namespaces: Vec<Namespace>,
    /// Longest channel name accepted (107 beyond).
    pub max_length: usize,
    /// Prefix of private channels, which need a subscription token.
    pub private_prefix: String,
    /// Separates the namespace from the rest of the channel.
    pub namespace_boundary: String,
    /// Separates the channel from the user list of a user-limited channel.
    pub user_boundary: String,
    /// Separates users in a user-limited channel.
    pub user_separator: String,
    /// Default lifetime of a stream's position meta.
    pub history_meta_ttl: Duration,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            without_namespace: ChannelOptions::default(),
            namespaces: Vec::new(),
            max_length: 255,
            private_prefix: "$".to_owned(),
            namespace_boundary: ":".to_owned(),
            user_boundary: "#".to_owned(),
            user_separator: ",".to_owned(),
            history_meta_ttl: Duration::from_secs(720 * 3600),
        }
    }
}

/// A named namespace.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// Name, matching `^[-a-zA-Z0-9_.]{2,}$`.
    pub name: String,
    /// Its options.
    pub options: ChannelOptions,
}

/// What the payload of a publication must look like (`publication_data_format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PublicationDataFormat {
    /// Any non-empty payload (Centrifugo's `""`).
    #[default]
    Any,
    /// Valid JSON.
    Json,
    /// A JSON object.
    JsonObject,
    /// Anything, including empty.
    Binary,
}

/// What a subscription to a namespace is (`subscription_type`, Centrifugo 6.8). Herald
/// implements only streams; the other kinds are kept so that subscribing to such a namespace
/// is refused with the code Centrifugo gives a client whose subscription does not fit, instead
/// of quietly turning into a stream subscription.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SubscriptionType {
    /// A stream of publications (`""` or `stream`): the only kind Herald serves.
    #[default]
    Stream,
    /// `map`: keyed state with a snapshot phase. Not implemented.
    Map,
    /// `map_clients`: a map of the clients present in a channel. Not implemented.
    MapClients,
    /// `map_users`: a map of the users present in a channel. Not implemented.
    MapUsers,
    /// `shared_poll`: keys tracked by clients, polled from a backend. Not implemented.
    SharedPoll,
}

/// Options of a namespace (or of channels without one). All default to off.
#[derive(Debug, Clone, Default)]
pub struct ChannelOptions {
    /// Keep presence; needed for presence calls (else 108).
    pub presence: bool,
    /// Emit join/leave.
    pub join_leave: bool,
    /// Push join/leave to every subscriber, not only to those who asked.
    pub force_push_join_leave: bool,
    /// Stream size; with `history_ttl` needed for history and recovery.
    pub history_size: usize,
    /// Stream lifetime after the last publication.
    pub history_ttl: Duration,
    /// Position meta lifetime; `None` uses the channel-level default.
    pub history_meta_ttl: Option<Duration>,
    /// Every subscription is positioned.
    pub force_positioning: bool,
    /// A client may ask for positioning.
    pub allow_positioning: bool,
    /// Every subscription is recoverable.
    pub force_recovery: bool,
    /// A client may ask for recovery.
    pub allow_recovery: bool,
    /// Subscribe without token for authenticated users.
    pub allow_subscribe_for_client: bool,
    /// ... and for anonymous users too.
    pub allow_subscribe_for_anonymous: bool,
    /// Publish allowed to subscribers of the channel.
    pub allow_publish_for_subscriber: bool,
    /// Publish allowed to any authenticated connection.
    pub allow_publish_for_client: bool,
    /// ... and to anonymous ones too.
    pub allow_publish_for_anonymous: bool,
    /// Presence calls allowed to subscribers.
    pub allow_presence_for_subscriber: bool,
    /// Presence calls allowed to any authenticated connection.
    pub allow_presence_for_client: bool,
    /// ... and to anonymous ones too.
    pub allow_presence_for_anonymous: bool,
    /// History calls allowed to subscribers.
    pub allow_history_for_subscriber: bool,
    /// History calls allowed to any authenticated connection.
    pub allow_history_for_client: bool,
    /// ... and to anonymous ones too.
    pub allow_history_for_anonymous: bool,
    /// `#` user-limited channels: users listed after `#` subscribe without token.
    pub allow_user_limited_channels: bool,
    /// The part of the channel after the namespace must match this.
    pub channel_regex: Option<Regex>,
    /// What publication payloads must look like.
    pub publication_data_format: PublicationDataFormat,
    /// What subscriptions to the namespace are; anything but a stream is refused.
    pub subscription_type: SubscriptionType,
    /// Delta formats a subscriber may ask for (`allowed_delta_types`); empty: no delta
    /// compression, the subscribe result says `delta: false`.
    pub allowed_delta_types: Vec<DeltaType>,
    /// Every publication into the namespace goes out as a delta to the subscribers that
    /// negotiated one, as if each publish set the `delta` flag (`delta_publish`).
    pub delta_publish: bool,
    /// Decides subscriptions that come without a token (`subscribe_proxy_enabled`,
    /// `subscribe_proxy_name`).
    pub subscribe_proxy: Option<Arc<dyn Proxy>>,
    /// Decides (and may rewrite) client publications (`publish_proxy_enabled`,
    /// `publish_proxy_name`).
    pub publish_proxy: Option<Arc<dyn Proxy>>,
    /// Extends subscriptions whose expiry passed (`sub_refresh_proxy_enabled`,
    /// `sub_refresh_proxy_name`).
    pub sub_refresh_proxy: Option<Arc<dyn Proxy>>,
    /// Opens a stream of publications from the backend for each subscriber that comes
    /// without a token (`subscribe_stream_proxy_enabled`, `subscribe_stream_proxy_name`;
    /// gRPC only). The subscribe proxy, when both are set, goes first.
    pub subscribe_stream_proxy: Option<Arc<dyn Proxy>>,
}

/// RPC namespaces (Centrifugo's `rpc.*`): which proxy answers a method. A method
/// `ns{boundary}name` belongs to namespace `ns`; any other to `without_namespace`.
#[derive(Debug, Clone)]
pub struct RpcOptions {
    /// Proxy of methods without a namespace (`rpc.without_namespace`); `None`: 108.
    pub without_namespace: Option<Arc<dyn Proxy>>,
    /// Named namespaces.
    pub namespaces: Vec<RpcNamespace>,
    /// What separates a namespace from the method name (`rpc.namespace_boundary`, `:`).
    pub namespace_boundary: String,
}

impl Default for RpcOptions {
    fn default() -> Self {
        Self {
            without_namespace: None,
            namespaces: Vec::new(),
            namespace_boundary: ":".to_owned(),
        }
    }
}

/// One RPC namespace.
#[derive(Debug, Clone)]
pub struct RpcNamespace {
    /// Namespace name.
    pub name: String,
    /// Proxy of its methods; `None`: 108.
    pub proxy: Option<Arc<dyn Proxy>>,
}

/// A delta format (`SubscribeRequest.delta`, `allowed_delta_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaType {
    /// Fossil's delta format (`"fossil"`), the only one Centrifugo has.
    Fossil,
}

impl DeltaType {
    /// The format called `name` on the wire and in configuration, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "fossil" => Some(Self::Fossil),
            _ => None,
        }
    }
}

impl ChannelOptions {
    /// History and recovery need both a size and a ttl.
    pub fn history_enabled(&self) -> bool {
        self.history_size > 0 && !self.history_ttl.is_zero()
    }
}
