//! `http_server.tls`: HTTPS and WSS on the main port, with Centrifugo v6's keys (the `tls`
//! section every listener shares, [`super::TlsConfig`]).
//!
//! `cert_pem` and `key_pem` take PEM text, base64 of PEM text, or a file path, as in
//! Centrifugo. When both are file paths, Herald watches them (size and modification time,
//! every second) and serves new connections with the new pair as
//! soon as both files hold a matching certificate and key; a pair that does not load is
//! logged as an error and the previous one stays. Centrifugo reads them once at start-up.
//! `client_ca_pem` (mutual TLS) is not supported on this listener yet: a configuration error.
//! The listener offers HTTP/1.1 only over TLS (ALPN); `h2c_external` stays cleartext-only.

use std::path::PathBuf;

use super::grpc::TlsSettings;

/// `http_server.tls`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTlsSettings {
    /// The certificate chain and key as loaded at start-up.
    pub pem: TlsSettings,
    /// The certificate and key files to watch, when both values are file paths.
    pub files: Option<(PathBuf, PathBuf)>,
}
