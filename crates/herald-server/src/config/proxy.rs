//! Proxy sections as written (`proxies[]`, `client.proxy.*`, `channel.proxy.*`, `rpc.*`).
//!
//! Validation (`super::validate::proxies`) resolves the names namespaces use and builds one
//! `herald_hub::Proxy` per distinct section (`crate::proxy`). Keys Herald does not implement
//! (`http.tls`, `grpc.tls`, `grpc.compression`, the subscribe-stream, map and shared-poll
//! sections, `rpc.ping`) are not modelled: the loader reports them once per feature
//! (`super::unimplemented`).

use std::collections::BTreeMap;

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
    /// `http.*`: settings used when `endpoint` is `http://` or `https://`.
    pub http: HttpProxyConfig,
    /// `grpc.*`: settings used when `endpoint` is `grpc://`.
    pub grpc: GrpcProxyConfig,
}

/// `<proxy>.http.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpProxyConfig {
    /// Headers added to every request; forwarded client headers of the same name replace
    /// them. Default none.
    pub static_headers: BTreeMap<String, String>,
    /// Backend HTTP statuses (other than 200) answered as a client error or a disconnect
    /// instead of error 100. Default none.
    pub status_to_code_transforms: Vec<StatusTransformConfig>,
}

/// One entry of `http.status_to_code_transforms`: exactly one of `to_error` and
/// `to_disconnect` has a non-zero code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusTransformConfig {
    /// The backend's HTTP status.
    pub status_code: i64,
    /// The error the client gets.
    pub to_error: TransformErrorConfig,
    /// The disconnect the client gets.
    pub to_disconnect: TransformDisconnectConfig,
}

/// `to_error` of a status transform.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransformErrorConfig {
    /// Protocol error code; 0 means "not this one".
    pub code: u32,
    /// Message for the client: ASCII, at most 123 bytes.
    pub message: String,
    /// Whether the SDK may retry.
    pub temporary: bool,
}

/// `to_disconnect` of a status transform.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransformDisconnectConfig {
    /// Disconnect code (3000-4999); 0 means "not this one".
    pub code: u32,
    /// Reason for the client: ASCII, at most 123 bytes.
    pub reason: String,
}

/// `<proxy>.grpc.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GrpcProxyConfig {
    /// Metadata key of a per-call credential (sent as `key: value` with every call). Default
    /// none.
    pub credentials_key: String,
    /// Value of the credential.
    pub credentials_value: String,
    /// Metadata added to every call; forwarded client headers of the same name replace it.
    /// Default none.
    pub static_metadata: BTreeMap<String, String>,
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
            http: HttpProxyConfig::default(),
            grpc: GrpcProxyConfig::default(),
        }
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

/// `rpc.*`: which proxy answers a client's RPC. `rpc.ping` is not implemented.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RpcConfig {
    /// The RPC proxy RPC namespaces refer to by the name `default`.
    pub proxy: ProxyConfig,
    /// Methods without a namespace.
    pub without_namespace: RpcOptionsConfig,
    /// RPC namespaces: a method `ns:name` belongs to namespace `ns`. Default none.
    pub namespaces: Vec<RpcNamespaceConfig>,
    /// Separates the namespace from the method name. Default `:`.
    pub namespace_boundary: String,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            proxy: ProxyConfig::default(),
            without_namespace: RpcOptionsConfig::default(),
            namespaces: Vec::new(),
            namespace_boundary: ":".to_owned(),
        }
    }
}

/// Options of an RPC namespace or of `rpc.without_namespace`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RpcOptionsConfig {
    /// Send the methods to a proxy; without one a call gets 108. Default false.
    pub proxy_enabled: bool,
    /// `""` or `default` for `rpc.proxy`, else the name of a `proxies[]` entry.
    pub proxy_name: String,
}

/// One entry of `rpc.namespaces`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RpcNamespaceConfig {
    /// Unique name matching `^[-a-zA-Z0-9_.]{2,}$`.
    pub name: String,
    /// Send the namespace's methods to a proxy. Default false.
    pub proxy_enabled: bool,
    /// `""` or `default` for `rpc.proxy`, else the name of a `proxies[]` entry.
    pub proxy_name: String,
}
