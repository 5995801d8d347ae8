//! Proxy sections as written (`proxies[]`, `client.proxy.*`, `channel.proxy.*`, `rpc.proxy`).
//!
//! Herald does not call proxies yet: these keys are read so that a Centrifugo v6 file loads and
//! so that start-up can say which proxies are configured and ignored (`super::unimplemented`).
//! Only the keys common to every proxy are modelled; the transport-specific ones (`http.*`,
//! `grpc.*`) are reported under the same "proxies are not implemented" line instead of as
//! unknown keys.

use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

/// One proxy: an entry of `proxies[]` (named, referenced by namespaces) or one of the fixed
/// sections (`client.proxy.connect`, `channel.proxy.subscribe`, `rpc.proxy`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProxyConfig {
    /// Name of an entry of `proxies[]`, by which namespaces refer to it. Only read there.
    pub name: String,
    /// Turns the proxy on; only read in `client.proxy.connect` and `client.proxy.refresh`
    /// (channel and RPC proxies are turned on per namespace). Default false.
    pub enabled: bool,
    /// Backend URL (`http://...` or `grpc://...`). Default `""`.
    pub endpoint: String,
    /// Limit for one proxy request. Default `1s`.
    pub timeout: GoDuration,
    /// Transport-level headers of the client's HTTP request (set by the browser or a reverse
    /// proxy) forwarded to the backend. Since Centrifugo 6.9 this no longer includes headers the
    /// client sends through headers emulation: those are listed in `emulated_headers`. Default
    /// none.
    pub http_headers: Vec<String>,
    /// Headers the client sends through headers emulation (inside its connect command, so
    /// controlled by the client) forwarded to the backend (Centrifugo 6.9). A name in both lists
    /// prefers the transport header. Default none.
    pub emulated_headers: Vec<String>,
    /// Transport-level gRPC metadata keys forwarded to the backend. Default none.
    pub grpc_metadata: Vec<String>,
    /// Send publication data base64-encoded (for binary payloads). Default false.
    pub binary_encoding: bool,
    /// Add the connection's meta to every proxy request but connect. Default false.
    pub include_connection_meta: bool,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            enabled: false,
            endpoint: String::new(),
            timeout: GoDuration::from_secs(1),
            http_headers: Vec::new(),
            emulated_headers: Vec::new(),
            grpc_metadata: Vec::new(),
            binary_encoding: false,
            include_connection_meta: false,
        }
    }
}

impl ProxyConfig {
    /// Whether anything points this proxy at a backend.
    pub(super) fn is_configured(&self) -> bool {
        self.enabled || !self.endpoint.is_empty()
    }
}

/// `client.proxy.*`: proxies of connection-wide events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientProxyConfig {
    /// Connect proxy: decides connections that come without a token.
    pub connect: ProxyConfig,
    /// Refresh proxy: extends connections instead of a refreshed token.
    pub refresh: ProxyConfig,
}

/// `channel.proxy.*`: the proxies namespaces refer to by the name `default`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChannelProxyConfig {
    /// Subscribe proxy.
    pub subscribe: ProxyConfig,
    /// Publish proxy.
    pub publish: ProxyConfig,
    /// Subscription refresh proxy.
    pub sub_refresh: ProxyConfig,
    /// Subscribe stream proxy.
    pub subscribe_stream: ProxyConfig,
}

/// `rpc.*`: only the default RPC proxy is modelled; `rpc.namespaces` and the other RPC keys
/// are reported with the proxies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RpcConfig {
    /// The RPC proxy RPC namespaces refer to by the name `default`.
    pub proxy: ProxyConfig,
}
