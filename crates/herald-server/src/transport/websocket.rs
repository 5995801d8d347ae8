//! The bidirectional WebSocket transport on `/connection/websocket` (RFC 6455 through
//! `tokio-websockets`, upgraded from an axum/hyper request).
//!
//! JSON goes in text frames; Protobuf (subprotocol `centrifuge-protobuf`, or `?format=protobuf`
//! / `?cf_protocol=protobuf`) in binary frames. Each connection has two tasks: the reader owns the
//! [`Session`] and feeds it frames and events; the writer drains the session's outbox, writing
//! everything queued as one frame, and writes the close frame when the outbox is closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use herald_hub::{Drained, Flow, Hub, Outbox};
use herald_proto::Protocol;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio_util::task::TaskTracker;
use tokio_websockets::{CloseCode, Limits, Message, ServerBuilder};
use tracing::Instrument;

use crate::config::OriginPolicy;

/// How long a closing connection waits for the peer's close frame before dropping the socket.
/// Reading until then keeps the kernel from answering unread data with a reset that could
/// destroy our close frame in flight.
const CLOSE_LINGER: Duration = Duration::from_secs(5);

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
    let connection_transport = transport.clone();
    transport.tracker.spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let limits = Limits::default()
                    .max_payload_len(Some(connection_transport.message_size_limit));
                let stream = ServerBuilder::new()
                    .limits(limits)
                    .serve(TokioIo::new(upgraded));
                run_connection(&connection_transport, stream, protocol, remote).await;
            }
            Err(err) => tracing::debug!(%remote, %err, "websocket upgrade failed"),
        }
    });
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

async fn run_connection<S>(
    transport: &WebSocketTransport,
    stream: tokio_websockets::WebSocketStream<S>,
    protocol: Protocol,
    remote: SocketAddr,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut session = transport.hub.session(protocol);
    let span = tracing::debug_span!(
        "client",
        client = %session.client_id(),
        user = tracing::field::Empty,
        %remote
    );
    let outbox = session.outbox();
    let (sink, mut incoming) = stream.split();
    let writer = tokio::spawn(
        write_loop(sink, outbox.clone(), transport.write_timeout).instrument(span.clone()),
    );
    async {
        tracing::debug!(?protocol, "connection opened");
        let mut user_recorded = false;
        loop {
            tokio::select! {
                message = incoming.next() => match message {
                    Some(Ok(message)) if message.is_text() || message.is_binary() => {
                        let payload = Bytes::from(message.into_payload());
                        let flow = session.handle_frame(&payload).await;
                        if !user_recorded && session.is_connected() {
                            tracing::Span::current().record("user", session.user());
                            user_recorded = true;
                        }
                        if flow == Flow::Close {
                            break;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => {
                        tracing::debug!(%err, "websocket read failed");
                        break;
                    }
                    None => break,
                },
                event = session.next_event() => {
                    if session.handle_event(event).await == Flow::Close {
                        break;
                    }
                }
            }
        }
        session.close().await;
        let linger = async {
            let _ = writer.await;
            while incoming.next().await.is_some() {}
        };
        let _ = tokio::time::timeout(CLOSE_LINGER, linger).await;
        tracing::debug!("connection closed");
    }
    .instrument(span)
    .await;
}

/// Drains the outbox into frames until it is closed, then writes the close frame.
async fn write_loop<W>(mut sink: W, outbox: Arc<Outbox>, write_timeout: Duration)
where
    W: futures_util::Sink<Message, Error = tokio_websockets::Error> + Unpin,
{
    let protocol = outbox.protocol();
    loop {
        let (messages, close) = match outbox.drain().await {
            Drained::Messages(messages) => (messages, None),
            Drained::Close(messages, disconnect) => (messages, Some(disconnect)),
        };
        if !messages.is_empty() {
            let frame = join_frame(protocol, &messages);
            let message = match protocol {
                Protocol::Json => Message::text(frame),
                Protocol::Protobuf => Message::binary(frame),
            };
            match tokio::time::timeout(write_timeout, sink.send(message)).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::debug!(%err, "websocket write failed");
                    outbox.close(herald_proto::DisconnectCode::WRITE_ERROR.into());
                    return;
                }
                Err(_) => {
                    tracing::info!("websocket write timed out");
                    outbox.close(herald_proto::DisconnectCode::WRITE_ERROR.into());
                    return;
                }
            }
        }
        if let Some(disconnect) = close {
            let code = CloseCode::try_from(disconnect.code).ok();
            let close = Message::close(code, &disconnect.reason);
            let _ = tokio::time::timeout(write_timeout, sink.send(close)).await;
            return;
        }
    }
}

fn join_frame(protocol: Protocol, messages: &[Bytes]) -> Bytes {
    if let [only] = messages {
        return only.clone();
    }
    let size = messages.iter().map(|m| m.len() + 1).sum();
    let mut frame = BytesMut::with_capacity(size);
    for message in messages {
        herald_proto::append_to_frame(protocol, &mut frame, message);
    }
    frame.freeze()
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

    #[test]
    fn json_frames_join_with_single_newlines() {
        let frame = join_frame(
            Protocol::Json,
            &[Bytes::from_static(b"{}"), Bytes::from_static(b"{\"id\":1}")],
        );
        assert_eq!(&frame[..], b"{}\n{\"id\":1}");
    }
}
