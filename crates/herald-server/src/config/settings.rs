//! The validated configuration: hub options plus what only the server binary needs.

use std::time::Duration;

use herald_hub::NodeOptions;
use regex::Regex;

use super::origin::OriginPolicy;

/// Result of [`super::Config::validate`]: everything checked and converted.
#[derive(Debug, Clone)]
pub struct Validated {
    /// Options for the hub.
    pub node: NodeOptions,
    /// Listener, endpoints, API auth, logging, shutdown.
    pub server: ServerSettings,
    /// Input for [`crate::jwt::JwtVerifier::from_config`].
    pub tokens: TokenSettings,
    /// Which engine keeps channels, history and presence.
    pub engine: EngineSettings,
    /// Lifecycle webhooks, when enabled.
    pub webhooks: Option<super::webhooks::WebhookSettings>,
}

/// `engine.*`, `broker.*` and `presence_manager.*`, validated.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Who moves publications and keeps history.
    pub broker: BackendSettings,
    /// Who keeps presence.
    pub presence: BackendSettings,
}

/// One backend.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendSettings {
    /// The embedded single-node engine.
    Memory,
    /// Redis, shared by every node.
    Redis(herald_redis::RedisOptions),
    /// NATS (brokers only): at-most-once delivery, no history.
    Nats(herald_nats::NatsOptions),
}
/// Server-only settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Interface to bind; `""` means all interfaces.
    pub address: String,
    /// Serve HTTP/2 with prior knowledge beside HTTP/1 (`http_server.h2c_external`).
    pub h2c: bool,
    /// `http_server.tls`, when enabled.
    pub tls: Option<super::http_tls::HttpTlsSettings>,
    /// Port to bind.
    pub port: u16,
    /// Log verbosity.
    pub log_level: LogLevel,
    /// Compiled `client.allowed_origins`.
    pub origins: OriginPolicy,
    /// The server HTTP API.
    pub http_api: HttpApiSettings,
    /// The WebSocket endpoint.
    pub websocket: WebSocketSettings,
    /// The health endpoint.
    pub health: HealthSettings,
    /// `prometheus.*`.
    pub prometheus: super::prometheus::PrometheusSettings,
    /// `opentelemetry.*`.
    pub opentelemetry: super::opentelemetry::OpenTelemetrySettings,
    /// `pusher.*`.
    pub pusher: super::pusher::PusherSettings,
    /// HTTP-streaming, SSE, emulation and the unidirectional transports.
    pub transports: super::transports::TransportSettings,
    /// `grpc_api.*`.
    pub grpc_api: super::grpc::GrpcApiSettings,
    /// `uni_grpc.*`.
    pub uni_grpc: super::grpc::UniGrpcSettings,
    /// `admin.*`.
    pub admin: super::admin::AdminSettings,
    /// Hard exit this long after a shutdown signal.
    pub shutdown_timeout: Duration,
    /// Clients are closed in batches over this period first (`shutdown.drain_period`); zero:
    /// all at once. Less than `shutdown_timeout`.
    pub drain_period: Duration,
    /// Commands processed concurrently per connection (`client.concurrency`); 0 is sequential.
    pub client_concurrency: usize,
}

impl ServerSettings {
    /// `host:port` to bind, with `""` as `0.0.0.0` and IPv6 literals bracketed.
    pub fn listen_address(&self) -> String {
        let host = if self.address.is_empty() {
            "0.0.0.0"
        } else {
            self.address.as_str()
        };
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// Whether a connection request with this `Origin` header (`None` when absent) is allowed.
    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        self.origins.allows(origin)
    }
}

/// `log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// No logs.
    None,
    /// Everything.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Warnings and errors.
    Warn,
    /// Errors only.
    Error,
}

impl LogLevel {
    /// The level as a `tracing_subscriber::EnvFilter` directive (`off` for none).
    pub fn as_filter(self) -> &'static str {
        match self {
            LogLevel::None => "off",
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// `http_api.*`.
#[derive(Debug, Clone)]
pub struct HttpApiSettings {
    /// The API is off.
    pub disabled: bool,
    /// Expected key; empty means every request is refused with 401 unless `insecure`.
    pub key: String,
    /// No key needed.
    pub insecure: bool,
    /// Path prefix without trailing slash; `""` mounts the methods at `/{method}`.
    pub handler_prefix: String,
    /// How errors are reported.
    pub error_mode: ApiErrorMode,
    /// Requests per second (`http_api.rate_limit`); 0: no limit.
    pub rate_limit: u32,
}

/// `http_api.error_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorMode {
    /// HTTP 200 with `{"error": {...}}` (unless the request asks for transport mode).
    Default,
    /// Errors as HTTP status codes.
    Transport,
}

/// `websocket.*`.
#[derive(Debug, Clone)]
pub struct WebSocketSettings {
    /// The endpoint is off.
    pub disabled: bool,
    /// Path of the endpoint, starting with `/`, without trailing slash.
    pub handler_prefix: String,
    /// Largest incoming message in bytes.
    pub message_size_limit: usize,
    /// Longest a write may take (3009 after).
    pub write_timeout: Duration,
    /// permessage-deflate settings; `None` when `websocket.compression` is off.
    pub compression: Option<CompressionSettings>,
}

/// `websocket.compression_*`, when `websocket.compression` is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressionSettings {
    /// Messages smaller than this go out uncompressed.
    pub min_size: usize,
    /// zlib level, 0-9.
    pub level: u8,
}

/// `health.*`.
#[derive(Debug, Clone)]
pub struct HealthSettings {
    /// Serve the endpoint.
    pub enabled: bool,
    /// Path of the endpoint, starting with `/`, without trailing slash.
    pub handler_prefix: String,
    /// Path of the readiness endpoint, likewise.
    pub readiness_handler_prefix: String,
}

/// Token verification settings, checked but with keys not yet parsed (the `jwt` module parses
/// them once, at start-up).
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `client.token`.
    pub connect: TokenKeys,
    /// `client.subscription_token` when enabled; `None` verifies subscription tokens with
    /// `connect`.
    pub subscription: Option<TokenKeys>,
    /// `client.insecure_skip_token_signature_verify`.
    pub skip_signature_verify: bool,
}

/// Keys and claim checks of one verifier.
#[derive(Debug, Clone)]
pub struct TokenKeys {
    /// Where these came from (`client.token` or `client.subscription_token`), for errors.
    pub section: &'static str,
    /// HMAC secret; empty disables HS*.
    pub hmac_secret_key: String,
    /// Previous HMAC secret and the Unix time until which it is accepted (`None`: no limit).
    pub hmac_previous: Option<(String, Option<i64>)>,
    /// RSA public key PEM; empty disables RS*.
    pub rsa_public_key: String,
    /// ECDSA public key PEM; empty disables ES*.
    pub ecdsa_public_key: String,
    /// JWKS endpoint (http or https URL); when set, the only source of keys.
    pub jwks_public_endpoint: Option<String>,
    /// `aud` check.
    pub audience: Option<ClaimMatch>,
    /// `iss` check.
    pub issuer: Option<ClaimMatch>,
    /// Claim holding the user id instead of `sub`.
    pub user_id_claim: Option<String>,
}

/// How a string claim is checked.
#[derive(Debug, Clone)]
pub enum ClaimMatch {
    /// Equal to this value.
    Exact(String),
    /// Matched (unanchored, like Go's `FindStringSubmatch`) by this regex.
    Regex(Regex),
}

impl ClaimMatch {
    /// Whether `value` passes.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            ClaimMatch::Exact(expected) => value == expected,
            ClaimMatch::Regex(re) => re.is_match(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_match() {
        assert!(ClaimMatch::Exact("a".into()).matches("a"));
        assert!(!ClaimMatch::Exact("a".into()).matches("ab"));
        let re = ClaimMatch::Regex(Regex::new("^https://[a-z]+\\.example$").expect("regex"));
        assert!(re.matches("https://one.example"));
        assert!(!re.matches("https://one.example.evil"));
    }
}
