//! The configuration file as written: Centrifugo v6's nested key names and defaults.
//!
//! Every struct here is plain data; nothing is checked until [`Config::validate`]
//! (`super::validate`). Keys Herald does not know are collected as warnings by the loader, so a
//! Centrifugo file with options Herald lacks still loads.

use serde::{Deserialize, Serialize};

use super::duration::GoDuration;
use super::proxy::{ChannelProxyConfig, ClientProxyConfig, ProxyConfig, RpcConfig};

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The HTTP server that carries every endpoint.
    pub http_server: HttpServerConfig,
    /// Logging.
    pub log: LogConfig,
    /// Broker and presence storage.
    pub engine: EngineConfig,
    /// A standalone broker instead of the engine's (e.g. NATS).
    pub broker: BrokerConfig,
    /// A standalone presence manager instead of the engine's.
    pub presence_manager: PresenceManagerConfig,
    /// This node's identity.
    pub node: NodeConfig,
    /// Client connections: auth, tokens, limits, timers.
    pub client: ClientConfig,
    /// Channel naming rules, default options and namespaces.
    pub channel: ChannelConfig,
    /// The server HTTP API.
    pub http_api: HttpApiConfig,
    /// The bidirectional WebSocket transport.
    pub websocket: WebSocketConfig,
    /// Bidirectional emulation over HTTP streaming (the SDK's `http_stream` transport).
    pub http_stream: super::transports::HttpStreamConfig,
    /// Bidirectional emulation over Server-Sent Events (the SDK's `sse` transport).
    pub sse: super::transports::SseConfig,
    /// Where emulated clients POST their commands.
    pub emulation: super::transports::EmulationConfig,
    /// Unidirectional WebSocket: bare JSON pushes, no SDK needed.
    pub uni_websocket: super::transports::UniWebSocketConfig,
    /// Unidirectional Server-Sent Events.
    pub uni_sse: super::transports::UniSseConfig,
    /// Unidirectional HTTP streaming.
    pub uni_http_stream: super::transports::UniHttpStreamConfig,
    /// The server API over gRPC.
    pub grpc_api: super::grpc::GrpcApiConfig,
    /// Unidirectional gRPC: a stream of Protobuf pushes.
    pub uni_grpc: super::grpc::UniGrpcConfig,
    /// The admin web UI.
    pub admin: super::admin::AdminConfig,
    /// The `/health` endpoint.
    pub health: HealthConfig,
    /// The Prometheus metrics endpoint.
    pub prometheus: super::prometheus::PrometheusConfig,
    /// OpenTelemetry tracing of API and proxy calls.
    pub opentelemetry: super::opentelemetry::OpenTelemetryConfig,
    /// The Pusher-protocol endpoint's apps (Herald's own section).
    pub pusher: super::pusher::PusherConfig,
    /// Graceful shutdown.
    pub shutdown: ShutdownConfig,
    /// Named proxies that namespaces and RPC namespaces refer to by `name`. Default none.
    pub proxies: Vec<ProxyConfig>,
    /// RPC namespaces and the proxies that answer them.
    pub rpc: RpcConfig,
    /// Lifecycle events POSTed to the application (Herald's own, not in Centrifugo).
    pub webhooks: super::webhooks::WebhooksConfig,
}

/// `http_server.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpServerConfig {
    /// Interface to bind. `""` (the default inside a config file, as in Centrifugo) means all
    /// interfaces. When Herald starts with NO config file it binds `127.0.0.1` instead, so that a
    /// bare `herald serve` is not reachable from the network by accident.
    pub address: String,
    /// Port to bind. Default 8000.
    pub port: u16,
    /// Also serve HTTP/2 over cleartext (prior knowledge, as Centrifugo's `h2c_external`),
    /// with extended CONNECT (RFC 8441) so WebSocket runs over HTTP/2 streams. Centrifugo
    /// requires a separate `internal_port` with it; Herald does not. Default `false`: HTTP/1
    /// only, and the listener does not look at the first bytes of a connection.
    pub h2c_external: bool,
    /// HTTPS and WSS on the port: `enabled` (default false), `cert_pem` and `key_pem` (PEM
    /// text, base64 PEM or a file path; required when enabled; files are reloaded when they
    /// change). `client_ca_pem` is refused (no mutual TLS here yet). See
    /// [`super::HttpTlsSettings`].
    pub tls: super::grpc::TlsConfig,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        Self {
            address: String::new(),
            port: 8000,
            h2c_external: false,
            tls: super::grpc::TlsConfig::default(),
        }
    }
}

/// `log.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// `none`, `trace`, `debug`, `info`, `warn`, `error` (or `fatal`, read as `error`).
    /// Default `info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
        }
    }
}

/// `engine.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    /// `memory` (default: one node, everything in process memory) or `redis` (several nodes
    /// share channels, history and presence through Redis).
    #[serde(rename = "type")]
    pub kind: String,
    /// `engine.redis.*`, used when `type` is `redis`.
    pub redis: RedisEngineConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            kind: "memory".to_owned(),
            redis: RedisEngineConfig::default(),
        }
    }
}

/// `engine.redis.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RedisEngineConfig {
    /// One address per shard (`redis://host:port` or `host:port`), as a list or a single
    /// string; in the environment, separated by spaces. Default `redis://127.0.0.1:6379`.
    /// Every node must list the same shards in the same order.
    #[serde(deserialize_with = "string_or_list")]
    pub address: Vec<String>,
    /// Prefix of every Redis key and PUB/SUB channel. Default `herald` (Centrifugo's is
    /// `centrifugo`): Herald encodes values its own way, so it must not share keys with
    /// Centrifugo nodes on the same Redis.
    pub prefix: String,
    /// TLS to Redis (Centrifugo's `tls` section): `enabled` (default false), `server_ca_pem`
    /// (CA the server's certificate must chain to; default the platform's roots), `cert_pem`
    /// and `key_pem` (a client certificate, both or neither), each PEM text, base64 PEM or a
    /// file path. `insecure_skip_verify` and `server_name` are refused: the certificate is
    /// always checked against the address's host.
    pub tls: super::grpc::TlsConfig,
    /// Redis Sentinel: the sentinels to ask where the master is, one entry per shard, several
    /// sentinels of one shard separated by commas (`host:port`); in the environment, shards
    /// are separated by spaces. When set, `address` is not used. Default empty (no Sentinel).
    #[serde(deserialize_with = "string_or_list")]
    pub sentinel_address: Vec<String>,
    /// The name the sentinels monitor the master under; required with `sentinel_address`.
    /// Default empty.
    pub sentinel_master_name: String,
    /// ACL user for the sentinels. Default empty (the default user).
    pub sentinel_user: String,
    /// Password for the sentinels. Default empty (no AUTH).
    pub sentinel_password: String,
    /// ACL user for every address that names none (and for the masters Sentinel finds); used
    /// with `password`. Default empty (the default user).
    pub user: String,
    /// Password for every address that names none (and for the masters Sentinel finds).
    /// Default empty (no AUTH).
    pub password: String,
    /// Database for every address that names none (and for the masters Sentinel finds).
    /// Default 0.
    pub db: i64,
}

impl Default for RedisEngineConfig {
    fn default() -> Self {
        Self {
            address: vec!["redis://127.0.0.1:6379".to_owned()],
            prefix: "herald".to_owned(),
            tls: super::grpc::TlsConfig::default(),
            sentinel_address: Vec::new(),
            sentinel_master_name: String::new(),
            sentinel_user: String::new(),
            sentinel_password: String::new(),
            user: String::new(),
            password: String::new(),
            db: 0,
        }
    }
}

/// `broker.*`: a broker configured apart from the engine (Centrifugo's broker / presence
/// manager split), e.g. NATS for publications with Redis for presence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BrokerConfig {
    /// Use this broker instead of the engine's. Default false.
    pub enabled: bool,
    /// `memory`, `redis` or `nats`. Default `memory`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `broker.redis.*`, when `type` is `redis`.
    pub redis: RedisEngineConfig,
    /// `broker.nats.*`, when `type` is `nats`.
    pub nats: NatsBrokerConfig,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            kind: "memory".to_owned(),
            redis: RedisEngineConfig::default(),
            nats: NatsBrokerConfig::default(),
        }
    }
}

/// `broker.nats.*`. NATS delivers at most once: no history, no recovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NatsBrokerConfig {
    /// Server URL (several may be given separated by commas). Default `nats://localhost:4222`.
    pub url: String,
    /// Subject prefix. Default `centrifugo`.
    pub prefix: String,
    /// Limit for establishing the connection. Default `1s`.
    pub dial_timeout: GoDuration,
    /// Limit for a write to NATS. Default `1s`.
    pub write_timeout: GoDuration,
    /// TLS to NATS: `enabled` (default false), `server_ca_pem` (required with it), `cert_pem`
    /// and `key_pem` (a client certificate), as in `engine.redis.tls`.
    pub tls: super::grpc::TlsConfig,
}

impl Default for NatsBrokerConfig {
    fn default() -> Self {
        Self {
            url: "nats://localhost:4222".to_owned(),
            prefix: "centrifugo".to_owned(),
            dial_timeout: GoDuration::from_secs(1),
            write_timeout: GoDuration::from_secs(1),
            tls: super::grpc::TlsConfig::default(),
        }
    }
}

/// `presence_manager.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PresenceManagerConfig {
    /// Use this presence manager instead of the engine's. Default false.
    pub enabled: bool,
    /// `memory` or `redis`. Default `memory`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `presence_manager.redis.*`, when `type` is `redis`.
    pub redis: RedisEngineConfig,
}

impl Default for PresenceManagerConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            kind: "memory".to_owned(),
            redis: RedisEngineConfig::default(),
        }
    }
}

/// Accepts `"a"` as well as `["a", "b"]`.
fn string_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// `node.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeConfig {
    /// Human-readable node name shown by `/api/info`. Default `""`: `<hostname>_<port>`, as in
    /// Centrifugo.
    pub name: String,
}

/// `client.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientConfig {
    /// Accept connections without token and allow every channel operation. Tests only.
    pub insecure: bool,
    /// Accept a connection without token as the anonymous user `""`.
    pub allow_anonymous_connect_without_token: bool,
    /// Reject connection tokens whose user is `""` (disconnect 3507).
    pub disallow_anonymous_connection_tokens: bool,
    /// Skip JWT signature checks (claims are still read). Tests only.
    pub insecure_skip_token_signature_verify: bool,
    /// Server ping interval. Default `25s`; `0` means the default; negative (`-1`) disables
    /// pings (and pong checks with them).
    pub ping_interval: GoDuration,
    /// How long to wait for a pong after a ping. Default `8s`; `0` means the library default
    /// `10s`; negative disables pong checks. Must be below `ping_interval`.
    pub pong_timeout: GoDuration,
    /// Close connections that send no connect command within this delay. Default `10s`.
    pub stale_close_delay: GoDuration,
    /// Grace period after connection expiry before disconnect 3005. Default `25s`.
    pub expired_close_delay: GoDuration,
    /// Grace period after subscription expiry before unsubscribe 2501. Default `25s`.
    pub expired_sub_close_delay: GoDuration,
    /// Outgoing queue bound per connection, bytes; over it disconnect 3008. Default 1048576
    /// (`0` means the default).
    pub queue_max_size: usize,
    /// Subscriptions per connection. Default 128 (`0` means the default).
    pub channel_limit: usize,
    /// Connections per user across the cluster (Centrifugo: per node), counted in the presence
    /// backend; past it disconnect 3504. `0` (default) is unlimited. See docs/limits.md.
    pub user_connection_limit: usize,
    /// Clients this node accepts at once; `0` (default) is unlimited. Past it, connection
    /// requests get HTTP 503 before the upgrade.
    pub connection_limit: usize,
    /// New connections per second this node accepts; `0` (default) is unlimited. Past it,
    /// connection requests get HTTP 503 before the upgrade.
    pub connection_rate_limit: u32,
    /// Connections open at once from one client IP (Herald's); `0` (default) is unlimited.
    /// Past it, connection requests get HTTP 429 before the upgrade. See docs/limits.md.
    pub ip_connection_limit: usize,
    /// New connections per second from one client IP (Herald's); `0` (default) is unlimited.
    /// Past it, connection requests get HTTP 429 before the upgrade.
    pub ip_connection_rate_limit: u32,
    /// A request header whose last comma-separated address is the client IP for the per-IP
    /// limits, e.g. `X-Forwarded-For` or `X-Real-IP` (Herald's). Set it only when a proxy you
    /// trust sets that header; default `""`: the peer address.
    pub ip_header: String,
    /// Per-connection command rates (`client.rate_limit.client_command`, as in Centrifugo
    /// PRO). Off by default.
    pub rate_limit: super::limits::ClientRateLimitConfig,
    /// Commands processed concurrently per connection; `0` (default) means one at a time.
    pub concurrency: usize,
    /// Origins allowed to open connections. Empty (default): only requests without an `Origin`
    /// header. `*` allows all; globs like `https://*.example.com` are matched case-insensitively.
    pub allowed_origins: Vec<String>,
    /// How often presence entries are refreshed. Default `27s` (`0` means the default).
    pub presence_update_interval: GoDuration,
    /// Upper bound for a client history `limit`. Default 300; `0` means no bound.
    pub history_max_publication_limit: usize,
    /// Upper bound for publications returned by a recovery. Default 300; `0` means no bound.
    pub recovery_max_publication_limit: usize,
    /// Add the server time to connect replies.
    pub connect_include_server_time: bool,
    /// Automatic server-side subscription to the user's personal channel.
    pub subscribe_to_user_personal_channel: PersonalChannelConfig,
    /// Connection token verification (also subscription tokens unless
    /// `subscription_token.enabled`).
    pub token: TokenConfig,
    /// Separate verification settings for subscription tokens.
    pub subscription_token: SubscriptionTokenConfig,
    /// Connect and refresh proxies (each on with its `enabled`).
    pub proxy: ClientProxyConfig,
    /// How long a WebSocket connection's writer collects messages before writing them, trading
    /// that much delay for fewer writes when a connection receives many messages. Default `0`:
    /// every message leaves at once. See docs/performance.md.
    pub write_delay: GoDuration,
    /// Most messages joined into one WebSocket frame. Default `0`: no limit (`-1` too);
    /// Centrifugo's default is 16.
    pub max_messages_in_frame: i64,
    /// Replies to commands do not wait for `write_delay`: each leaves at once, with what is
    /// queued before it.
    pub reply_without_queue: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            insecure: false,
            allow_anonymous_connect_without_token: false,
            disallow_anonymous_connection_tokens: false,
            insecure_skip_token_signature_verify: false,
            ping_interval: GoDuration::from_secs(25),
            pong_timeout: GoDuration::from_secs(8),
            stale_close_delay: GoDuration::from_secs(10),
            expired_close_delay: GoDuration::from_secs(25),
            expired_sub_close_delay: GoDuration::from_secs(25),
            queue_max_size: 1_048_576,
            channel_limit: 128,
            user_connection_limit: 0,
            connection_limit: 0,
            connection_rate_limit: 0,
            ip_connection_limit: 0,
            ip_connection_rate_limit: 0,
            ip_header: String::new(),
            rate_limit: Default::default(),
            concurrency: 0,
            allowed_origins: Vec::new(),
            presence_update_interval: GoDuration::from_secs(27),
            history_max_publication_limit: 300,
            recovery_max_publication_limit: 300,
            connect_include_server_time: false,
            subscribe_to_user_personal_channel: PersonalChannelConfig::default(),
            token: TokenConfig::default(),
            subscription_token: SubscriptionTokenConfig::default(),
            proxy: ClientProxyConfig::default(),
            write_delay: GoDuration::from_secs(0),
            max_messages_in_frame: 0,
            reply_without_queue: false,
        }
    }
}

/// `client.subscribe_to_user_personal_channel.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PersonalChannelConfig {
    /// Subscribe every authenticated connection to `<namespace>:#<user>`.
    pub enabled: bool,
    /// Namespace of the personal channel; `""` (default) for none. Must exist.
    pub personal_channel_namespace: String,
    /// Keep one connection per user: a new one disconnects the older ones. Needs presence on
    /// the personal channel's namespace.
    pub single_connection: bool,
}

/// `client.token.*`: how connection (and by default subscription) JWTs are verified.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenConfig {
    /// Secret for HS256/HS384/HS512 tokens.
    pub hmac_secret_key: String,
    /// Previous HMAC secret, still accepted for HS256/384/512 tokens during a key rotation
    /// (Centrifugo 6.6.1); `""` (default) is none. Tokens signed with it pass while
    /// `hmac_previous_secret_key_valid_until` allows.
    pub hmac_previous_secret_key: String,
    /// Unix time in seconds (an integer, e.g. `1767225600`) after which tokens signed with the
    /// previous secret are refused (still accepted in that very second, as in Centrifugo);
    /// `0` (default) for never. Negative values and values past year 9999 (milliseconds, say)
    /// are configuration errors.
    pub hmac_previous_secret_key_valid_until: i64,
    /// PEM public key for RS256/RS384/RS512 tokens.
    pub rsa_public_key: String,
    /// PEM public key for ES256 (P-256) or ES384 (P-384) tokens.
    pub ecdsa_public_key: String,
    /// URL (http or https) of a JSON Web Key Set; `""` (default) for none. When set, RSA and
    /// ECDSA tokens of this section are verified only with its keys (RSA; ECDSA P-256 and
    /// P-384), chosen by the token's `kid`; the PEM and HMAC keys are not used. Keys are cached,
    /// fetched again on an unknown `kid` (at most once a second) and refreshed hourly; a failed
    /// fetch keeps the cached keys and never lets a token with an unknown key in. Templated
    /// endpoints (`{{tenant}}`-style variables) are not supported (a configuration error).
    pub jwks_public_endpoint: String,
    /// Required `aud` value; `""` (default) skips the check.
    pub audience: String,
    /// Regex one `aud` value must match (unanchored, as in Go); exclusive with `audience`.
    pub audience_regex: String,
    /// Required `iss` value; `""` (default) skips the check.
    pub issuer: String,
    /// Regex `iss` must match (unanchored, as in Go); exclusive with `issuer`.
    pub issuer_regex: String,
    /// Claim holding the user id instead of `sub`; must match `^[a-zA-Z_]+$`.
    pub user_id_claim: String,
}

/// `client.subscription_token.*`: the same keys as `client.token` plus `enabled`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubscriptionTokenConfig {
    /// Verify subscription tokens with these settings instead of `client.token`.
    pub enabled: bool,
    /// See [`TokenConfig::hmac_secret_key`].
    pub hmac_secret_key: String,
    /// See [`TokenConfig::hmac_previous_secret_key`].
    pub hmac_previous_secret_key: String,
    /// See [`TokenConfig::hmac_previous_secret_key_valid_until`].
    pub hmac_previous_secret_key_valid_until: i64,
    /// See [`TokenConfig::rsa_public_key`].
    pub rsa_public_key: String,
    /// See [`TokenConfig::ecdsa_public_key`].
    pub ecdsa_public_key: String,
    /// See [`TokenConfig::jwks_public_endpoint`].
    pub jwks_public_endpoint: String,
    /// See [`TokenConfig::audience`].
    pub audience: String,
    /// See [`TokenConfig::audience_regex`].
    pub audience_regex: String,
    /// See [`TokenConfig::issuer`].
    pub issuer: String,
    /// See [`TokenConfig::issuer_regex`].
    pub issuer_regex: String,
    /// See [`TokenConfig::user_id_claim`].
    pub user_id_claim: String,
}

impl SubscriptionTokenConfig {
    /// The token settings without `enabled`.
    pub fn token(&self) -> TokenConfig {
        TokenConfig {
            hmac_secret_key: self.hmac_secret_key.clone(),
            hmac_previous_secret_key: self.hmac_previous_secret_key.clone(),
            hmac_previous_secret_key_valid_until: self.hmac_previous_secret_key_valid_until,
            rsa_public_key: self.rsa_public_key.clone(),
            ecdsa_public_key: self.ecdsa_public_key.clone(),
            jwks_public_endpoint: self.jwks_public_endpoint.clone(),
            audience: self.audience.clone(),
            audience_regex: self.audience_regex.clone(),
            issuer: self.issuer.clone(),
            issuer_regex: self.issuer_regex.clone(),
            user_id_claim: self.user_id_claim.clone(),
        }
    }
}

/// `channel.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChannelConfig {
    /// Options of channels without a namespace.
    pub without_namespace: ChannelOptionsConfig,
    /// Namespaces: `[{"name": "chat", "presence": true, ...}]`.
    pub namespaces: Vec<NamespaceConfig>,
    /// Default lifetime of a stream's position meta. Default `720h` (`0` means the default).
    pub history_meta_ttl: GoDuration,
    /// Default `publication_data_format` for namespaces that leave theirs empty.
    pub publication_data_format: String,
    /// Longest channel name. Default 255 (`0` means the default).
    pub max_length: usize,
    /// Prefix of private channels (token required). Default `$`.
    pub private_prefix: String,
    /// Separates the namespace from the rest of a channel. Default `:`.
    pub namespace_boundary: String,
    /// Separates the channel from its user list. Default `#`.
    pub user_boundary: String,
    /// Separates users in a user-limited channel. Default `,`.
    pub user_separator: String,
    /// The channel proxies namespaces refer to by the name `default` (subscribe, publish,
    /// sub_refresh, subscribe_stream).
    pub proxy: ChannelProxyConfig,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            without_namespace: ChannelOptionsConfig::default(),
            namespaces: Vec::new(),
            history_meta_ttl: GoDuration::from_secs(720 * 3600),
            publication_data_format: String::new(),
            max_length: 255,
            private_prefix: "$".to_owned(),
            namespace_boundary: ":".to_owned(),
            user_boundary: "#".to_owned(),
            user_separator: ",".to_owned(),
            proxy: ChannelProxyConfig::default(),
        }
    }
}

/// One entry of `channel.namespaces`: a name plus channel options at the same level.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NamespaceConfig {
    /// Unique name matching `^[-a-zA-Z0-9_.]{2,}$`.
    pub name: String,
    /// The options, written beside `name`.
    #[serde(flatten)]
    pub options: ChannelOptionsConfig,
}

// Written by hand rather than with `#[serde(flatten)]`, which would report a bad option only as
// `channel.namespaces[0]`: here the error starts with the option's name, which the loader joins
// to the path. Unknown option keys are skipped here and reported by the loader.
impl<'de> Deserialize<'de> for NamespaceConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        use serde_json::Value;
        let mut map = serde_json::Map::<String, Value>::deserialize(deserializer)?;
        let name = match map.remove("name") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(name)) => name,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "name: invalid type: {other}, expected a string"
                )));
            }
        };
        let options = serde_path_to_error::deserialize(Value::Object(map))
            .map_err(|e| D::Error::custom(format!("{}: {}", e.path(), e.inner())))?;
        Ok(Self { name, options })
    }
}

/// Options of a namespace or of `channel.without_namespace`. All default to off / zero.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChannelOptionsConfig {
    /// Keep presence (needed for presence calls).
    pub presence: bool,
    /// Emit join/leave messages.
    pub join_leave: bool,
    /// Push join/leave to every subscriber, not only to those who asked.
    pub force_push_join_leave: bool,
    /// Publications kept in the history stream; needs `history_ttl` too.
    pub history_size: usize,
    /// History lifetime after the last publication, whole seconds; needs `history_size` too.
    pub history_ttl: GoDuration,
    /// Position meta lifetime, whole seconds; `0` uses `channel.history_meta_ttl`.
    pub history_meta_ttl: GoDuration,
    /// Every subscription is positioned.
    pub force_positioning: bool,
    /// Clients may ask for positioning.
    pub allow_positioning: bool,
    /// Every subscription is recoverable (needs history).
    pub force_recovery: bool,
    /// Clients may ask for recovery.
    pub allow_recovery: bool,
    /// Authenticated users subscribe without a token.
    pub allow_subscribe_for_client: bool,
    /// Anonymous users subscribe without a token (with `allow_subscribe_for_client`).
    pub allow_subscribe_for_anonymous: bool,
    /// Subscribers may publish.
    pub allow_publish_for_subscriber: bool,
    /// Any authenticated connection may publish.
    pub allow_publish_for_client: bool,
    /// Anonymous connections may publish too.
    pub allow_publish_for_anonymous: bool,
    /// Subscribers may call presence.
    pub allow_presence_for_subscriber: bool,
    /// Any authenticated connection may call presence.
    pub allow_presence_for_client: bool,
    /// Anonymous connections may call presence too.
    pub allow_presence_for_anonymous: bool,
    /// Subscribers may call history.
    pub allow_history_for_subscriber: bool,
    /// Any authenticated connection may call history.
    pub allow_history_for_client: bool,
    /// Anonymous connections may call history too.
    pub allow_history_for_anonymous: bool,
    /// Users listed after `#` subscribe without a token.
    pub allow_user_limited_channels: bool,
    /// Regex for the part of the channel after the namespace; `""` for none.
    pub channel_regex: String,
    /// `""` (non-empty payloads), `json`, `json_object` or `binary`.
    pub publication_data_format: String,
    /// What a subscription to this namespace is (Centrifugo 6.8): `""` or `stream` (default,
    /// the only kind Herald implements), `map`, `map_clients`, `map_users` or `shared_poll`.
    /// Herald accepts the other values so that a Centrifugo file loads, reports them at
    /// start-up, and refuses subscriptions to such a namespace with Centrifugo's codes (see
    /// `herald_hub::SubscriptionType`).
    pub subscription_type: String,
    /// Delta formats subscribers may ask for: `[]` (default, none) or `["fossil"]`; any other
    /// name is a configuration error.
    pub allowed_delta_types: Vec<String>,
    /// Send every publication as a delta to subscribers that negotiated one, as if each
    /// publish set `delta`; default `false`.
    pub delta_publish: bool,
    /// Ask a subscribe proxy about subscriptions that come without a token. Default false.
    pub subscribe_proxy_enabled: bool,
    /// The subscribe proxy: `""` or `default` for `channel.proxy.subscribe`, else the name of a
    /// `proxies[]` entry.
    pub subscribe_proxy_name: String,
    /// Ask a publish proxy about client publications. Default false.
    pub publish_proxy_enabled: bool,
    /// The publish proxy: `""` or `default` for `channel.proxy.publish`, else a `proxies[]`
    /// name.
    pub publish_proxy_name: String,
    /// Ask a sub-refresh proxy to extend subscriptions whose expiry passed. Default false.
    pub sub_refresh_proxy_enabled: bool,
    /// The sub-refresh proxy: `""` or `default` for `channel.proxy.sub_refresh`, else a
    /// `proxies[]` name.
    pub sub_refresh_proxy_name: String,
    /// Open a stream of publications from the backend for each subscriber without a token
    /// (gRPC `SubscribeUnidirectional`). Default false.
    pub subscribe_stream_proxy_enabled: bool,
    /// The subscribe stream proxy: `""` or `default` for `channel.proxy.subscribe_stream`,
    /// else a `proxies[]` name; its endpoint must be `grpc://`.
    pub subscribe_stream_proxy_name: String,
}

/// `http_api.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpApiConfig {
    /// Turn the HTTP API off.
    pub disabled: bool,
    /// API key. Empty (default): every request gets 401 unless `insecure`.
    pub key: String,
    /// Accept requests without a key. Only behind a firewall.
    pub insecure: bool,
    /// Path prefix of the API. Default `/api`.
    pub handler_prefix: String,
    /// `""` (errors as HTTP 200 with an `error` object) or `transport` (HTTP status codes).
    pub error_mode: String,
    /// Requests per second with the key (Herald's; one token bucket holding a second's worth,
    /// a batch counts once), past it HTTP 429. `0` (default): no limit. See docs/limits.md.
    pub rate_limit: u32,
}

impl Default for HttpApiConfig {
    fn default() -> Self {
        Self {
            disabled: false,
            key: String::new(),
            insecure: false,
            handler_prefix: "/api".to_owned(),
            error_mode: String::new(),
            rate_limit: 0,
        }
    }
}

/// `websocket.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebSocketConfig {
    /// Turn the WebSocket endpoint off.
    pub disabled: bool,
    /// Path of the endpoint. Default `/connection/websocket`.
    pub handler_prefix: String,
    /// Largest incoming message, bytes; over it the socket closes with 1009. Default 65536.
    pub message_size_limit: usize,
    /// Longest a write may take before disconnect 3009. Default `1s` (`0` means the default).
    pub write_timeout: GoDuration,
    /// Negotiate permessage-deflate (RFC 7692) with clients that offer it, without context
    /// takeover in either direction. Costs CPU, not memory per connection. Default `false`.
    pub compression: bool,
    /// Outgoing messages smaller than this many bytes go out uncompressed. Default `0` (every
    /// message is compressed, unless deflate would not make it smaller), as in Centrifugo.
    pub compression_min_size: usize,
    /// zlib compression level of outgoing messages, 0 (stored) to 9 (smallest); -1 is zlib's
    /// default, 6. Default `1` (fastest), as in Centrifugo.
    pub compression_level: i64,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            disabled: false,
            handler_prefix: "/connection/websocket".to_owned(),
            message_size_limit: 65_536,
            write_timeout: GoDuration::from_secs(1),
            compression: false,
            compression_min_size: 0,
            compression_level: 1,
        }
    }
}

/// `health.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthConfig {
    /// Serve `200 {}` on `handler_prefix`. Herald's default is `true` (Centrifugo's is `false`):
    /// Herald promises a health endpoint out of the box, and it answers nothing secret.
    pub enabled: bool,
    /// Path of the endpoint. Default `/health`. It answers 503 while the broker cannot reach
    /// its backend (Herald's addition).
    pub handler_prefix: String,
    /// Path of the readiness endpoint (Herald's, not in Centrifugo), served with `enabled`:
    /// `200 {}`, or `503 {"error": reason}` while the node cannot do its job (shutting down,
    /// broker or presence backend unreachable, or the end-to-end broker probe failing).
    /// Default `/ready`; must differ from `handler_prefix`.
    pub readiness_handler_prefix: String,
    /// How often the node publishes a probe through the broker to itself (whether or not the
    /// endpoints are enabled: a probe that does not come back also makes the broker re-establish
    /// its link). Default `3s`; `0s` turns the probe off.
    pub probe_interval: GoDuration,
    /// How long a probe may take to come back before the node counts as not ready. Default
    /// `3s`; must be positive while the probe is on.
    pub probe_timeout: GoDuration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            handler_prefix: "/health".to_owned(),
            readiness_handler_prefix: "/ready".to_owned(),
            probe_interval: GoDuration::from_secs(3),
            probe_timeout: GoDuration::from_secs(3),
        }
    }
}

/// `shutdown.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShutdownConfig {
    /// Hard exit this long after a shutdown signal. Default `30s`.
    pub timeout: GoDuration,
    /// Herald's, not in Centrifugo: close clients (with 3001, which SDKs reconnect on) in
    /// batches spread over this period rather than all at once, so a restarted node's clients
    /// do not all land on the other nodes in the same second. New connections are refused and
    /// the readiness endpoint fails from the signal on. Default `0s`: all at once. Must be less
    /// than `timeout`.
    pub drain_period: GoDuration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            timeout: GoDuration::from_secs(30),
            drain_period: GoDuration::ZERO,
        }
    }
}
