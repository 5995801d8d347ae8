//! Validation of `http_server.tls` ([`super::super::http_tls`]).

use std::path::Path;

use super::super::http_tls::HttpTlsSettings;
use super::super::raw::Config;
use super::{Checker, grpc};

impl Config {
    pub(super) fn http_tls_settings(&self, c: &mut Checker) -> Option<HttpTlsSettings> {
        let raw = &self.http_server.tls;
        if raw.enabled && !raw.client_ca_pem.is_empty() {
            c.fail(
                "http_server.tls.client_ca_pem",
                "client certificates (mutual TLS) are not supported on the HTTP server yet",
            );
        }
        let pem = grpc::tls(c, "http_server.tls", raw)?;
        let file = |value: &str| {
            (!value.contains("-----BEGIN") && Path::new(value).is_file())
                .then(|| Path::new(value).to_path_buf())
        };
        let files = file(&raw.cert_pem).zip(file(&raw.key_pem));
        Some(HttpTlsSettings { pem, files })
    }
}
