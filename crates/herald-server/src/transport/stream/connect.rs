//! Opening a streamed connection: check the request, build the session, spawn its driver and
//! answer with the streaming response.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use herald_hub::TransportKind;
use herald_proto::{ConnectRequest, Protocol};
use http::{HeaderMap, HeaderValue, Method, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::StreamTransports;
use super::driver::{CHUNKS_IN_FLIGHT, Driver, Framing, Start, StreamBody};
use crate::transport::client_ip::client_ip;
use crate::transport::cors::Cors;
use crate::transport::proxy_headers::kept;
use crate::transport::refusal::Refusal;

/// The query parameter that carries the connect request of a GET (an `EventSource` has no
/// body).
#[derive(Debug, Default, Deserialize)]
pub(super) struct ConnectQuery {
    cf_connect: Option<String>,
}

type Shared = State<Arc<StreamTransports>>;

/// `POST /connection/http_stream`: the body is the connect frame.
pub(super) async fn http_stream(
    State(t): Shared,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    with_cors(&t, &headers, async {
        let protocol = body_protocol(&headers)?;
        let frame = read_body(body, t.settings.http_stream.max_request_body_size).await?;
        let framing = match protocol {
            Protocol::Json => Framing::Lines,
            Protocol::Protobuf => Framing::LengthPrefixed,
        };
        let opened = Opened {
            transport: "http_stream",
            framing,
            start: Start::Frame(frame),
            proxy_headers: kept(&headers, t.hub.proxy_header_names()),
            ip: client_ip(&t.hub, &headers, remote),
        };
        open(&t, opened, remote)
    })
    .await
}

/// `GET /connection/sse?cf_connect=<frame>` or `POST` with the frame as the body. JSON only.
pub(super) async fn sse(
    State(t): Shared,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    method: Method,
    query: Result<Query<ConnectQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    with_cors(&t, &headers, async {
        let limit = t.settings.sse.max_request_body_size;
        let frame = connect_data(method, query, &headers, body, limit)
            .await?
            .ok_or_else(|| Refusal::BadRequest("missing cf_connect".to_owned()))?;
        let opened = Opened {
            transport: "sse",
            framing: Framing::Events,
            start: Start::Frame(frame),
            proxy_headers: kept(&headers, t.hub.proxy_header_names()),
            ip: client_ip(&t.hub, &headers, remote),
        };
        open(&t, opened, remote)
    })
    .await
}

/// `POST /connection/uni_http_stream` with a `ConnectRequest` as the body.
pub(super) async fn uni_http_stream(
    State(t): Shared,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    with_cors(&t, &headers, async {
        if body_protocol(&headers)? == Protocol::Protobuf {
            return Err(Refusal::JsonOnly);
        }
        let limit = t.settings.uni_http_stream.max_request_body_size;
        let request = connect_request(&read_body(body, limit).await?)?;
        let opened = Opened {
            transport: "uni_http_stream",
            framing: Framing::Lines,
            start: Start::Connect(Box::new(request)),
            proxy_headers: kept(&headers, t.hub.proxy_header_names()),
            ip: client_ip(&t.hub, &headers, remote),
        };
        open(&t, opened, remote)
    })
    .await
}

/// `GET /connection/uni_sse[?cf_connect=<ConnectRequest JSON>]` or `POST` with it as the body.
pub(super) async fn uni_sse(
    State(t): Shared,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    method: Method,
    query: Result<Query<ConnectQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    with_cors(&t, &headers, async {
        let limit = t.settings.uni_sse.max_request_body_size;
        let request = match connect_data(method, query, &headers, body, limit).await? {
            Some(data) => connect_request(&data)?,
            // A GET without `cf_connect` is an anonymous connect with nothing to recover.
            None => ConnectRequest::default(),
        };
        let opened = Opened {
            transport: "uni_sse",
            framing: Framing::Events,
            start: Start::Connect(Box::new(request)),
            proxy_headers: kept(&headers, t.hub.proxy_header_names()),
            ip: client_ip(&t.hub, &headers, remote),
        };
        open(&t, opened, remote)
    })
    .await
}

/// Preflight of an endpoint taking POST.
pub(super) async fn preflight_post(State(t): Shared, headers: HeaderMap) -> Response {
    match Cors::check(&t.origins, &headers) {
        Ok(cors) => cors.preflight("POST, OPTIONS"),
        Err(refused) => refused.into_response(),
    }
}

/// Preflight of an endpoint taking GET and POST.
pub(super) async fn preflight_get_post(State(t): Shared, headers: HeaderMap) -> Response {
    match Cors::check(&t.origins, &headers) {
        Ok(cors) => cors.preflight("GET, POST, OPTIONS"),
        Err(refused) => refused.into_response(),
    }
}

/// Checks the request's origin, then answers with what `handle` gives (or its refusal), with
/// the CORS headers the origin earns.
pub(super) async fn with_cors(
    t: &StreamTransports,
    headers: &HeaderMap,
    handle: impl Future<Output = Result<Response, Refusal>>,
) -> Response {
    match Cors::check(&t.origins, headers) {
        Ok(cors) => cors.apply(handle.await.unwrap_or_else(IntoResponse::into_response)),
        Err(refused) => refused.into_response(),
    }
}

/// A connection about to open. Its protocol follows from the framing (Protobuf only
/// length-prefixed) and its kind from what starts it (a command frame: emulation; a connect
/// request: unidirectional).
struct Opened {
    transport: &'static str,
    framing: Framing,
    start: Start,
    /// Request headers proxies forward.
    proxy_headers: Vec<(String, String)>,
    /// The client IP the per-IP limits count.
    ip: IpAddr,
}

impl Opened {
    fn protocol(&self) -> Protocol {
        match self.framing {
            Framing::LengthPrefixed | Framing::Messages => Protocol::Protobuf,
            Framing::Lines | Framing::Events => Protocol::Json,
        }
    }

    fn kind(&self) -> TransportKind {
        match self.start {
            Start::Frame(_) => TransportKind::Emulation,
            Start::Connect(_) => TransportKind::Unidirectional,
        }
    }
}

/// Spawns the connection's driver and answers with its stream.
fn open(t: &StreamTransports, mut opened: Opened, remote: SocketAddr) -> Result<Response, Refusal> {
    if t.hub.is_shutting_down() {
        return Err(Refusal::ShuttingDown);
    }
    let permit = t
        .hub
        .admit_connection(opened.ip)
        .map_err(Refusal::Limited)?;
    let mut session = t.hub.session_for(opened.protocol(), opened.kind());
    session.set_transport_name(opened.transport);
    session.outbox().set_remote_ip(remote.ip());
    session.set_proxy_headers(std::mem::take(&mut opened.proxy_headers));
    // Only emulated sessions take commands from /emulation; a unidirectional one has none.
    let inbox = match opened.kind() {
        TransportKind::Emulation => t.hub.open_emulation(&session),
        _ => None,
    };
    let span = tracing::debug_span!(
        "client",
        client = %session.client_id(),
        transport = opened.transport,
        %remote
    );
    span.in_scope(|| tracing::debug!(protocol = ?opened.protocol(), "connection opened"));
    let (sender, chunks) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let driver = Driver {
        session,
        inbox,
        framing: opened.framing,
        start: opened.start,
        chunks: sender,
    };
    // The permit lives as long as the connection's task.
    t.tracker.spawn(
        async move {
            let _permit = permit;
            driver.run().await;
        }
        .instrument(span),
    );

    let content_type = match opened.framing {
        Framing::Events => "text/event-stream; charset=utf-8",
        Framing::Lines => "application/json",
        Framing::LengthPrefixed | Framing::Messages => "application/octet-stream",
    };
    let mut response = Response::new(Body::new(StreamBody { chunks }));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Proxies (nginx) must pass each chunk on at once.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache, no-store, must-revalidate, max-age=0"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(header::EXPIRES, HeaderValue::from_static("0"));
    Ok(response)
}

/// The protocol a request body is in, from its `Content-Type`: Protobuf for
/// `application/octet-stream`; JSON for JSON, text, none, or `application/x-www-form-urlencoded`
/// (what `curl --data` sends unless told otherwise; Centrifugo reads it as JSON too); anything
/// else (a multipart form, an image) is refused with 415 rather than read as garbage.
pub(super) fn body_protocol(headers: &HeaderMap) -> Result<Protocol, Refusal> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(Protocol::Json);
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/octet-stream" => Ok(Protocol::Protobuf),
        "" | "application/json" | "text/plain" | "application/x-www-form-urlencoded" => {
            Ok(Protocol::Json)
        }
        _ => Err(Refusal::ContentType(essence)),
    }
}

/// The whole body, at most `limit` bytes (over it: 413).
pub(super) async fn read_body(body: Body, limit: usize) -> Result<Bytes, Refusal> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(Refusal::TooLarge(limit))
        }
        Err(err) => {
            tracing::debug!(%err, "request body not read");
            Err(Refusal::BadRequest("request body not read".to_owned()))
        }
    }
}

/// The connect data of an SSE request: `cf_connect` of a GET, the body of a POST.
async fn connect_data(
    method: Method,
    query: Result<Query<ConnectQuery>, QueryRejection>,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Option<Bytes>, Refusal> {
    if method == Method::POST {
        if body_protocol(headers)? == Protocol::Protobuf {
            return Err(Refusal::JsonOnly);
        }
        return read_body(body, limit).await.map(Some);
    }
    let Query(query) = query.map_err(|err| Refusal::BadRequest(err.body_text()))?;
    match query.cf_connect {
        Some(data) if data.len() > limit => Err(Refusal::TooLarge(limit)),
        Some(data) => Ok(Some(Bytes::from(data))),
        None => Ok(None),
    }
}

/// A unidirectional client's connect request (JSON); malformed: 400.
fn connect_request(data: &[u8]) -> Result<ConnectRequest, Refusal> {
    herald_proto::decode_message::<ConnectRequest>(Protocol::Json, data).map_err(|err| {
        tracing::info!(%err, "malformed connect request");
        Refusal::BadRequest(format!("malformed connect request: {err}"))
    })
}
