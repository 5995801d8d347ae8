//! Validation of `engine.redis.tls` (and `broker.redis.tls`, `presence_manager.redis.tls`)
//! and of `broker.nats.tls`: the same client-side keys.

use super::super::grpc::TlsConfig;
use super::{Checker, grpc};

/// The TLS options of a Redis backend, when enabled and loadable.
pub(super) fn settings(
    raw: &TlsConfig,
    section: &str,
    c: &mut Checker,
) -> Option<herald_redis::RedisTls> {
    if !raw.enabled {
        return None;
    }
    if raw.insecure_skip_verify {
        c.fail(
            format!("{section}.insecure_skip_verify"),
            "not supported: give the server's CA in server_ca_pem instead",
        );
    }
    if !raw.server_name.is_empty() {
        c.fail(
            format!("{section}.server_name"),
            "not supported: the certificate is checked against the address's host",
        );
    }
    let pem = |c: &mut Checker, name: &str, value: &str| {
        (!value.is_empty())
            .then(|| grpc::pem(c, &format!("{section}.{name}"), value))
            .flatten()
    };
    let server_ca_pem = pem(c, "server_ca_pem", &raw.server_ca_pem);
    let cert = pem(c, "cert_pem", &raw.cert_pem);
    let key = pem(c, "key_pem", &raw.key_pem);
    if cert.is_some() != key.is_some() {
        c.fail(
            format!("{section}.cert_pem"),
            "a client certificate needs both cert_pem and key_pem",
        );
    }
    Some(herald_redis::RedisTls {
        server_ca_pem,
        client_cert_pem: cert.zip(key),
    })
}

/// The TLS options of the NATS broker, when enabled and loadable (`server_ca_pem` required).
pub(super) fn nats(
    raw: &TlsConfig,
    section: &str,
    c: &mut Checker,
) -> Option<herald_nats::NatsTls> {
    if raw.enabled && raw.server_ca_pem.is_empty() {
        c.fail(
            format!("{section}.server_ca_pem"),
            "required when TLS is enabled",
        );
        return None;
    }
    let tls = settings(raw, section, c)?;
    Some(herald_nats::NatsTls {
        server_ca_pem: tls.server_ca_pem?,
        client_cert_pem: tls.client_cert_pem,
    })
}
