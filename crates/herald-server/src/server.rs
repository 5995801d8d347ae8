//! Assembling a running node: engine, hub, HTTP routes, listeners (HTTP, and the gRPC ones
//! when enabled), and the three-step shutdown (close every client with 3001, at once or in
//! batches over `shutdown.drain_period` while still answering HTTP, so the readiness endpoint
//! says 503 and new connections are refused; then stop accepting; then wait for connection
//! tasks and gRPC calls until `shutdown.timeout` after the signal).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use herald_hub::{Hub, TokenVerifier};
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use crate::api::ErrorMode;
use crate::config::{ApiErrorMode, Validated};
use crate::transport::websocket::WebSocketTransport;

/// Pending connections the kernel queues for `accept`. The default of 128 overflows in a
/// reconnect storm and each dropped SYN costs the client a one-second retransmit.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds the configured address.
pub async fn bind(validated: &Validated) -> anyhow::Result<TcpListener> {
    bind_address(&validated.server.listen_address()).await
}

/// Binds `host:port` with [`LISTEN_BACKLOG`].
async fn bind_address(address: &str) -> anyhow::Result<TcpListener> {
    let resolved = tokio::net::lookup_host(address)
        .await
        .map_err(|err| anyhow::anyhow!("cannot resolve {address}: {err}"))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{address} resolves to nothing"))?;
    let socket = if resolved.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket
        .bind(resolved)
        .and_then(|()| socket.listen(LISTEN_BACKLOG))
        .map_err(|err| anyhow::anyhow!("cannot listen on {address}: {err}"))
}

/// Runs the node on `listener` until `shutdown` resolves, then shuts down gracefully.
pub async fn serve(
    validated: Validated,
    verifier: Arc<dyn TokenVerifier>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let settings = validated.server;
    let tracing_settings = settings.opentelemetry;
    // Off the async workers: the exporter's HTTP client is a blocking one.
    let telemetry =
        tokio::task::spawn_blocking(move || crate::telemetry::install(&tracing_settings)).await??;
    let backends = crate::engines::connect(validated.engine).await?;
    if settings.prometheus.enabled {
        // Before the hub is built, so it times its broker calls.
        herald_hub::enable_metrics();
    }
    let hub = Hub::new(validated.node, backends.broker, backends.presence, verifier);
    let webhooks = validated
        .webhooks
        .map(|settings| {
            crate::webhooks::Webhooks::start(settings, &hub, backends.lifecycle.clone())
        })
        .transpose()?;
    let pusher_stop = CancellationToken::new();
    let pusher = match settings.pusher.apps.is_empty() {
        true => None,
        false => Some(crate::pusher::start(
            &settings.pusher,
            &hub,
            backends.lifecycle.clone(),
            &pusher_stop,
        )?),
    };
    hub.start().await?;

    let tracker = TaskTracker::new();
    let app = routes(&hub, &settings, tracker.clone(), pusher);
    let webhook_stats = webhooks.as_ref().map(|w| w.stats());
    let app = crate::metrics::route(app, &settings.prometheus, &hub, webhook_stats);
    let grpc_stopping = CancellationToken::new();
    let tls_stopping = CancellationToken::new();
    start_grpc(&hub, &settings, &tracker, &grpc_stopping).await?;
    let local = listener.local_addr()?;
    // Small frames (pings, replies, single publications) must not wait for Nagle's algorithm.
    // Set on the listener, where Linux hands it down to every accepted socket: one system call
    // fewer per connection.
    let inherit_nodelay = socket2::SockRef::from(&listener)
        .set_tcp_nodelay(true)
        .is_ok()
        && cfg!(target_os = "linux");
    tracing::info!(address = %local, "herald is listening");

    let stopping_hub = hub.clone();
    let drain_period = settings.drain_period;
    let (signalled_tx, signalled) = tokio::sync::oneshot::channel();
    let stop = async move {
        shutdown.await;
        let _ = signalled_tx.send(tokio::time::Instant::now());
        tracing::info!(
            ?drain_period,
            "shutting down: closing every client with 3001"
        );
        grpc_stopping.cancel();
        // The listener keeps answering meanwhile: readiness 503, new connections refused.
        stopping_hub.drain(drain_period).await;
    };
    let tls = settings
        .tls
        .as_ref()
        .map(|tls| crate::tls::acceptor(tls, tls_stopping.clone()))
        .transpose()?;
    accept_loop(listener, app, stop, inherit_nodelay, settings.h2c, tls).await;
    tls_stopping.cancel();

    tracker.close();
    // `shutdown.timeout` counts from the signal, drain included.
    let deadline = signalled
        .await
        .unwrap_or_else(|_| tokio::time::Instant::now())
        + settings.shutdown_timeout;
    if tokio::time::timeout_at(deadline, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            remaining = tracker.len(),
            "shutdown timeout reached with connections still open"
        );
    }
    if let Some(webhooks) = webhooks {
        webhooks.shutdown().await;
    }
    // Pusher webhook endpoints get their flush time (5 s) while the process ends.
    pusher_stop.cancel();
    if let Some(telemetry) = telemetry {
        telemetry.shutdown().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Binds and spawns the enabled gRPC listeners on `tracker`, so shutdown waits for them (and
/// their calls) like for the HTTP connections; they stop accepting when `stopping` fires.
async fn start_grpc(
    hub: &Hub,
    settings: &crate::config::ServerSettings,
    tracker: &TaskTracker,
    stopping: &CancellationToken,
) -> anyhow::Result<()> {
    let api = &settings.grpc_api;
    if api.enabled {
        let listener = bind_address(&api.listen_address).await?;
        let stopped = stopping.clone().cancelled_owned();
        let serve = crate::grpc::serve_api(hub.clone(), api, listener, stopped)?;
        tracing::info!(address = %api.listen_address, "serving the gRPC API");
        tracker.spawn(async move {
            if let Err(err) = serve.await {
                tracing::error!(%err, "gRPC API stopped");
            }
        });
    }
    let uni = &settings.uni_grpc;
    if uni.enabled {
        let listener = bind_address(&uni.listen_address).await?;
        let stopped = stopping.clone().cancelled_owned();
        let serve = crate::grpc::serve_uni(hub.clone(), uni, listener, tracker.clone(), stopped)?;
        tracing::info!(address = %uni.listen_address, "serving uni_grpc");
        tracker.spawn(async move {
            if let Err(err) = serve.await {
                tracing::error!(%err, "uni_grpc stopped");
            }
        });
    }
    Ok(())
}

/// Pause after an `accept` error that is not about one connection (out of file descriptors):
/// retrying at once would spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Accepts connections until `stop` resolves and serves each with hyper's HTTP/1 or, with
/// `h2c`, HTTP/2 when the connection starts with its preface. The streams go to hyper as plain
/// `TokioIo<TcpStream>` so the WebSocket transport can take the raw socket back after an
/// HTTP/1 upgrade (which is why the preface is peeked at, not read). On stop: no new
/// connections, open HTTP requests finish (idle keep-alive connections close), then this
/// returns. `nodelay_inherited`: accepted sockets already have TCP_NODELAY.
async fn accept_loop(
    listener: TcpListener,
    app: Router,
    stop: impl Future<Output = ()>,
    nodelay_inherited: bool,
    h2c: bool,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let connections = TaskTracker::new();
    let stopping = CancellationToken::new();
    tokio::pin!(stop);
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) if is_per_connection_error(&err) => continue,
                Err(err) => {
                    tracing::error!(%err, "accept failed; pausing");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        if !nodelay_inherited && let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "TCP_NODELAY not set");
        }
        let router = app.clone();
        let over_tls = tls.is_some();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            if over_tls {
                request.extensions_mut().insert(OverTls);
            }
            router.clone().call(request)
        });
        let stopping = stopping.clone();
        if let Some(tls) = &tls {
            let tls = tls.clone();
            connections.spawn(async move {
                let stream =
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(err)) => {
                            tracing::debug!(%remote, %err, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%remote, "TLS handshake timed out");
                            return;
                        }
                    };
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                if let Err(err) =
                    until_stopped(connection, &stopping, |c| c.graceful_shutdown()).await
                {
                    tracing::debug!(%remote, %err, "https connection ended with an error");
                }
            });
            continue;
        }
        connections.spawn(async move {
            let result = if h2c && starts_with_h2_preface(&stream).await {
                let connection =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .enable_connect_protocol()
                        .serve_connection(TokioIo::new(stream), service);
                until_stopped(connection, &stopping, |c| c.graceful_shutdown()).await
            } else {
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                until_stopped(connection, &stopping, |c| c.graceful_shutdown()).await
            };
            if let Err(err) = result {
                tracing::debug!(%remote, %err, "http connection ended with an error");
            }
        });
    }
    stopping.cancel();
    connections.close();
    connections.wait().await;
}

/// Marks a request that came over `http_server.tls`: the WebSocket transport cannot take the
/// raw socket back from hyper then and bridges the TLS stream instead.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OverTls;

/// Limit for a client to finish its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The client connection preface of HTTP/2 (RFC 9113 section 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the connection begins with the HTTP/2 preface (prior knowledge). Peeks, so the
/// bytes stay in the socket for whichever protocol serves it; an HTTP/1 request differs at its
/// first byte, so one peek decides. `false` on an error: HTTP/1 then sees it too.
async fn starts_with_h2_preface(stream: &tokio::net::TcpStream) -> bool {
    let mut buf = [0u8; H2_PREFACE.len()];
    // A client that stops inside the preface gets a second at most; then HTTP/1 refuses it.
    for _ in 0..200 {
        let seen = match stream.peek(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(seen) => seen,
        };
        if buf[..seen] != H2_PREFACE[..seen] {
            return false;
        }
        if seen == H2_PREFACE.len() {
            return true;
        }
        // A prefix of the preface: wait for more (peek returns at once while bytes are there).
        if stream.readable().await.is_err() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

/// Serves an HTTP connection to its end; once `stopping` fires, asks it to finish gracefully
/// (open requests complete, idle keep-alive ends) and waits for that.
async fn until_stopped<C: Future>(
    connection: C,
    stopping: &CancellationToken,
    graceful_shutdown: impl FnOnce(std::pin::Pin<&mut C>),
) -> C::Output {
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => result,
        () = stopping.cancelled() => {
            graceful_shutdown(connection.as_mut());
            connection.await
        }
    }
}

/// Errors that concern only the connection being accepted (it was reset before we took it).
fn is_per_connection_error(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

fn routes(
    hub: &Hub,
    settings: &crate::config::ServerSettings,
    tracker: TaskTracker,
    pusher: Option<Arc<crate::pusher::apps::Apps>>,
) -> Router {
    let mut app = Router::new();
    // `websocket.*`: the SDK's endpoint and the Pusher endpoint (served even when
    // `websocket.disabled`, which is the SDK's switch).
    let websocket = WebSocketTransport {
        hub: hub.clone(),
        message_size_limit: settings.websocket.message_size_limit,
        write_timeout: settings.websocket.write_timeout,
        origins: settings.origins.clone(),
        compression: settings.websocket.compression,
        tracker: tracker.clone(),
    };
    if let Some(apps) = pusher {
        let path_prefix = &settings.pusher.path_prefix;
        app = app.merge(websocket.clone().pusher_router(path_prefix, apps.clone()));
        app = app.merge(crate::pusher::api::router(hub.clone(), apps));
    }
    if !settings.websocket.disabled {
        #[cfg(feature = "autobahn")]
        {
            tracing::warn!("built with the autobahn feature: echo route on /autobahn/echo");
            app = app.merge(websocket.clone().echo_router("/autobahn/echo"));
        }
        app = app.merge(websocket.router(&settings.websocket.handler_prefix));
    }
    let uni = &settings.transports.uni_websocket;
    if uni.enabled {
        let transport = WebSocketTransport {
            hub: hub.clone(),
            message_size_limit: uni.message_size_limit,
            write_timeout: uni.write_timeout,
            compression: uni.compression,
            origins: settings.origins.clone(),
            tracker: tracker.clone(),
        };
        app = app.merge(transport.uni_router(
            &uni.handler_prefix,
            uni.join_push_messages,
            uni.disable_disconnect_push,
        ));
    }
    let streams = crate::transport::stream::StreamTransports {
        hub: hub.clone(),
        settings: settings.transports.clone(),
        origins: settings.origins.clone(),
        tracker: tracker.clone(),
    };
    app = app.merge(streams.router());
    if !settings.http_api.disabled {
        let api = crate::api::ApiSettings {
            key: settings.http_api.key.clone(),
            insecure: settings.http_api.insecure,
            handler_prefix: settings.http_api.handler_prefix.clone(),
            rate_limit: settings.http_api.rate_limit,
        };
        let mode = match settings.http_api.error_mode {
            ApiErrorMode::Transport => ErrorMode::Transport,
            ApiErrorMode::Default => ErrorMode::Body,
        };
        app = app.merge(crate::api::router_with_error_mode(hub.clone(), api, mode));
    }
    if settings.admin.enabled {
        app = app.merge(crate::admin::router(hub.clone(), settings.admin.clone()));
    }
    if settings.health.enabled {
        app = app.route(&settings.health.handler_prefix, get(health));
        let readiness = hub.clone();
        app = app.route(
            &settings.health.readiness_handler_prefix,
            get(move || ready(readiness.clone())),
        );
    }
    app
}

/// The readiness endpoint (`health.readiness_handler_prefix`): `200 {}` while the node can do
/// its job, else `503 {"error": "<why>"}` (shutting down, broker or presence backend
/// unreachable, end-to-end broker probe failing; see `Hub::readiness`).
async fn ready(hub: Hub) -> impl axum::response::IntoResponse {
    let json = [(http::header::CONTENT_TYPE, "application/json")];
    match hub.readiness() {
        Ok(()) => (http::StatusCode::OK, json, "{}".to_owned()),
        Err(why) => (
            http::StatusCode::SERVICE_UNAVAILABLE,
            json,
            serde_json::json!({ "error": why.to_string() }).to_string(),
        ),
    }
}

/// Liveness, as Centrifugo's health endpoint: `200 {}` while the process serves HTTP. Whether
/// the node can do its job (broker, presence, the end-to-end probe, shutdown) is readiness
/// ([`ready`]): a liveness check that failed during a Redis outage would have every node
/// restarted by its orchestrator at the moment they are all waiting for Redis to come back.
async fn health() -> impl axum::response::IntoResponse {
    (
        http::StatusCode::OK,
        [(http::header::CONTENT_TYPE, "application/json")],
        "{}",
    )
}

/// Resolves on SIGTERM or SIGINT.
pub async fn signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {},
                    _ = terminate.recv() => {},
                }
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

#[cfg(test)]
mod tests {
    /// `serve` relies on this to skip a system call per connection.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn accepted_sockets_inherit_nodelay_from_the_listener() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        socket2::SockRef::from(&listener)
            .set_tcp_nodelay(true)
            .expect("set on the listener");
        let address = listener.local_addr().expect("address");
        let client = tokio::net::TcpStream::connect(address);
        let (accepted, client) = tokio::join!(listener.accept(), client);
        let (accepted, _) = accepted.expect("accept");
        client.expect("connect");
        assert!(accepted.nodelay().expect("read the option"));
    }
}
