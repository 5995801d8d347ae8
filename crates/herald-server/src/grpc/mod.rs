//! The gRPC listeners, each on a port of its own as in Centrifugo:
//!
//! - `grpc_api` ([`serve_api`]): the server API as `centrifugal.centrifugo.api.CentrifugoApi`
//!   (`api`), every method run by the HTTP API's code through `convert`; the key check in
//!   `auth`.
//! - `uni_grpc` ([`serve_uni`]): the unidirectional stream
//!   `centrifugal.centrifugo.unistream.CentrifugoUniStream/Consume` (`uni`).
//!
//! Both run on tonic's server (HTTP/2, optional TLS with rustls and ring) and stop with the
//! rest of the node: when `shutdown` resolves they accept nothing more and let open calls
//! finish; `crate::server::serve` bounds that wait by `shutdown.timeout`, and the node's
//! shutdown closes every uni_grpc session with 3001 first, which ends its stream.
//!
//! ```no_run
//! # async fn run(hub: herald_hub::Hub, settings: herald_server::config::GrpcApiSettings)
//! # -> Result<(), herald_server::grpc::GrpcError> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:10000").await.expect("bind");
//! herald_server::grpc::serve_api(hub, &settings, listener, std::future::pending())?.await
//! # }
//! ```

mod api;
mod auth;
mod convert;
mod uni;

use std::time::Duration;

use herald_grpc::api::centrifugo_api_server::CentrifugoApiServer;
use herald_hub::Hub;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::config::{GrpcApiSettings, TlsSettings, UniGrpcSettings};

/// Why a gRPC listener could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    /// The certificate, key or client CA was refused by the TLS library.
    #[error("{listener}: TLS configuration refused: {source}")]
    Tls {
        /// `grpc_api` or `uni_grpc`.
        listener: &'static str,
        /// What tonic (rustls) said.
        source: tonic::transport::Error,
    },
    /// The server failed while serving.
    #[error("{listener}: {source}")]
    Serve {
        /// `grpc_api` or `uni_grpc`.
        listener: &'static str,
        /// What tonic said.
        source: tonic::transport::Error,
    },
}

/// HTTP/2 keepalive of uni_grpc connections, as Centrifugo sets it: a ping after 25 s of
/// silence, and the connection is dropped when its answer takes more than 5 s.
const UNI_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(25);
const UNI_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds the gRPC server API on `listener` (a TLS problem is reported here) and returns the
/// future that serves it until `shutdown` resolves, then lets open calls finish.
pub fn serve_api<S: Future<Output = ()> + Send>(
    hub: Hub,
    settings: &GrpcApiSettings,
    listener: TcpListener,
    shutdown: S,
) -> Result<impl Future<Output = Result<(), GrpcError>> + Send + use<S>, GrpcError> {
    const LISTENER: &str = "grpc_api";
    let check =
        auth::KeyCheck::new(&settings.key).with_rate_limit(hub.clone(), settings.rate_limit);
    let service = CentrifugoApiServer::new(api::ApiService::new(hub, settings.transport_errors))
        .max_decoding_message_size(settings.max_receive_message_size);
    let service = InterceptedService::new(service, check);
    let router = server(LISTENER, settings.tls.as_ref())?.add_service(service);
    Ok(async move {
        router
            .serve_with_incoming_shutdown(incoming(listener), shutdown)
            .await
            .map_err(|source| GrpcError::Serve {
                listener: LISTENER,
                source,
            })
    })
}

/// Builds uni_grpc on `listener` (a TLS problem is reported here) and returns the future that
/// serves it until `shutdown` resolves; each connection's task is spawned on `tracker`.
pub fn serve_uni<S: Future<Output = ()> + Send>(
    hub: Hub,
    settings: &UniGrpcSettings,
    listener: TcpListener,
    tracker: TaskTracker,
    shutdown: S,
) -> Result<impl Future<Output = Result<(), GrpcError>> + Send + use<S>, GrpcError> {
    const LISTENER: &str = "uni_grpc";
    let service = uni::UniStreamService::new(hub, tracker, settings.max_receive_message_size);
    let router = server(LISTENER, settings.tls.as_ref())?
        .http2_keepalive_interval(Some(UNI_KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(UNI_KEEPALIVE_TIMEOUT))
        .add_service(service);
    Ok(async move {
        router
            .serve_with_incoming_shutdown(incoming(listener), shutdown)
            .await
            .map_err(|source| GrpcError::Serve {
                listener: LISTENER,
                source,
            })
    })
}

/// A tonic server, with TLS when configured.
fn server(listener: &'static str, tls: Option<&TlsSettings>) -> Result<Server, GrpcError> {
    let server = Server::builder();
    let Some(tls) = tls else {
        return Ok(server);
    };
    let mut config =
        ServerTlsConfig::new().identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem));
    if let Some(ca) = &tls.client_ca_pem {
        config = config.client_ca_root(Certificate::from_pem(ca));
    }
    server
        .tls_config(config)
        .map_err(|source| GrpcError::Tls { listener, source })
}

/// Accepted connections, with TCP_NODELAY: pushes and replies are small and must not wait.
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}
