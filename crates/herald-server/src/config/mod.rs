//! Configuration: Centrifugo v6's file format (JSON, YAML or TOML, nested keys) plus
//! `HERALD_*` / `CENTRIFUGO_*` environment overrides, read into raw structs and validated once at
//! start-up into hub options and server settings.
//!
//! How `main` starts a server:
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use herald_server::{config, jwt::JwtVerifier};
//! let loaded = config::load(Some(std::path::Path::new("config.json")), config::process_env())?;
//! let validated = loaded.config.validate()?; // hub NodeOptions + ServerSettings + TokenSettings
//! let verifier = JwtVerifier::from_config(&validated.tokens)?;
//! # for warning in loaded.warnings() { eprintln!("{warning}"); }
//! # Ok(()) }
//! ```
//!
//! `loaded.warnings()` lists unknown keys and variables (log them; `herald checkconfig` fails on
//! them). `loaded.notes()` names, one line per feature, the Centrifugo features the file uses
//! that Herald does not implement yet (map and shared-poll subscriptions, subscribe stream proxies, ...; see
//! [`Unimplemented`]): logged by `herald serve`, printed but not fatal in `herald checkconfig`. [`load_all`] also returns when values have the wrong type, listing them in
//! [`Loaded::errors`], so `herald checkconfig` can validate the rest and report everything. Command-line overrides (`--port`, `--address`) edit `loaded.config` before `validate`;
//! [`crate::cli::load_serve_config`] does all of this for `herald serve`.
//!
//! Layout: raw structs as written ([`Config`]) -> [`load`] (file, environment, unknown keys) ->
//! [`Config::validate`] -> [`Validated`]. Supported keys, their defaults and Herald's deviations
//! from Centrifugo are documented on the raw structs.

mod admin;
mod duration;
mod env;
mod error;
mod generate;
mod grpc;
mod http_tls;
mod limits;
mod load;
mod opentelemetry;
mod origin;
mod prometheus;
mod proxy;
mod pusher;
mod raw;
mod settings;
mod transports;
mod unimplemented;
mod validate;
mod webhooks;

pub use admin::{AdminConfig, AdminSettings};
pub use duration::GoDuration;
pub use error::ConfigError;
pub use generate::{default_config_file, default_config_file_in};
pub use grpc::{
    GrpcApiConfig, GrpcApiSettings, TlsConfig, TlsSettings, UniGrpcConfig, UniGrpcSettings,
};
pub use http_tls::HttpTlsSettings;
pub use limits::{
    BucketConfig, BucketsConfig, ClientCommandRateLimitConfig, ClientRateLimitConfig,
};
pub use load::{Format, Loaded, load, load_all, load_str, process_env};
pub use opentelemetry::{OpenTelemetryConfig, OpenTelemetrySettings};
pub use origin::OriginPolicy;
pub use prometheus::{PrometheusConfig, PrometheusSettings};
pub use proxy::{
    ChannelProxyConfig, ClientProxyConfig, GrpcProxyConfig, HttpProxyConfig, ProxyConfig,
    RpcConfig, RpcNamespaceConfig, RpcOptionsConfig, StatusTransformConfig,
    TransformDisconnectConfig, TransformErrorConfig,
};
pub use pusher::{
    PUSHER_WEBHOOK_EVENTS, PusherApp, PusherAppConfig, PusherConfig, PusherSettings, PusherWebhook,
    PusherWebhookConfig,
};
pub use raw::{
    BrokerConfig, ChannelConfig, ChannelOptionsConfig, ClientConfig, Config, EngineConfig,
    HealthConfig, HttpApiConfig, HttpServerConfig, LogConfig, NamespaceConfig, NatsBrokerConfig,
    NodeConfig, PersonalChannelConfig, PresenceManagerConfig, RedisEngineConfig, ShutdownConfig,
    SubscriptionTokenConfig, TokenConfig, WebSocketConfig,
};
pub use settings::{
    ApiErrorMode, BackendSettings, ClaimMatch, CompressionSettings, EngineSettings, HealthSettings,
    HttpApiSettings, LogLevel, ServerSettings, TokenKeys, TokenSettings, Validated,
    WebSocketSettings,
};
pub use transports::{
    EmulationConfig, HttpStreamConfig, SseConfig, StreamConfig, StreamSettings, TransportSettings,
    UniHttpStreamConfig, UniSseConfig, UniWebSocketConfig, UniWebSocketSettings,
};
pub use unimplemented::{Feature, Unimplemented};
pub use webhooks::{WebhookEndpoint, WebhookEndpointConfig, WebhookSettings, WebhooksConfig};
