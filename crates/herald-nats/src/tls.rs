//! TLS to NATS ([`NatsTls`]), as a rustls configuration handed to async-nats (ring provider).

use std::sync::Arc;

use async_nats::rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// TLS to the NATS servers (Centrifugo's `broker.nats.tls`).
#[derive(Clone, PartialEq, Eq)]
pub struct NatsTls {
    /// CA certificates (PEM) the server's certificate must chain to.
    pub server_ca_pem: Vec<u8>,
    /// Client certificate chain and private key (PEM), for a server that requires one.
    pub client_cert_pem: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for NatsTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs.
        f.debug_struct("NatsTls")
            .field("client_cert_pem", &self.client_cert_pem.is_some())
            .finish_non_exhaustive()
    }
}

impl NatsTls {
    /// The rustls client configuration; an error says which part is wrong.
    pub(crate) fn client_config(&self) -> Result<rustls::ClientConfig, String> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&self.server_ca_pem) {
            let cert = cert.map_err(|e| format!("server CA: {e}"))?;
            roots.add(cert).map_err(|e| format!("server CA: {e}"))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
        match &self.client_cert_pem {
            Some((cert, key)) => {
                let chain = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("client certificate: {e}"))?;
                let key =
                    PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("client key: {e}"))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("client certificate: {e}"))
            }
            None => Ok(builder.with_no_client_auth()),
        }
    }
}
