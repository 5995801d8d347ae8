//! The gRPC listeners as written (`grpc_api.*`, `uni_grpc.*`, and the `tls` section both
//! share, with Centrifugo v6's names and defaults) and as validated.
//!
//! Both are off by default and listen on ports of their own (10000 and 11000), as in
//! Centrifugo. One difference: an empty `address` means `http_server.address` rather than all
//! interfaces, so a development server bound to 127.0.0.1 does not open its gRPC ports to the
//! network (with a configuration file `http_server.address` is `""` too, so the result is the
//! same as Centrifugo's there).

use serde::{Deserialize, Serialize};

/// `grpc_api.*`: Centrifugo's server API as the gRPC service
/// `centrifugal.centrifugo.api.CentrifugoApi`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GrpcApiConfig {
    /// Serve the gRPC API. Default false.
    pub enabled: bool,
    /// Interface to bind; `""` (default) is `http_server.address`.
    pub address: String,
    /// Port to bind, 1 to 65535. Default 10000.
    pub port: i64,
    /// When non-empty, every call must carry the metadata `authorization: apikey <key>`, else
    /// it fails with `UNAUTHENTICATED`. Default `""`: no check.
    pub key: String,
    /// `""` (default): a failed call answers OK with the response's `error` field set;
    /// `transport`: it fails with the gRPC status of its code (100 `INTERNAL`, 102 and 104
    /// `NOT_FOUND`, 107 and 108 `INVALID_ARGUMENT`, 112 `OUT_OF_RANGE`, 113 `ALREADY_EXISTS`).
    /// A call can ask for transport mode with the metadata `x-centrifugo-error-mode: transport`.
    pub error_mode: String,
    /// Largest request message, bytes. `0` (default) is gRPC's 4 MiB.
    pub max_receive_message_size: usize,
    /// gRPC server reflection. Not implemented: `true` is reported at start-up. Default false.
    pub reflection: bool,
    /// TLS for the listener.
    pub tls: TlsConfig,
    /// Calls per second with the key (Herald's; one token bucket holding a second's worth),
    /// past it `RESOURCE_EXHAUSTED`. `0` (default): no limit. See docs/limits.md.
    pub rate_limit: u32,
}

impl Default for GrpcApiConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            address: String::new(),
            port: 10_000,
            key: String::new(),
            error_mode: String::new(),
            max_receive_message_size: 0,
            reflection: false,
            tls: TlsConfig::default(),
            rate_limit: 0,
        }
    }
}

/// `uni_grpc.*`: the unidirectional gRPC transport, service
/// `centrifugal.centrifugo.unistream.CentrifugoUniStream`: a client calls `Consume` with a
/// connect request and receives a stream of Protobuf pushes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UniGrpcConfig {
    /// Serve the transport. Default false.
    pub enabled: bool,
    /// Interface to bind; `""` (default) is `http_server.address`.
    pub address: String,
    /// Port to bind, 1 to 65535. Default 11000.
    pub port: i64,
    /// Largest connect request, bytes. `0` (default) is gRPC's 4 MiB.
    pub max_receive_message_size: usize,
    /// TLS for the listener.
    pub tls: TlsConfig,
}

impl Default for UniGrpcConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            address: String::new(),
            port: 11_000,
            max_receive_message_size: 0,
            tls: TlsConfig::default(),
        }
    }
}

/// `tls.*` of a listener (Centrifugo's `TLSConfig`). A PEM value is, in the order Centrifugo
/// tries them: PEM text, base64-encoded PEM text, or the path of a PEM file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    /// Serve TLS. Default false.
    pub enabled: bool,
    /// The certificate chain (PEM). Required with `enabled`.
    pub cert_pem: String,
    /// The certificate's private key (PEM). Required with `enabled`.
    pub key_pem: String,
    /// CA certificates (PEM) that client certificates must chain to; setting it requires
    /// every client to present one (mutual TLS). Default none.
    pub client_ca_pem: String,
    /// Client-side option of Centrifugo's shared TLS section: no effect on a listener.
    pub server_ca_pem: String,
    /// Client-side option of Centrifugo's shared TLS section: no effect on a listener.
    pub insecure_skip_verify: bool,
    /// Client-side option of Centrifugo's shared TLS section: no effect on a listener.
    pub server_name: String,
}

/// `grpc_api.*`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcApiSettings {
    /// Serve it.
    pub enabled: bool,
    /// `host:port` to bind.
    pub listen_address: String,
    /// Expected `authorization` metadata is `apikey <key>`; empty: no check.
    pub key: String,
    /// Errors as gRPC statuses instead of the response's `error` field.
    pub transport_errors: bool,
    /// Calls per second (`grpc_api.rate_limit`); 0: no limit.
    pub rate_limit: u32,
    /// Largest request message in bytes.
    pub max_receive_message_size: usize,
    /// Certificate and key, when TLS is on.
    pub tls: Option<TlsSettings>,
}

/// `uni_grpc.*`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniGrpcSettings {
    /// Serve it.
    pub enabled: bool,
    /// `host:port` to bind.
    pub listen_address: String,
    /// Largest connect request in bytes.
    pub max_receive_message_size: usize,
    /// Certificate and key, when TLS is on.
    pub tls: Option<TlsSettings>,
}

/// A listener's TLS material, loaded and checked to hold PEM blocks.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Certificate chain, PEM.
    pub cert_pem: Vec<u8>,
    /// Private key, PEM.
    pub key_pem: Vec<u8>,
    /// CA certificates for client certificates (mutual TLS), PEM.
    pub client_ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key stays out of logs.
        f.debug_struct("TlsSettings")
            .field("cert_pem", &format_args!("{} bytes", self.cert_pem.len()))
            .field("key_pem", &"<set>")
            .field("mutual", &self.client_ca_pem.is_some())
            .finish()
    }
}

/// gRPC's default largest message (4 MiB), used when `max_receive_message_size` is 0.
pub(super) const DEFAULT_MAX_RECEIVE_MESSAGE_SIZE: usize = 4 * 1024 * 1024;
