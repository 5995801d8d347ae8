//! WebSocket over HTTP/2 (RFC 8441, Centrifugo 6.5): an extended CONNECT with `:protocol`
//! `websocket` on the WebSocket path, answered with 200 (no `Sec-WebSocket-Accept`: the
//! stream itself is the handshake), then the same connection future as for HTTP/1.
//!
//! The connection future writes without waiting (`try_write_vectored`) and waits for
//! writability on its own; an HTTP/2 stream has no such interface, so a bridge task copies
//! between the stream and one end of a Unix socket pair, and the connection runs on the other
//! end. That costs an HTTP/2 WebSocket a task and two 8 KiB copy buffers; HTTP/1 connections
//! do not pass through here and keep their raw `TcpStream`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{StatusCode, Version, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt as _;
use tokio::net::UnixStream;
use tokio_util::task::TaskTracker;

use super::handler::Handler;
use super::{Endpoint, HandshakeError, admit, connection, negotiate, spawn_holding};

/// Answers an extended CONNECT and starts the connection on its stream.
pub(super) async fn connect<H: Handler<Params = ()>>(
    State(endpoint): State<Arc<Endpoint>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    let is_websocket = request
        .extensions()
        .get::<hyper::ext::Protocol>()
        .is_some_and(|protocol| protocol.as_str().eq_ignore_ascii_case("websocket"));
    if request.version() != Version::HTTP_2 || !is_websocket {
        return (
            StatusCode::BAD_REQUEST,
            "expected an HTTP/2 extended CONNECT with :protocol websocket\n",
        )
            .into_response();
    }
    let transport = &endpoint.transport;
    let permit = match admit(transport, request.headers(), remote) {
        Ok(permit) => permit,
        Err(refused) => return refused.into_response(),
    };
    // RFC 8441 section 5: the version header as in RFC 6455; no key, no accept.
    if request
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes().trim_ascii() != b"13")
    {
        return HandshakeError::Version.into_response();
    }
    let (settings, response_headers) =
        match negotiate(&endpoint, request.headers(), request.uri(), remote) {
            Ok(negotiated) => negotiated,
            Err(refused) => return refused.into_response(),
        };
    let on_upgrade = hyper::upgrade::on(&mut request);
    let connection = connection::Connection::<H, UnixStream>::upgrading(
        bridge(on_upgrade, remote, transport.tracker.clone()),
        transport.hub.clone(),
        settings,
        (),
        remote,
    );
    spawn_holding(&transport.tracker, permit, connection);
    let mut response = Response::new(Body::empty());
    *response.headers_mut() = response_headers;
    response
}

/// Waits for the stream, then copies between it and one end of a socket pair (in a task the
/// tracker waits for at shutdown); the connection gets the other end. Also used for HTTP/1
/// upgrades over TLS (`http_server.tls`).
pub(super) async fn bridge(
    on_upgrade: OnUpgrade,
    remote: SocketAddr,
    tracker: TaskTracker,
) -> connection::Upgraded<UnixStream> {
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(err) => {
            tracing::debug!(%remote, %err, "http/2 websocket stream failed");
            return None;
        }
    };
    let (ours, mut theirs) = match UnixStream::pair() {
        Ok(pair) => pair,
        Err(err) => {
            tracing::warn!(%remote, %err, "no socket pair for an http/2 websocket");
            return None;
        }
    };
    tracker.spawn(async move {
        let (mut from_stream, mut to_stream) = tokio::io::split(TokioIo::new(upgraded));
        let (mut from_connection, mut to_connection) = theirs.split();
        // The bridge lives exactly as long as the connection's end of the pair: once the
        // connection is done (its socket dropped), the stream ends too, whether or not the
        // client ever closes its side.
        let mut outgoing = std::pin::pin!(async {
            let _ = tokio::io::copy(&mut from_connection, &mut to_stream).await;
            let _ = to_stream.shutdown().await;
        });
        let mut incoming = std::pin::pin!(async {
            if let Err(err) = tokio::io::copy(&mut from_stream, &mut to_connection).await {
                tracing::debug!(%remote, %err, "http/2 websocket stream failed");
            }
            let _ = to_connection.shutdown().await;
        });
        let mut incoming_done = false;
        loop {
            tokio::select! {
                () = &mut outgoing => break,
                () = &mut incoming, if !incoming_done => incoming_done = true,
            }
        }
    });
    Some((ours, Bytes::new()))
}
