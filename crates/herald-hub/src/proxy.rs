//! What the hub asks the application's backend: Centrifugo's proxies.
//!
//! A [`Proxy`] is one configured backend endpoint (HTTP or gRPC). The server crate implements
//! the trait (it owns the HTTP and gRPC clients, the header forwarding, `binary_encoding` and
//! the status-code transforms); the hub only decides *when* to ask and what the answer means:
//!
//! - connect: a client connects without a token ([`ClientOptions::connect_proxy`]);
//! - refresh: a connection whose `expire_at` passed, instead of waiting for a new token from
//!   the client ([`ClientOptions::refresh_proxy`]);
//! - subscribe, publish, sub_refresh: per namespace ([`ChannelOptions::subscribe_proxy`] and the
//!   fields beside it);
//! - rpc: per RPC namespace ([`RpcOptions`]).
//!
//! Each call answers a result, a client error (`{"error":{...}}`, sent to the client as is) or a
//! disconnect; a call that fails (backend down, timeout, garbage) is a [`ProxyError`], which the
//! client sees as error 100 (the implementation logs it, naming the proxy). Calls run inside the
//! session's command handling, so they keep the per-connection command order the SDK relies on,
//! and the connection task keeps draining the outbox meanwhile.
//!
//! [`ClientOptions::connect_proxy`]: crate::ClientOptions::connect_proxy
//! [`ClientOptions::refresh_proxy`]: crate::ClientOptions::refresh_proxy
//! [`ChannelOptions::subscribe_proxy`]: crate::ChannelOptions::subscribe_proxy
//! [`RpcOptions`]: crate::RpcOptions

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use herald_proto::Protocol;

use crate::{SubscribeOptionsClaim, SubscribeOverride};

/// One backend endpoint the hub can ask. Implemented by the server crate.
#[async_trait]
pub trait Proxy: Send + Sync + fmt::Debug + 'static {
    /// The proxy's name for logs: the `proxies[]` entry's name, or the section it came from.
    fn name(&self) -> &str;
    /// Decides a connection that came without a token.
    async fn connect(&self, request: ConnectProxyRequest) -> ProxyOutcome<ConnectProxyResult>;
    /// Extends (or ends) a connection whose expiry passed.
    async fn refresh(&self, request: RefreshProxyRequest) -> ProxyOutcome<RefreshProxyResult>;
    /// Decides a subscription.
    async fn subscribe(&self, request: SubscribeProxyRequest)
    -> ProxyOutcome<SubscribeProxyResult>;
    /// Decides (and may rewrite) a client's publication.
    async fn publish(&self, request: PublishProxyRequest) -> ProxyOutcome<PublishProxyResult>;
    /// Extends (or ends) a subscription whose expiry passed.
    async fn sub_refresh(
        &self,
        request: SubRefreshProxyRequest,
    ) -> ProxyOutcome<SubRefreshProxyResult>;
    /// Answers a client's RPC.
    async fn rpc(&self, request: RpcProxyRequest) -> ProxyOutcome<RpcProxyResult>;
    /// Opens a subscription stream (Centrifugo's subscribe stream proxy, gRPC
    /// `SubscribeUnidirectional`): the backend's decision, then publications for this
    /// subscriber alone. Only a gRPC proxy has streams.
    async fn subscribe_stream(
        &self,
        request: SubscribeProxyRequest,
    ) -> ProxyOutcome<SubscriptionStream> {
        let _ = request;
        Err(ProxyError::BadResponse(
            "subscribe streams need a grpc:// endpoint".to_owned(),
        ))
    }
}

/// An open subscription stream: what the backend decided, and the data of the publications
/// it streams to this one subscriber, in order. The receiver is bounded by the proxy (a full
/// one holds the backend's stream back); dropping it ends the stream.
#[derive(Debug)]
pub struct SubscriptionStream {
    /// The decision, as a subscribe proxy answers it.
    pub result: SubscribeProxyResult,
    /// Publications' data. Closed when the backend ends the stream (the client is
    /// unsubscribed with 2000); an `Err` item when it fails (2500: the SDK resubscribes).
    pub publications: tokio::sync::mpsc::Receiver<Result<Bytes, ProxyError>>,
}

/// What one proxy call gives: the backend's answer, or why there is none.
pub type ProxyOutcome<T> = Result<ProxyReply<T>, ProxyError>;

/// The backend's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyReply<T> {
    /// `{"result":{...}}`.
    Result(T),
    /// `{"error":{"code","message","temporary"}}`, or an HTTP status that
    /// `status_to_code_transforms` maps to an error: sent to the client as is.
    Error(ProxyClientError),
    /// `{"disconnect":{"code","reason"}}`, or a status mapped to a disconnect: the connection
    /// closes with it.
    Disconnect(crate::Disconnect),
}

/// An error the backend chose for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyClientError {
    /// Protocol error code (the client sees it in `error.code`).
    pub code: u32,
    /// Message for the client.
    pub message: String,
    /// Whether the SDK may retry.
    pub temporary: bool,
}

/// Why a proxy call has no answer. The client gets error 100; the hub logs the proxy's name
/// and this error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The backend could not be reached (connection refused, reset, DNS).
    #[error("backend unreachable: {0}")]
    Unreachable(String),
    /// No answer within the proxy's `timeout`.
    #[error("backend did not answer in time")]
    Timeout,
    /// An answer that is not a valid proxy response (bad status, bad JSON, bad Protobuf).
    #[error("bad response from backend: {0}")]
    BadResponse(String),
}

/// What every proxy request carries about the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyContext {
    /// Connection id.
    pub client: String,
    /// Transport name as Centrifugo spells it: `websocket`, `http_stream`, `sse`,
    /// `uni_websocket`, `uni_http_stream`, `uni_sse`, `uni_grpc`.
    pub transport: &'static str,
    /// The connection's protocol (`json` or `protobuf` on the wire).
    pub protocol: Protocol,
    /// User id; empty for connect and for anonymous connections.
    pub user: String,
    /// The connection's `meta` (from the token or the connect proxy); the proxy sends it only
    /// when `include_connection_meta` is on. Empty when none.
    pub meta: Bytes,
    /// Headers of the client's HTTP request (WebSocket upgrade, stream request) that some proxy
    /// forwards, names lower-case. The transport captures only the names some proxy lists in
    /// `http_headers`; each proxy sends the ones it lists. For a `uni_grpc` connection: the
    /// request's gRPC metadata, which proxies forward by their `grpc_metadata` list instead.
    pub headers: Arc<[(String, String)]>,
    /// Headers the client sent inside its connect command (headers emulation), names
    /// lower-case; each proxy sends the ones it lists in `emulated_headers`.
    pub emulated_headers: Arc<[(String, String)]>,
}

/// Connect proxy request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectProxyRequest {
    /// The connection (no user yet).
    pub context: ProxyContext,
    /// `ConnectRequest.data`.
    pub data: Bytes,
    /// `ConnectRequest.name` (the SDK's name).
    pub name: String,
    /// `ConnectRequest.version` (the SDK's version).
    pub version: String,
    /// Channels a unidirectional client asked for (the keys of `ConnectRequest.subs`).
    pub channels: Vec<String>,
}

/// Connect proxy result: who the connection is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectProxyResult {
    /// User id (`""` is anonymous).
    pub user: String,
    /// Connection expiry, Unix seconds; `None` (0 on the wire) for none.
    pub expire_at: Option<i64>,
    /// Connection info, shown in presence and publications.
    pub info: Bytes,
    /// Data for the connect reply (`ConnectResult.data`).
    pub data: Bytes,
    /// Server-side subscriptions.
    pub channels: Vec<String>,
    /// Server-side subscriptions with options; take priority over `channels`.
    pub subs: HashMap<String, SubscribeOptionsClaim>,
    /// Server-only JSON kept with the connection for later proxy calls.
    pub meta: Bytes,
}

/// Refresh proxy request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshProxyRequest {
    /// The connection.
    pub context: ProxyContext,
}

/// Refresh proxy result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshProxyResult {
    /// The connection is over: close it with 3005 "expired".
    pub expired: bool,
    /// New expiry, Unix seconds; `None` (0 on the wire) for none.
    pub expire_at: Option<i64>,
    /// New connection info, when given.
    pub info: Option<Bytes>,
    /// New meta, when given.
    pub meta: Option<Bytes>,
}

/// Subscribe proxy request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeProxyRequest {
    /// The connection.
    pub context: ProxyContext,
    /// Channel.
    pub channel: String,
    /// `SubscribeRequest.token` (empty when none).
    pub token: String,
    /// `SubscribeRequest.data`.
    pub data: Bytes,
}

/// Subscribe proxy result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeProxyResult {
    /// Subscription expiry, Unix seconds; `None` (0 on the wire) for none.
    pub expire_at: Option<i64>,
    /// Channel info.
    pub info: Bytes,
    /// Data for the subscribe reply.
    pub data: Bytes,
    /// Overrides of namespace options for this subscription.
    pub overrides: SubscribeOverride,
}

/// Publish proxy request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishProxyRequest {
    /// The connection.
    pub context: ProxyContext,
    /// Channel.
    pub channel: String,
    /// What the client publishes.
    pub data: Bytes,
}

/// Publish proxy result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishProxyResult {
    /// Replacement data; `None` publishes what the client sent.
    pub data: Option<Bytes>,
    /// Publish without saving to history.
    pub skip_history: bool,
}

/// Sub-refresh proxy request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubRefreshProxyRequest {
    /// The connection.
    pub context: ProxyContext,
    /// Channel.
    pub channel: String,
}

/// Sub-refresh proxy result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubRefreshProxyResult {
    /// The subscription is over: the client is unsubscribed (unsubscribe push 2501, expired).
    pub expired: bool,
    /// New expiry, Unix seconds; `None` (0 on the wire) for none.
    pub expire_at: Option<i64>,
    /// New channel info, when given.
    pub info: Option<Bytes>,
}

/// RPC proxy request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcProxyRequest {
    /// The connection.
    pub context: ProxyContext,
    /// `RpcRequest.method`.
    pub method: String,
    /// `RpcRequest.data`.
    pub data: Bytes,
}

/// RPC proxy result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpcProxyResult {
    /// Data for the RPC reply.
    pub data: Bytes,
}
