//! TLS to Redis ([`RedisTls`]): one setup shared by the command connections (the `redis`
//! crate's rustls support) and the PUB/SUB connection Herald drives itself (tokio-rustls), so
//! both trust the same roots and present the same client certificate.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// TLS to every Redis address (Centrifugo's `engine.redis.tls`).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisTls {
    /// CA certificates (PEM) the server's certificate must chain to; `None`: the platform's
    /// roots.
    pub server_ca_pem: Option<Vec<u8>>,
    /// Client certificate chain and private key (PEM), for a server that requires one.
    pub client_cert_pem: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for RedisTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs.
        f.debug_struct("RedisTls")
            .field("server_ca_pem", &self.server_ca_pem.is_some())
            .field("client_cert_pem", &self.client_cert_pem.is_some())
            .finish()
    }
}

/// [`RedisTls`] made ready to connect with.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    pub(crate) certs: redis::TlsCertificates,
    connector: TlsConnector,
}

impl TlsSetup {
    /// Parses the PEM material; an error says which part is wrong.
    pub(crate) fn new(tls: &RedisTls) -> Result<Self, String> {
        // The `redis` crate builds its rustls configurations with the process default provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut roots = rustls::RootCertStore::empty();
        match &tls.server_ca_pem {
            Some(pem) => {
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| format!("server CA: {e}"))?;
                    roots.add(cert).map_err(|e| format!("server CA: {e}"))?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    // A platform root rustls cannot use is skipped, as every client does.
                    let _ = roots.add(cert);
                }
            }
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
        let config = match &tls.client_cert_pem {
            Some((cert, key)) => {
                let chain = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("client certificate: {e}"))?;
                let key =
                    PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("client key: {e}"))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("client certificate: {e}"))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Self {
            certs: redis::TlsCertificates {
                client_tls: tls.client_cert_pem.as_ref().map(|(cert, key)| {
                    redis::ClientTlsConfig {
                        client_cert: cert.clone(),
                        client_key: key.clone(),
                    }
                }),
                root_cert: tls.server_ca_pem.clone(),
            },
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// TLS over `stream` to `host` (a name or an IP address, checked against the certificate).
    pub(crate) async fn connect(
        &self,
        host: &str,
        stream: TcpStream,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        self.connector.connect(name, stream).await
    }
}
