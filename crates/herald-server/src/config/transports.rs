//! The configuration of the transports other than WebSocket, as written (`http_stream.*`,
//! `sse.*`, `emulation.*`, `uni_websocket.*`, `uni_sse.*`, `uni_http_stream.*`, with
//! Centrifugo v6's names and defaults) and as validated.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

/// Centrifugo's bound on connect and emulation request bodies.
pub(super) const DEFAULT_BODY_LIMIT: usize = 65_536;

/// An HTTP streaming endpoint: `http_stream.*` and `sse.*` (the bidirectional emulation
/// transports, the SDK's fallbacks when WebSocket is blocked), `uni_http_stream.*` and
/// `uni_sse.*`. Off by default, as in Centrifugo.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamConfig {
    /// Serve the endpoint. Default false.
    pub enabled: bool,
    /// Path of the endpoint; empty means the default: `/connection/http_stream`,
    /// `/connection/sse`, `/connection/uni_http_stream` or `/connection/uni_sse`.
    pub handler_prefix: String,
    /// Largest connect request body, bytes; over it: 413. `0` means the default, 65536.
    pub max_request_body_size: usize,
}

impl StreamConfig {
    /// The defaults of the endpoint at `path`, written out (for the generated config file).
    fn at(path: &str) -> Self {
        Self {
            enabled: false,
            handler_prefix: path.to_owned(),
            max_request_body_size: DEFAULT_BODY_LIMIT,
        }
    }

    /// `http_stream.*` defaults.
    pub fn http_stream() -> Self {
        Self::at("/connection/http_stream")
    }

    /// `sse.*` defaults.
    pub fn sse() -> Self {
        Self::at("/connection/sse")
    }

    /// `uni_http_stream.*` defaults.
    pub fn uni_http_stream() -> Self {
        Self::at("/connection/uni_http_stream")
    }

    /// `uni_sse.*` defaults.
    pub fn uni_sse() -> Self {
        Self::at("/connection/uni_sse")
    }
}

/// `http_stream.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HttpStreamConfig(pub StreamConfig);

impl Default for HttpStreamConfig {
    fn default() -> Self {
        Self(StreamConfig::http_stream())
    }
}

/// `sse.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SseConfig(pub StreamConfig);

impl Default for SseConfig {
    fn default() -> Self {
        Self(StreamConfig::sse())
    }
}

/// `uni_http_stream.*`: a POST whose body is a connect request, answered with a stream of
/// newline-separated JSON pushes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UniHttpStreamConfig(pub StreamConfig);

impl Default for UniHttpStreamConfig {
    fn default() -> Self {
        Self(StreamConfig::uni_http_stream())
    }
}

/// `uni_sse.*`: an `EventSource` (GET with `?cf_connect=<connect request JSON>`, or a POST with
/// it as the body) answered with one event per push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UniSseConfig(pub StreamConfig);

impl Default for UniSseConfig {
    fn default() -> Self {
        Self(StreamConfig::uni_sse())
    }
}

/// `emulation.*`: where emulated clients POST their commands. Served whenever `http_stream` or
/// `sse` is enabled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmulationConfig {
    /// Path of the endpoint. Default `/emulation`.
    pub handler_prefix: String,
    /// Largest request body, bytes; over it: 413. `0` means the default, 65536.
    pub max_request_body_size: usize,
}

impl Default for EmulationConfig {
    fn default() -> Self {
        Self {
            handler_prefix: "/emulation".to_owned(),
            max_request_body_size: DEFAULT_BODY_LIMIT,
        }
    }
}

/// `uni_websocket.*`: a WebSocket on which the client sends only its connect request (the first
/// message, or `?cf_connect=`) and receives bare JSON pushes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UniWebSocketConfig {
    /// Serve the endpoint. Default false.
    pub enabled: bool,
    /// Path of the endpoint. Default `/connection/uni_websocket`.
    pub handler_prefix: String,
    /// Largest incoming message (the connect request), bytes; over it: 1009. `0` means the
    /// default, 65536.
    pub message_size_limit: usize,
    /// Longest a write may take before disconnect 3009. Default `1s` (`0` means the default).
    pub write_timeout: GoDuration,
    /// Several pushes queued together leave as one frame, newline-separated. Default false:
    /// one push per frame, which a client without the SDK can parse as it is.
    pub join_push_messages: bool,
    /// Do not send the `disconnect` push before the close frame. Default false.
    pub disable_disconnect_push: bool,
    /// Offer permessage-deflate to clients that ask for it, as `websocket.compression` does.
    /// Default false.
    pub compression: bool,
    /// Pushes smaller than this many bytes go out uncompressed. Default 0.
    pub compression_min_size: usize,
    /// zlib level, 0 to 9 (or -1, zlib's default: 6). Default 1.
    pub compression_level: i64,
}

impl Default for UniWebSocketConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            handler_prefix: "/connection/uni_websocket".to_owned(),
            message_size_limit: 65_536,
            write_timeout: GoDuration::from_secs(1),
            join_push_messages: false,
            disable_disconnect_push: false,
            compression: false,
            compression_min_size: 0,
            compression_level: 1,
        }
    }
}

/// A validated streaming endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSettings {
    /// Serve it.
    pub enabled: bool,
    /// Path, starting with `/`, without trailing slash.
    pub handler_prefix: String,
    /// Largest request body in bytes.
    pub max_request_body_size: usize,
}

/// `uni_websocket.*`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniWebSocketSettings {
    /// Serve it.
    pub enabled: bool,
    /// Path, starting with `/`, without trailing slash.
    pub handler_prefix: String,
    /// Largest incoming message in bytes.
    pub message_size_limit: usize,
    /// Longest a write may take (3009 after).
    pub write_timeout: Duration,
    /// Join queued pushes into one frame.
    pub join_push_messages: bool,
    /// No `disconnect` push before the close frame.
    pub disable_disconnect_push: bool,
    /// permessage-deflate; `None` when `uni_websocket.compression` is off.
    pub compression: Option<super::CompressionSettings>,
}

/// Every transport besides the bidirectional WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportSettings {
    /// `http_stream.*`.
    pub http_stream: StreamSettings,
    /// `sse.*`.
    pub sse: StreamSettings,
    /// `emulation.*` (`enabled` when `http_stream` or `sse` is).
    pub emulation: StreamSettings,
    /// `uni_websocket.*`.
    pub uni_websocket: UniWebSocketSettings,
    /// `uni_sse.*`.
    pub uni_sse: StreamSettings,
    /// `uni_http_stream.*`.
    pub uni_http_stream: StreamSettings,
}
