//! TLS for the main HTTP listener (`http_server.tls`): rustls on ring, and a certificate
//! resolver whose pair can be swapped while the server runs.
//!
//! Every handshake asks [`Reloading`] for the current pair (an `Arc` clone under a lock held
//! for no longer). When the configuration named files, a task started by [`acceptor`] looks at
//! their size and modification time every [`RELOAD_CHECK_INTERVAL`] and, when either changed,
//! loads both; a pair that does not load (unreadable, not PEM, key not matching the
//! certificate: say, the certificate was replaced and the key not yet) is logged as an error
//! and the previous pair stays until a later check finds a good one. Open connections keep
//! the certificate they started with.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::HttpTlsSettings;

/// How often the certificate and key files are checked for changes.
const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The acceptor for `settings`; with files, also starts the task that reloads them (until
/// `stopping` fires). Fails when the configured pair does not load.
pub(crate) fn acceptor(
    settings: &HttpTlsSettings,
    stopping: CancellationToken,
) -> anyhow::Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let first = certified_key(&settings.pem.cert_pem, &settings.pem.key_pem, &provider)
        .map_err(|err| anyhow::anyhow!("http_server.tls: {err}"))?;
    let resolver = Arc::new(Reloading {
        current: Mutex::new(Arc::new(first)),
    });
    if let Some((cert, key)) = &settings.files {
        tokio::spawn(watch(
            resolver.clone(),
            cert.clone(),
            key.clone(),
            provider.clone(),
            stopping,
        ));
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    // HTTP/1.1 only: the WebSocket upgrade needs it, and HTTP/2 over TLS is not served.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The pair handshakes get; swapped by the reload task.
#[derive(Debug)]
struct Reloading {
    /// Locked only to clone or replace the `Arc`; nothing awaits under it.
    current: Mutex<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(herald_engine::lock(&self.current).clone())
    }
}

/// What identifies a file's version without reading it.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &PathBuf) -> Stamp {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

async fn watch(
    resolver: Arc<Reloading>,
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    stopping: CancellationToken,
) {
    let mut seen = (stamp(&cert), stamp(&key));
    let mut interval = tokio::time::interval(RELOAD_CHECK_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stopping.cancelled() => return,
            _ = interval.tick() => {}
        }
        let now = (stamp(&cert), stamp(&key));
        if now == seen {
            continue;
        }
        seen = now;
        let loaded = std::fs::read(&cert)
            .and_then(|c| std::fs::read(&key).map(|k| (c, k)))
            .map_err(|err| err.to_string())
            .and_then(|(c, k)| certified_key(&c, &k, &provider));
        match loaded {
            Ok(pair) => {
                *herald_engine::lock(&resolver.current) = Arc::new(pair);
                tracing::info!(cert = %cert.display(), "http_server.tls: certificate reloaded");
            }
            Err(err) => {
                tracing::error!(cert = %cert.display(), key = %key.display(), error = %err,
                    "http_server.tls: new certificate or key not loaded; the previous pair stays");
            }
        }
    }
}

/// A certificate chain and its private key from PEM, checked to belong together.
fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("certificate: {err}"))?;
    if chain.is_empty() {
        return Err("certificate: no CERTIFICATE block".to_owned());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|err| format!("key: {err}"))?;
    CertifiedKey::from_der(chain, key, provider)
        .map_err(|err| format!("key and certificate: {err}"))
}
