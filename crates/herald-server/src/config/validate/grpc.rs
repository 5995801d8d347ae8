//! Validation of `grpc_api.*` and `uni_grpc.*`. A listener that is off is not checked, as
//! Centrifugo reads these sections only to start the listeners; one that is on must have a
//! port in range, a known error mode and, with TLS, a certificate and key that load.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::super::grpc::{
    DEFAULT_MAX_RECEIVE_MESSAGE_SIZE, GrpcApiSettings, TlsConfig, TlsSettings, UniGrpcSettings,
};
use super::super::raw::Config;
use super::{Checker, or_default};

impl Config {
    pub(super) fn grpc_api_settings(&self, c: &mut Checker) -> GrpcApiSettings {
        let raw = &self.grpc_api;
        if !raw.enabled {
            return GrpcApiSettings {
                enabled: false,
                listen_address: String::new(),
                key: String::new(),
                transport_errors: false,
                rate_limit: 0,
                max_receive_message_size: DEFAULT_MAX_RECEIVE_MESSAGE_SIZE,
                tls: None,
            };
        }
        let transport_errors = match raw.error_mode.as_str() {
            "" => false,
            "transport" => true,
            other => {
                c.fail(
                    "grpc_api.error_mode",
                    format!("unknown error mode {other:?} (use \"\" or \"transport\")"),
                );
                false
            }
        };
        GrpcApiSettings {
            enabled: true,
            listen_address: self.grpc_listen_address(c, "grpc_api", &raw.address, raw.port),
            key: raw.key.clone(),
            transport_errors,
            rate_limit: raw.rate_limit,
            max_receive_message_size: or_default(
                raw.max_receive_message_size,
                DEFAULT_MAX_RECEIVE_MESSAGE_SIZE,
            ),
            tls: tls(c, "grpc_api.tls", &raw.tls),
        }
    }

    pub(super) fn uni_grpc_settings(&self, c: &mut Checker) -> UniGrpcSettings {
        let raw = &self.uni_grpc;
        if !raw.enabled {
            return UniGrpcSettings {
                enabled: false,
                listen_address: String::new(),
                max_receive_message_size: DEFAULT_MAX_RECEIVE_MESSAGE_SIZE,
                tls: None,
            };
        }
        UniGrpcSettings {
            enabled: true,
            listen_address: self.grpc_listen_address(c, "uni_grpc", &raw.address, raw.port),
            max_receive_message_size: or_default(
                raw.max_receive_message_size,
                DEFAULT_MAX_RECEIVE_MESSAGE_SIZE,
            ),
            tls: tls(c, "uni_grpc.tls", &raw.tls),
        }
    }

    /// `host:port` of a gRPC listener: `address`, or `http_server.address` when it is empty.
    fn grpc_listen_address(
        &self,
        c: &mut Checker,
        section: &str,
        address: &str,
        port: i64,
    ) -> String {
        let port = u16::try_from(port)
            .ok()
            .filter(|&p| p != 0)
            .unwrap_or_else(|| {
                c.fail(
                    format!("{section}.port"),
                    format!("must be between 1 and 65535, got {port}"),
                );
                0
            });
        let host = if address.is_empty() {
            self.http_server.address.as_str()
        } else {
            address
        };
        join_host_port(host, port)
    }
}

/// `host:port` with `""` as `0.0.0.0` and IPv6 literals bracketed.
fn join_host_port(host: &str, port: u16) -> String {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

pub(super) fn tls(c: &mut Checker, section: &str, raw: &TlsConfig) -> Option<TlsSettings> {
    if !raw.enabled {
        return None;
    }
    let mut required = |name: &str, value: &str| {
        let key = format!("{section}.{name}");
        if value.is_empty() {
            c.fail(&key, "required when TLS is enabled");
            None
        } else {
            pem(c, &key, value)
        }
    };
    let cert_pem = required("cert_pem", &raw.cert_pem);
    let key_pem = required("key_pem", &raw.key_pem);
    let client_ca_pem = if raw.client_ca_pem.is_empty() {
        None
    } else {
        Some(pem(
            c,
            &format!("{section}.client_ca_pem"),
            &raw.client_ca_pem,
        )?)
    };
    Some(TlsSettings {
        cert_pem: cert_pem?,
        key_pem: key_pem?,
        client_ca_pem,
    })
}

const PEM_BEGIN: &str = "-----BEGIN";

/// A PEM value as Centrifugo reads it: PEM text, base64 of PEM text, or a file path.
pub(super) fn pem(c: &mut Checker, key: &str, value: &str) -> Option<Vec<u8>> {
    if value.contains(PEM_BEGIN) {
        return Some(value.as_bytes().to_vec());
    }
    if let Ok(decoded) = STANDARD.decode(value.trim())
        && contains_pem(&decoded)
    {
        return Some(decoded);
    }
    match std::fs::read(value) {
        Ok(bytes) if contains_pem(&bytes) => Some(bytes),
        Ok(_) => {
            c.fail(key, format!("no PEM block in file {value}"));
            None
        }
        Err(err) => {
            c.fail(
                key,
                format!("neither PEM text, base64 PEM nor a readable file ({value}: {err})"),
            );
            None
        }
    }
}

fn contains_pem(bytes: &[u8]) -> bool {
    bytes
        .windows(PEM_BEGIN.len())
        .any(|window| window == PEM_BEGIN.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port() {
        assert_eq!(join_host_port("", 10000), "0.0.0.0:10000");
        assert_eq!(join_host_port("127.0.0.1", 1), "127.0.0.1:1");
        assert_eq!(join_host_port("::1", 2), "[::1]:2");
        assert_eq!(join_host_port("[::1]", 2), "[::1]:2");
    }

    #[test]
    fn pem_sources() {
        let text = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let mut c = Checker::default();
        assert_eq!(pem(&mut c, "k", text).as_deref(), Some(text.as_bytes()));
        let encoded = STANDARD.encode(text);
        assert_eq!(pem(&mut c, "k", &encoded).as_deref(), Some(text.as_bytes()));
        assert!(c.errors.is_empty());
        assert_eq!(pem(&mut c, "k", "/nonexistent/cert.pem"), None);
        assert_eq!(c.errors.len(), 1);
        assert!(c.errors[0].to_string().starts_with("k: "));
    }
}
