//! The bidirectional WebSocket transport on `/connection/websocket` (RFC 6455).
//!
//! The upgrade request goes through axum like any other route; once hyper hands the connection
//! over, the raw `TcpStream` is taken back and one task ([`connection`]) owns it together with
//! the [`Session`](herald_hub::Session), framing with our own sans-I/O codec ([`frame`]). One
//! task and no idle buffers is what keeps an idle connection at a few hundred bytes of state.
//!
//! JSON goes in text frames; Protobuf (subprotocol `centrifuge-protobuf`, or `?format=protobuf`
//! / `?cf_protocol=protobuf`) in binary frames. Several messages queued together leave as one
//! frame (newline-separated JSON, or length-prefixed Protobuf), as in Centrifugo.

mod connection;
mod frame;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use bytes::Bytes;
use herald_hub::Hub;
use herald_proto::Protocol;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_util::task::TaskTracker;

use crate::config::OriginPolicy;

const PROTOBUF_SUBPROTOCOL: &str = "centrifuge-protobuf";
const JSON_SUBPROTOCOL: &str = "centrifuge-json";
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// WebSocket transport settings.
#[derive(Clone)]
pub struct WebSocketTransport {
    /// The node.
    pub hub: Hub,
    /// Largest incoming message; a larger one closes the connection with 1009.
    pub message_size_limit: usize,
    /// A write that takes longer closes the connection with 3009.
    pub write_timeout: Duration,
    /// Which `Origin` headers are acceptable (`client.allowed_origins`).
    pub origins: OriginPolicy,
    /// Tracks connection tasks so shutdown can wait for them.
    pub tracker: TaskTracker,
}

impl std::fmt::Debug for WebSocketTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketTransport")
            .field("message_size_limit", &self.message_size_limit)
            .field("write_timeout", &self.write_timeout)
            .finish_non_exhaustive()
    }
}

impl WebSocketTransport {
    /// A router serving the transport at `path`.
    pub fn router(self, path: &str) -> Router {
        Router::new()
            .route(path, get(upgrade))
            .with_state(Arc::new(self))
    }
}

async fn upgrade(
    State(transport): State<Arc<WebSocketTransport>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    let headers = request.headers();
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if !transport.origins.allows(origin) {
        tracing::info!(%remote, origin = origin.unwrap_or(""), "origin not allowed");
        return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
    }
    if transport.hub.is_shutting_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    let accept = match handshake_accept(headers) {
        Ok(accept) => accept,
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    let (protocol, subprotocol) = select_protocol(headers, request.uri().query());
    let on_upgrade = hyper::upgrade::on(&mut request);
    let settings = connection::Settings {
        protocol,
        message_size_limit: transport.message_size_limit,
        write_timeout: transport.write_timeout,
    };
    transport.tracker.spawn(connection::Connection::upgrading(
        take_socket(on_upgrade, remote),
        transport.hub.clone(),
        settings,
        remote,
    ));
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let response_headers = response.headers_mut();
    response_headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    response_headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(value) = HeaderValue::from_str(&accept) {
        response_headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    if let Some(subprotocol) = subprotocol {
        response_headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(subprotocol),
        );
    }
    response
}

/// Waits for hyper to finish the upgrade and takes the raw socket back, with any bytes hyper
/// read past the request. Its own function so none of hyper's pieces stay in the connection
/// task's state.
async fn take_socket(on_upgrade: OnUpgrade, remote: SocketAddr) -> connection::Upgraded {
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(err) => {
            tracing::debug!(%remote, %err, "websocket upgrade failed");
            return None;
        }
    };
    // The server hands hyper plain `TokioIo<TcpStream>`s (see `server::accept_loop`).
    let Ok(parts) = upgraded.downcast::<TokioIo<TcpStream>>() else {
        tracing::error!(%remote, "websocket upgrade over an unexpected stream type");
        return None;
    };
    // `read_buf` shares hyper's whole read buffer (8 KiB or more) even when empty: copy the
    // bytes out so that allocation is freed now, not when the connection ends.
    let buffered = Bytes::copy_from_slice(&parts.read_buf);
    Some((parts.io.into_inner(), buffered))
}

/// Checks the upgrade request and computes `Sec-WebSocket-Accept`.
fn handshake_accept(headers: &HeaderMap) -> Result<String, &'static str> {
    let has = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
    };
    if !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
        return Err("expected a WebSocket upgrade request\n");
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err("unsupported Sec-WebSocket-Version\n");
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or("missing Sec-WebSocket-Key\n")?;
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WEBSOCKET_GUID.as_bytes());
    Ok(base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes()))
}

/// Protobuf when the client offers the `centrifuge-protobuf` subprotocol or asks in the query;
/// JSON otherwise. Returns the subprotocol to echo, if the client offered one we speak.
fn select_protocol(headers: &HeaderMap, query: Option<&str>) -> (Protocol, Option<&'static str>) {
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if offered.contains(&PROTOBUF_SUBPROTOCOL) {
        return (Protocol::Protobuf, Some(PROTOBUF_SUBPROTOCOL));
    }
    let query_protobuf = query.is_some_and(|q| {
        q.split('&')
            .any(|pair| pair == "format=protobuf" || pair == "cf_protocol=protobuf")
    });
    let echo = offered
        .contains(&JSON_SUBPROTOCOL)
        .then_some(JSON_SUBPROTOCOL);
    if query_protobuf {
        (Protocol::Protobuf, echo.and(None))
    } else {
        (Protocol::Json, echo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        headers.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        headers.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        assert_eq!(
            handshake_accept(&headers).expect("valid"),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn protobuf_is_chosen_by_subprotocol_or_query() {
        let mut headers = HeaderMap::new();
        assert_eq!(select_protocol(&headers, None), (Protocol::Json, None));
        assert_eq!(
            select_protocol(&headers, Some("format=protobuf")).0,
            Protocol::Protobuf
        );
        assert_eq!(
            select_protocol(&headers, Some("cf_protocol=protobuf")).0,
            Protocol::Protobuf
        );
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("centrifuge-protobuf"),
        );
        assert_eq!(
            select_protocol(&headers, None),
            (Protocol::Protobuf, Some(PROTOBUF_SUBPROTOCOL))
        );
    }
}
