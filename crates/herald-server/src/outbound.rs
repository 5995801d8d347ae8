//! Outbound HTTP: the one client configuration that proxies, webhooks and JWKS fetches use to
//! reach the application's backend and key servers.
//!
//! `reqwest` over rustls with the ring provider (the aws-lc provider needs cmake to build);
//! HTTP/1.1 and HTTP/2, pooled connections, the platform's certificate roots. Each caller sets
//! its own per-request timeout.

use std::time::Duration;

/// How long an idle pooled connection to a backend is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Limit for establishing a TCP (and TLS) connection to a backend.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A new HTTP client for calls to the application's backend.
pub(crate) fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    install_crypto_provider();
    reqwest::Client::builder()
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// rustls needs one process-wide crypto provider; the first caller installs ring's. A second
/// install fails harmlessly (one is already there), so the result is ignored.
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_twice() {
        assert!(http_client().is_ok());
        assert!(http_client().is_ok());
    }
}
