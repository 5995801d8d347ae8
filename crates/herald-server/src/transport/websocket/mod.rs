//! The bidirectional WebSocket transport on `/connection/websocket` (RFC 6455).
//!
//! The upgrade request goes through axum like any other route; once hyper hands the connection
//! over, the raw `TcpStream` is taken back and one task (`connection.rs`) owns it together with
//! the [`Session`], framing with our own sans-I/O codec (`herald-ws`). One
//! task and no idle buffers is what keeps an idle connection at a few hundred bytes of state.
//!
//! JSON goes in text frames; Protobuf (subprotocol `centrifuge-protobuf`, or `?format=protobuf`
//! / `?cf_protocol=protobuf`) in binary frames. Several messages queued together leave as one
//! frame (newline-separated JSON, or length-prefixed Protobuf), as in Centrifugo.
//!
//! Over HTTP/2 (`http_server.h2c_external`), an extended CONNECT (RFC 8441) opens the same
//! connection on an HTTP/2 stream (`http2.rs`).
//!
//! With `websocket.compression` on, a client that offers permessage-deflate (RFC 7692) gets it
//! without context takeover (`deflate.rs`, `herald_ws::deflate`).
//!
//! The same connection future serves the unidirectional WebSocket (`handler::Uni`) and the
//! Pusher protocol's `/app/<key>` (`pusher.rs`: one event per frame, `pusher:error` before the
//! close).

mod connection;
mod deflate;
mod handler;
mod http2;
mod pusher;
mod socket;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, get};
use base64::Engine as _;
use bytes::Bytes;
use herald_hub::{ConnectionPermit, Hub, Session};
use herald_proto::Protocol;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_util::task::TaskTracker;

use crate::config::{CompressionSettings, OriginPolicy};

use super::client_ip::client_ip;
use super::refusal::Refusal;
use handler::Handler;
use writer::Output;

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
    /// permessage-deflate for clients that offer it; `None`: never negotiated.
    pub compression: Option<CompressionSettings>,
    /// Tracks connection tasks so shutdown can wait for them.
    pub tracker: TaskTracker,
}

impl std::fmt::Debug for WebSocketTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketTransport")
            .field("message_size_limit", &self.message_size_limit)
            .field("write_timeout", &self.write_timeout)
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

/// One WebSocket endpoint: the transport's settings and how its connections write.
#[derive(Debug)]
struct Endpoint {
    transport: WebSocketTransport,
    output: Output,
    /// `uni_websocket`: JSON always, and the connect request may come as `?cf_connect=`.
    unidirectional: bool,
}

impl WebSocketTransport {
    /// A router serving the transport at `path`.
    pub fn router(self, path: &str) -> Router {
        Router::new()
            .route(
                path,
                get(upgrade::<Session>).on(MethodFilter::CONNECT, http2::connect::<Session>),
            )
            .with_state(self.endpoint(Output::BIDIRECTIONAL, false))
    }

    /// A router serving the unidirectional WebSocket at `path`: the client sends one
    /// `ConnectRequest` (its first message, or `?cf_connect=`) and receives bare JSON pushes,
    /// one per frame unless `join_push_messages`, and a `disconnect` push before the close
    /// frame unless `disable_disconnect_push`.
    pub fn uni_router(
        self,
        path: &str,
        join_push_messages: bool,
        disable_disconnect_push: bool,
    ) -> Router {
        let output = Output {
            join_messages: join_push_messages,
            farewell: match disable_disconnect_push {
                true => writer::Farewell::CloseFrame,
                false => writer::Farewell::DisconnectPush,
            },
            client_batching: true,
        };
        Router::new()
            .route(path, get(upgrade::<handler::Uni>))
            .with_state(self.endpoint(output, true))
    }

    fn endpoint(self, output: Output, unidirectional: bool) -> Arc<Endpoint> {
        Arc::new(Endpoint {
            transport: self,
            output,
            unidirectional,
        })
    }

    /// A router serving, at `path`, a WebSocket that echoes every message through the same
    /// connection future, decoder and writer: the testee for the Autobahn|Testsuite. Only in
    /// builds with the `autobahn` feature, never in a default build.
    #[cfg(feature = "autobahn")]
    pub fn echo_router(self, path: &str) -> Router {
        Router::new()
            .route(
                path,
                get(upgrade::<handler::Echo>)
                    .on(MethodFilter::CONNECT, http2::connect::<handler::Echo>),
            )
            .with_state(self.endpoint(Output::BIDIRECTIONAL, false))
    }
}

async fn upgrade<H: Handler<Params = ()>>(
    State(endpoint): State<Arc<Endpoint>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    upgrade_with::<H>(&endpoint, remote, request, ())
}

/// Upgrades `request` to a WebSocket connection served by `H` opened with `params`.
fn upgrade_with<H: Handler>(
    endpoint: &Endpoint,
    remote: SocketAddr,
    mut request: Request,
    params: H::Params,
) -> Response {
    let transport = &endpoint.transport;
    let permit = match admit(transport, request.headers(), remote) {
        Ok(permit) => permit,
        Err(refused) => return refused.into_response(),
    };
    let accept = match handshake_accept(request.headers()) {
        Ok(accept) => accept,
        Err(refused) => {
            tracing::debug!(%remote, %refused, "websocket upgrade refused");
            return refused.into_response();
        }
    };
    let (settings, mut response_headers) =
        match negotiate(endpoint, request.headers(), request.uri(), remote) {
            Ok(negotiated) => negotiated,
            Err(refused) => return refused.into_response(),
        };
    let over_tls = request
        .extensions()
        .get::<crate::server::OverTls>()
        .is_some();
    let on_upgrade = hyper::upgrade::on(&mut request);
    if over_tls {
        // rustls's stream cannot be written without waiting the way `Socket` needs: the same
        // socket-pair bridge as WebSocket over HTTP/2.
        let connection = connection::Connection::<H, tokio::net::UnixStream>::upgrading(
            http2::bridge(on_upgrade, remote, transport.tracker.clone()),
            transport.hub.clone(),
            settings,
            params,
            remote,
        );
        spawn_holding(&transport.tracker, permit, connection);
    } else {
        let connection = connection::Connection::<H, TcpStream>::upgrading(
            take_socket(on_upgrade, remote),
            transport.hub.clone(),
            settings,
            params,
            remote,
        );
        spawn_holding(&transport.tracker, permit, connection);
    }
    response_headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    response_headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(value) = HeaderValue::from_str(&accept) {
        response_headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *response.headers_mut() = response_headers;
    response
}

/// The checks every WebSocket request passes first, over HTTP/1 or HTTP/2: an allowed
/// `Origin`, a node that is not shutting down, and the connection limits. `Ok`: the permit to
/// hold while the connection lives; `Err`: the answer that refuses it.
fn admit(
    transport: &WebSocketTransport,
    headers: &HeaderMap,
    remote: SocketAddr,
) -> Result<ConnectionPermit, Refusal> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if !transport.origins.allows(origin) {
        tracing::info!(%remote, origin = origin.unwrap_or(""), "origin not allowed");
        return Err(Refusal::Origin);
    }
    if transport.hub.is_shutting_down() {
        return Err(Refusal::ShuttingDown);
    }
    let ip = client_ip(&transport.hub, headers, remote);
    transport.hub.admit_connection(ip).map_err(|refused| {
        tracing::debug!(%remote, %refused, "websocket connection refused");
        Refusal::Limited(refused)
    })
}

/// Spawns `connection` holding `permit` until it ends (the per-IP count frees with it). A
/// permit that counts nothing is dropped here, so without `client.ip_connection_limit` the
/// task carries nothing more than the connection.
fn spawn_holding<F>(tracker: &TaskTracker, permit: ConnectionPermit, connection: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    if permit.is_counted() {
        tracker.spawn(async move {
            let _permit = permit;
            connection.await;
        });
    } else {
        tracker.spawn(connection);
    }
}

/// The connection's settings from the request (protocol, permessage-deflate, a uni_websocket
/// `?cf_connect=`), and the response headers that confirm them (`Sec-WebSocket-Protocol`,
/// `Sec-WebSocket-Extensions`). A malformed `cf_connect` is refused with 400.
fn negotiate(
    endpoint: &Endpoint,
    headers: &HeaderMap,
    uri: &http::Uri,
    remote: SocketAddr,
) -> Result<(connection::Settings, HeaderMap), Refusal> {
    let transport = &endpoint.transport;
    let (protocol, subprotocol) = match endpoint.unidirectional {
        true => (Protocol::Json, None),
        false => select_protocol(headers, uri.query()),
    };
    let first_message = match endpoint.unidirectional {
        true => cf_connect(uri).map_err(|why| {
            tracing::info!(%remote, %why, "uni_websocket connect request refused");
            Refusal::BadRequest(why)
        })?,
        false => None,
    };
    let agreed = transport.compression.and_then(|compression| {
        let offers = headers
            .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .filter_map(|v| v.to_str().ok());
        herald_ws::deflate::negotiate(offers).map(|agreed| (agreed, compression))
    });
    let settings = connection::Settings {
        protocol,
        message_size_limit: transport.message_size_limit,
        write_timeout: transport.write_timeout,
        deflate: agreed.map(|(agreed, compression)| deflate::Deflate {
            min_size: u32::try_from(compression.min_size).unwrap_or(u32::MAX),
            level: compression.level,
            // Negotiation yields 8 to 15; a zero would be a bug there, and 15 is the default.
            window_bits: std::num::NonZeroU8::new(agreed.window_bits)
                .unwrap_or(deflate::FULL_WINDOW),
        }),
        output: endpoint.output,
        batching: match endpoint.output.client_batching {
            true => connection::Batching::of(&transport.hub.options().client),
            false => connection::Batching::NONE,
        },
        first_message,
        proxy_headers: crate::transport::proxy_headers::kept(
            headers,
            transport.hub.proxy_header_names(),
        ),
    };
    let mut response_headers = HeaderMap::new();
    if let Some((agreed, _)) = agreed
        && let Ok(value) = HeaderValue::from_str(&agreed.response())
    {
        response_headers.insert(header::SEC_WEBSOCKET_EXTENSIONS, value);
    }
    if let Some(subprotocol) = subprotocol {
        response_headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(subprotocol),
        );
    }
    Ok((settings, response_headers))
}

/// Waits for hyper to finish the upgrade and takes the raw socket back, with any bytes hyper
/// read past the request. Its own function so none of hyper's pieces stay in the connection
/// task's state.
async fn take_socket(on_upgrade: OnUpgrade, remote: SocketAddr) -> connection::Upgraded<TcpStream> {
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

/// The connect request a uni_websocket client put in `?cf_connect=`, checked to be one (so a
/// malformed one gets 400 before the upgrade, as in Centrifugo).
fn cf_connect(uri: &http::Uri) -> Result<Option<Bytes>, String> {
    #[derive(serde::Deserialize)]
    struct ConnectQuery {
        cf_connect: Option<String>,
    }
    let query =
        axum::extract::Query::<ConnectQuery>::try_from_uri(uri).map_err(|err| err.body_text())?;
    let Some(data) = query.0.cf_connect else {
        return Ok(None);
    };
    herald_proto::decode_message::<herald_proto::ConnectRequest>(Protocol::Json, data.as_bytes())
        .map_err(|err| format!("malformed cf_connect: {err}"))?;
    Ok(Some(Bytes::from(data)))
}

/// Why an upgrade request was refused (RFC 6455 section 4.2.1 lists what it must carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum HandshakeError {
    /// `Upgrade: websocket` or `Connection: Upgrade` is missing.
    #[error("expected a WebSocket upgrade request (Upgrade: websocket, Connection: Upgrade)")]
    NotUpgrade,
    /// A version other than 13: answered with 426 and the version we speak (section 4.4).
    #[error("unsupported Sec-WebSocket-Version (this server speaks 13)")]
    Version,
    /// `Sec-WebSocket-Key` is missing or not 16 bytes in base64.
    #[error("Sec-WebSocket-Key must be 16 bytes in base64")]
    Key,
}

impl IntoResponse for HandshakeError {
    fn into_response(self) -> Response {
        let body = format!("{self}\n");
        match self {
            Self::NotUpgrade | Self::Key => (StatusCode::BAD_REQUEST, body).into_response(),
            Self::Version => (
                StatusCode::UPGRADE_REQUIRED,
                [(header::SEC_WEBSOCKET_VERSION, "13")],
                body,
            )
                .into_response(),
        }
    }
}

/// Checks the upgrade request and computes `Sec-WebSocket-Accept`.
fn handshake_accept(headers: &HeaderMap) -> Result<String, HandshakeError> {
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
        return Err(HandshakeError::NotUpgrade);
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes().trim_ascii() != b"13")
    {
        return Err(HandshakeError::Version);
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or(HandshakeError::Key)?;
    let key_bytes = key.as_bytes().trim_ascii();
    match base64::engine::general_purpose::STANDARD.decode(key_bytes) {
        Ok(nonce) if nonce.len() == 16 => {}
        _ => return Err(HandshakeError::Key),
    }
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key_bytes);
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

    /// The upgrade request of RFC 6455 section 1.3.
    fn rfc_request() -> HeaderMap {
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
        headers
    }

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        assert_eq!(
            handshake_accept(&rfc_request()).expect("valid"),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn bad_upgrade_requests_are_refused_with_their_status() {
        let with = |name: header::HeaderName, value: Option<&'static str>| {
            let mut headers = rfc_request();
            match value {
                Some(value) => headers.insert(name, HeaderValue::from_static(value)),
                None => headers.remove(name),
            };
            headers
        };
        let cases = [
            (
                with(header::SEC_WEBSOCKET_VERSION, Some("8")),
                HandshakeError::Version,
            ),
            (
                with(header::SEC_WEBSOCKET_VERSION, None),
                HandshakeError::Version,
            ),
            (with(header::SEC_WEBSOCKET_KEY, None), HandshakeError::Key),
            (
                with(header::SEC_WEBSOCKET_KEY, Some("not base64!")),
                HandshakeError::Key,
            ),
            // Valid base64, but 15 bytes instead of 16.
            (
                with(header::SEC_WEBSOCKET_KEY, Some("dGhlIHNhbXBsZSBub25j")),
                HandshakeError::Key,
            ),
            (
                with(header::SEC_WEBSOCKET_KEY, Some("")),
                HandshakeError::Key,
            ),
            (with(header::UPGRADE, None), HandshakeError::NotUpgrade),
            (
                with(header::UPGRADE, Some("h2c")),
                HandshakeError::NotUpgrade,
            ),
            (with(header::CONNECTION, None), HandshakeError::NotUpgrade),
            (
                with(header::CONNECTION, Some("keep-alive")),
                HandshakeError::NotUpgrade,
            ),
        ];
        for (headers, expected) in cases {
            assert_eq!(handshake_accept(&headers), Err(expected), "{headers:?}");
        }
    }

    #[test]
    fn a_wrong_version_gets_426_naming_version_13() {
        let response = HandshakeError::Version.into_response();
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(
            response.headers().get(header::SEC_WEBSOCKET_VERSION),
            Some(&HeaderValue::from_static("13"))
        );
        for refused in [HandshakeError::Key, HandshakeError::NotUpgrade] {
            assert_eq!(refused.into_response().status(), StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn an_empty_subprotocol_header_is_tolerated() {
        // Older centrifuge-python sends `Sec-WebSocket-Protocol:` with no value.
        let mut headers = rfc_request();
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(""));
        assert!(handshake_accept(&headers).is_ok());
        assert_eq!(select_protocol(&headers, None), (Protocol::Json, None));
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
