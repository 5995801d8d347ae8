//! Proxies: the application's backend asked over HTTP or gRPC, as Centrifugo does
//! (`docs/protocol.md` §10).
//!
//! Configuration validation builds one [`ProxySettings`] per distinct proxy section and turns it
//! into a `herald_hub::Proxy` with [`build`]; the hub calls it. What happens on a call:
//!
//! 1. `request.rs` turns the hub's request into the `proxy.proto` message: which of `data` and
//!    `b64data` carries the payload, `encoding`, `meta` only with `include_connection_meta`.
//! 2. A [`Backend`] sends it: `http.rs` POSTs the JSON form (`json.rs`) to the endpoint,
//!    forwarding the configured headers and applying `status_to_code_transforms`; `grpc.rs`
//!    calls `centrifugal.centrifugo.proxy.CentrifugoProxy` with the headers as metadata. Both
//!    bound the whole call by the proxy's `timeout`.
//! 3. `reply.rs` turns the answer (result, error or disconnect) into the hub's result type,
//!    decoding `b64info` / `b64data`.
//!
//! A call without an answer is a `ProxyError` (the client gets error 100) and a warning that
//! names the proxy, the call and the error.

mod grpc;
mod http;
mod json;
mod reply;
mod request;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use herald_grpc::proxy as pb;
use herald_hub::{
    ConnectProxyRequest, ConnectProxyResult, Disconnect, Proxy, ProxyClientError, ProxyContext,
    ProxyError, ProxyOutcome, ProxyReply, PublishProxyRequest, PublishProxyResult,
    RefreshProxyRequest, RefreshProxyResult, RpcProxyRequest, RpcProxyResult,
    SubRefreshProxyRequest, SubRefreshProxyResult, SubscribeProxyRequest, SubscribeProxyResult,
    SubscriptionStream,
};

use crate::telemetry::{self, ProxyReplyKind, Span};

/// One proxy as validated from its configuration section.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProxySettings {
    /// For logs: the `proxies[]` name, or the section (`client.proxy.connect`, ...).
    pub(crate) name: String,
    /// Where calls go.
    pub(crate) target: Target,
    /// Limit of one call, connection included.
    pub(crate) timeout: Duration,
    /// Transport headers forwarded (`http_headers`), lower-case.
    pub(crate) http_headers: Vec<String>,
    /// Headers from the client's headers emulation forwarded (`emulated_headers`), lower-case.
    pub(crate) emulated_headers: Vec<String>,
    /// Metadata of a `uni_grpc` connection forwarded (`grpc_metadata`), lower-case.
    pub(crate) grpc_metadata: Vec<String>,
    /// Payloads always as `b64data` (`binary_encoding`).
    pub(crate) binary_encoding: bool,
    /// Send the connection's `meta` (`include_connection_meta`); never for connect.
    pub(crate) include_connection_meta: bool,
    /// `http.static_headers` or `grpc.static_metadata`, names lower-case.
    pub(crate) static_headers: Vec<(String, String)>,
    /// `http.status_to_code_transforms`.
    pub(crate) status_transforms: Vec<StatusTransform>,
    /// `grpc.credentials_key` (lower-case) and `grpc.credentials_value`.
    pub(crate) credentials: Option<(String, String)>,
}

/// Where a proxy's calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `http://` or `https://`: a JSON POST to this URL.
    Http(reqwest::Url),
    /// `grpc://host:port`: plain-text HTTP/2 to this authority (`host:port`).
    Grpc(String),
}

impl Target {
    /// The URL or `host:port` calls go to, for spans.
    fn endpoint(&self) -> &str {
        match self {
            Target::Http(url) => url.as_str(),
            Target::Grpc(authority) => authority,
        }
    }
}

/// An HTTP status answered as a client error or a disconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusTransform {
    /// The backend's status.
    pub(crate) status: u16,
    /// What the client gets.
    pub(crate) to: StatusReply,
}

/// What a transformed status becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StatusReply {
    /// `to_error`.
    Error(ProxyClientError),
    /// `to_disconnect`.
    Disconnect(Disconnect),
}

/// The proxy for `settings`. `http` is the client every HTTP proxy shares (one connection
/// pool); a gRPC proxy connects on its first call, so a backend that is down at start-up does
/// not stop the server.
pub(crate) fn build(settings: ProxySettings, http: &reqwest::Client) -> Arc<dyn Proxy> {
    match settings.target.clone() {
        Target::Http(url) => Arc::new(Caller(http::HttpBackend::new(settings, url, http.clone()))),
        Target::Grpc(authority) => Arc::new(Caller(grpc::GrpcBackend::new(settings, authority))),
    }
}

/// What a backend answered, before conversion to the hub's types. Centrifugo reads a
/// disconnect first, then an error, then the result (which may be missing).
#[derive(Debug)]
enum Answer<R> {
    Result(Option<R>),
    Error(pb::Error),
    Disconnect(pb::Disconnect),
}

type Answered<R> = Result<Answer<R>, ProxyError>;

/// A way to reach the backend: one method per call, taking the `proxy.proto` request.
trait Backend: Send + Sync + fmt::Debug + 'static {
    fn settings(&self) -> &ProxySettings;
    /// Whether `data` goes as `b64data` rather than `data`.
    fn base64(&self, data: &[u8]) -> bool;
    fn connect(
        &self,
        context: &ProxyContext,
        request: pb::ConnectRequest,
    ) -> impl Future<Output = Answered<pb::ConnectResult>> + Send;
    fn refresh(
        &self,
        context: &ProxyContext,
        request: pb::RefreshRequest,
    ) -> impl Future<Output = Answered<pb::RefreshResult>> + Send;
    fn subscribe(
        &self,
        context: &ProxyContext,
        request: pb::SubscribeRequest,
    ) -> impl Future<Output = Answered<pb::SubscribeResult>> + Send;
    fn publish(
        &self,
        context: &ProxyContext,
        request: pb::PublishRequest,
    ) -> impl Future<Output = Answered<pb::PublishResult>> + Send;
    fn sub_refresh(
        &self,
        context: &ProxyContext,
        request: pb::SubRefreshRequest,
    ) -> impl Future<Output = Answered<pb::SubRefreshResult>> + Send;
    fn rpc(
        &self,
        context: &ProxyContext,
        request: pb::RpcRequest,
    ) -> impl Future<Output = Answered<pb::RpcResult>> + Send;
    /// Opens a subscription stream: the first message's subscribe answer and, when it allows
    /// the subscription, the receiver of the publications that follow. Only gRPC has streams;
    /// configuration refuses a stream proxy with another endpoint.
    fn subscribe_stream(
        &self,
        context: &ProxyContext,
        request: pb::SubscribeRequest,
    ) -> impl Future<Output = Result<Opened, ProxyError>> + Send {
        let _ = (context, request);
        async {
            Err(ProxyError::BadResponse(
                "subscribe streams need a grpc:// endpoint".to_owned(),
            ))
        }
    }
}

/// A subscription stream as a backend opened it.
type Opened = (
    Answer<pb::SubscribeResult>,
    Option<tokio::sync::mpsc::Receiver<Result<bytes::Bytes, ProxyError>>>,
);

/// The hub's [`Proxy`] over a [`Backend`]: builds requests, converts answers, logs failures.
#[derive(Debug)]
struct Caller<B>(B);

impl<B: Backend> Caller<B> {
    /// The span of one call, the child of a `traceparent` among the connection's headers.
    fn span(&self, call: &'static str, context: &ProxyContext) -> Span {
        let settings = self.0.settings();
        telemetry::proxy_span(call, &settings.name, settings.target.endpoint(), |name| {
            context
                .headers
                .iter()
                .find(|(header, _)| header == name)
                .map(|(_, value)| value.as_str())
        })
    }

    fn finish<R, T>(
        &self,
        call: &'static str,
        started: Instant,
        answered: Answered<R>,
        convert: impl FnOnce(Option<R>) -> Result<T, ProxyError>,
        span: &Span,
    ) -> ProxyOutcome<T> {
        let outcome = answered.and_then(|answer| match answer {
            Answer::Disconnect(disconnect) => reply::disconnect(disconnect),
            Answer::Error(error) => Ok(ProxyReply::Error(reply::error(error))),
            Answer::Result(result) => convert(result).map(ProxyReply::Result),
        });
        match &outcome {
            Ok(ProxyReply::Result(_)) => span.proxy_reply(ProxyReplyKind::Result),
            Ok(ProxyReply::Error(error)) => span.proxy_reply(ProxyReplyKind::Error(error.code)),
            Ok(ProxyReply::Disconnect(disconnect)) => {
                span.proxy_reply(ProxyReplyKind::Disconnect(u32::from(disconnect.code)));
            }
            Err(error) => span.fail(None, &error.to_string()),
        }
        if let Some(m) = herald_hub::metrics() {
            let settings = self.0.settings();
            let protocol = match settings.target {
                Target::Http(_) => "http",
                Target::Grpc(_) => "grpc",
            };
            let key = (protocol, call, settings.name.clone());
            if outcome.is_err() {
                m.proxy_errors.inc(key.clone());
            }
            m.proxy_duration.observe(key, started.elapsed());
        }
        if let Err(error) = &outcome {
            tracing::warn!(proxy = %self.0.settings().name, call, %error, "proxy call failed");
        }
        outcome
    }
}

#[async_trait]
impl<B: Backend> Proxy for Caller<B> {
    fn name(&self) -> &str {
        &self.0.settings().name
    }

    async fn connect(&self, request: ConnectProxyRequest) -> ProxyOutcome<ConnectProxyResult> {
        let message = request::connect(&request, |data| self.0.base64(data));
        let started = Instant::now();
        let span = self.span("connect", &request.context);
        let answered = span.run(self.0.connect(&request.context, message)).await;
        match self.finish("connect", started, answered, reply::connect, &span) {
            // Centrifugo answers a connect result without credentials with 3501 (the
            // connection has no user), as its library does.
            Ok(ProxyReply::Result(None)) => Ok(ProxyReply::Disconnect(reply::no_credentials())),
            Ok(ProxyReply::Result(Some(result))) => Ok(ProxyReply::Result(result)),
            Ok(ProxyReply::Error(error)) => Ok(ProxyReply::Error(error)),
            Ok(ProxyReply::Disconnect(disconnect)) => Ok(ProxyReply::Disconnect(disconnect)),
            Err(error) => Err(error),
        }
    }

    async fn refresh(&self, request: RefreshProxyRequest) -> ProxyOutcome<RefreshProxyResult> {
        let message = request::refresh(&request, self.0.settings());
        let started = Instant::now();
        let span = self.span("refresh", &request.context);
        let answered = span.run(self.0.refresh(&request.context, message)).await;
        self.finish("refresh", started, answered, reply::refresh, &span)
    }

    async fn subscribe(
        &self,
        request: SubscribeProxyRequest,
    ) -> ProxyOutcome<SubscribeProxyResult> {
        let message = request::subscribe(&request, self.0.settings(), |data| self.0.base64(data));
        let started = Instant::now();
        let span = self.span("subscribe", &request.context);
        let answered = span.run(self.0.subscribe(&request.context, message)).await;
        self.finish("subscribe", started, answered, reply::subscribe, &span)
    }

    async fn publish(&self, request: PublishProxyRequest) -> ProxyOutcome<PublishProxyResult> {
        let message = request::publish(&request, self.0.settings(), |data| self.0.base64(data));
        let started = Instant::now();
        let span = self.span("publish", &request.context);
        let answered = span.run(self.0.publish(&request.context, message)).await;
        self.finish("publish", started, answered, reply::publish, &span)
    }

    async fn sub_refresh(
        &self,
        request: SubRefreshProxyRequest,
    ) -> ProxyOutcome<SubRefreshProxyResult> {
        let message = request::sub_refresh(&request, self.0.settings());
        let started = Instant::now();
        let span = self.span("sub_refresh", &request.context);
        let answered = span
            .run(self.0.sub_refresh(&request.context, message))
            .await;
        self.finish("sub_refresh", started, answered, reply::sub_refresh, &span)
    }

    async fn rpc(&self, request: RpcProxyRequest) -> ProxyOutcome<RpcProxyResult> {
        let message = request::rpc(&request, self.0.settings(), |data| self.0.base64(data));
        let started = Instant::now();
        let span = self.span("rpc", &request.context);
        let answered = span.run(self.0.rpc(&request.context, message)).await;
        self.finish("rpc", started, answered, reply::rpc, &span)
    }

    async fn subscribe_stream(
        &self,
        request: SubscribeProxyRequest,
    ) -> ProxyOutcome<SubscriptionStream> {
        let message = request::subscribe(&request, self.0.settings(), |data| self.0.base64(data));
        let started = Instant::now();
        let span = self.span("subscribe_stream", &request.context);
        let (answered, publications) = match span
            .run(self.0.subscribe_stream(&request.context, message))
            .await
        {
            Ok((answer, publications)) => (Ok(answer), publications),
            Err(error) => (Err(error), None),
        };
        match self.finish(
            "subscribe_stream",
            started,
            answered,
            reply::subscribe,
            &span,
        )? {
            ProxyReply::Result(result) => match publications {
                Some(publications) => Ok(ProxyReply::Result(SubscriptionStream {
                    result,
                    publications,
                })),
                None => Err(ProxyError::BadResponse(
                    "the stream ended with its first message".to_owned(),
                )),
            },
            ProxyReply::Error(error) => Ok(ProxyReply::Error(error)),
            ProxyReply::Disconnect(disconnect) => Ok(ProxyReply::Disconnect(disconnect)),
        }
    }
}

/// Headers that belong to the connection to the backend, never forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The headers (or metadata) a call forwards, by lower-case name, as Centrifugo builds them:
/// the static ones first, then the allowed emulated headers, then the allowed transport
/// headers (`grpc_metadata` for a `uni_grpc` connection, `http_headers` otherwise), each
/// replacing what an earlier step set under the same name.
fn forwarded_headers(
    settings: &ProxySettings,
    context: &ProxyContext,
) -> BTreeMap<String, Vec<String>> {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &settings.static_headers {
        headers.insert(name.clone(), vec![value.clone()]);
    }
    for (name, value) in context.emulated_headers.iter() {
        let name = name.to_ascii_lowercase();
        if settings.emulated_headers.contains(&name) {
            headers.insert(name, vec![value.clone()]);
        }
    }
    let allowed = if context.transport == "uni_grpc" {
        &settings.grpc_metadata
    } else {
        &settings.http_headers
    };
    let mut replaced: Vec<String> = Vec::new();
    for (name, value) in context.headers.iter() {
        let name = name.to_ascii_lowercase();
        if !allowed.contains(&name) {
            continue;
        }
        if replaced.contains(&name) {
            headers.entry(name).or_default().push(value.clone());
        } else {
            replaced.push(name.clone());
            headers.insert(name, vec![value.clone()]);
        }
    }
    headers.retain(|name, _| !HOP_BY_HOP.contains(&name.as_str()));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_proto::Protocol;

    fn settings() -> ProxySettings {
        ProxySettings {
            name: "p".to_owned(),
            target: Target::Grpc("localhost:1".to_owned()),
            timeout: Duration::from_secs(1),
            http_headers: vec!["authorization".to_owned(), "x-multi".to_owned()],
            emulated_headers: vec!["authorization".to_owned(), "x-token".to_owned()],
            grpc_metadata: vec!["x-grpc".to_owned()],
            binary_encoding: false,
            include_connection_meta: false,
            static_headers: vec![
                ("x-static".to_owned(), "s".to_owned()),
                ("x-token".to_owned(), "static".to_owned()),
            ],
            status_transforms: Vec::new(),
            credentials: None,
        }
    }

    fn context(transport: &'static str) -> ProxyContext {
        let pairs = |list: &[(&str, &str)]| -> Arc<[(String, String)]> {
            list.iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect()
        };
        ProxyContext {
            client: "c".to_owned(),
            transport,
            protocol: Protocol::Json,
            user: String::new(),
            meta: bytes::Bytes::new(),
            headers: pairs(&[
                ("authorization", "transport"),
                ("x-multi", "1"),
                ("x-multi", "2"),
                ("x-grpc", "g"),
                ("cookie", "not listed"),
            ]),
            emulated_headers: pairs(&[("Authorization", "emulated"), ("X-Token", "t")]),
        }
    }

    #[test]
    fn transport_beats_emulated_beats_static() {
        let headers = forwarded_headers(&settings(), &context("websocket"));
        let expected: BTreeMap<String, Vec<String>> = [
            ("authorization", vec!["transport"]),
            ("x-multi", vec!["1", "2"]),
            ("x-static", vec!["s"]),
            ("x-token", vec!["t"]),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.into_iter().map(str::to_owned).collect()))
        .collect();
        assert_eq!(headers, expected);
    }

    #[test]
    fn uni_grpc_forwards_grpc_metadata_names() {
        let headers = forwarded_headers(&settings(), &context("uni_grpc"));
        assert_eq!(headers.get("x-grpc"), Some(&vec!["g".to_owned()]));
        assert_eq!(
            headers.get("authorization"),
            Some(&vec!["emulated".to_owned()])
        );
        assert!(!headers.contains_key("x-multi"));
    }
}
