//! The commands and timers that ask the application's backend (`crate::proxy`): connect
//! without a token, subscribe and publish in namespaces with a proxy, RPC, and the
//! server-side refresh of connections and subscriptions.
//!
//! Every call runs inside the session's command handling, so commands stay in order, and a
//! backend that fails (down, slow past its timeout, garbage) costs only this connection's
//! command: error 100 to the client and a warning with the proxy's name.

use std::sync::Arc;

use bytes::Bytes;
use herald_proto::{
    ConnectRequest, DisconnectCode, Reply, RpcRequest, RpcResult, SubscribeRequest,
};

use super::connect::Refused;
use super::subscribe::{Denied, Plan};
use super::{Control, Flow, Session, TransportKind};
use crate::node::now_unix_secs;
use crate::proxy::{
    ConnectProxyRequest, Proxy, ProxyClientError, ProxyContext, ProxyError, ProxyReply,
    PublishProxyRequest, RefreshProxyRequest, RpcProxyRequest, SubRefreshProxyRequest,
    SubscribeProxyRequest,
};
use crate::registry::tell_to_resubscribe;
use crate::{ChannelOptions, ConnectTokenClaims, HubError};

/// How the connection looks to proxies; kept only when something in it is worth keeping
/// (boxed so that connections without proxies pay one pointer).
#[derive(Debug, Default)]
pub(super) struct ProxyState {
    /// Transport name, when the transport kind's default is not it.
    pub(super) transport: Option<&'static str>,
    /// `meta` from the connection token or the connect proxy.
    pub(super) meta: Bytes,
    /// Request headers some proxy forwards (`http_headers`), captured by the transport.
    pub(super) headers: Option<Arc<[(String, String)]>>,
    /// Headers the client sent in its connect command (headers emulation).
    pub(super) emulated_headers: Option<Arc<[(String, String)]>>,
    /// Tasks forwarding subscription streams to the outbox, by channel; aborted when the
    /// subscription ends or the session goes (which drops the stream and so cancels the
    /// backend's call).
    pub(super) streams: Vec<(String, tokio::task::AbortHandle)>,
}

impl Drop for ProxyState {
    fn drop(&mut self) {
        for (_, task) in self.streams.drain(..) {
            task.abort();
        }
    }
}

/// The answer of a proxy call, once failures are logged and mapped.
pub(super) enum Answer<T> {
    Result(T),
    /// Send this error to the client (the backend's, or 100 for a failed call).
    Error(ProxyClientError),
    /// Close the connection with this.
    Disconnect(crate::Disconnect),
}

impl<T> Answer<T> {
    fn from_outcome(
        outcome: Result<ProxyReply<T>, ProxyError>,
        proxy: &dyn Proxy,
        call: &'static str,
        client: &str,
    ) -> Self {
        match outcome {
            Ok(ProxyReply::Result(result)) => Self::Result(result),
            Ok(ProxyReply::Error(error)) => Self::Error(error),
            Ok(ProxyReply::Disconnect(disconnect)) => Self::Disconnect(disconnect),
            Err(err) => {
                // The proxy has logged the failure with its details as a warning already.
                tracing::debug!(proxy = proxy.name(), call, client, %err, "proxy request failed: error 100");
                Self::Error(internal_error())
            }
        }
    }
}

/// The publications of a subscription stream, as the proxy hands them over.
type StreamReceiver = tokio::sync::mpsc::Receiver<Result<Bytes, ProxyError>>;

/// Error 100, as the client sees a failed proxy call.
fn internal_error() -> ProxyClientError {
    let code = HubError::Internal.code();
    ProxyClientError {
        code: code.code,
        message: code.message.to_owned(),
        temporary: code.temporary,
    }
}

impl Session {
    /// Keeps the request headers that proxies forward; the transport calls it before the
    /// connect command, with only the names some proxy lists in `http_headers`.
    pub fn set_proxy_headers(&mut self, headers: Vec<(String, String)>) {
        if headers.is_empty() {
            return;
        }
        self.proxy_state().headers = Some(headers.into());
    }

    /// Names this connection's transport as Centrifugo does in proxy requests
    /// (`websocket`, `http_stream`, `sse`, `uni_websocket`, ...). Without a call the name
    /// follows the transport kind: `websocket`, `http_stream`, `uni_websocket`.
    pub fn set_transport_name(&mut self, name: &'static str) {
        self.outbox.set_transport(name);
        if name != self.default_transport_name() {
            self.proxy_state().transport = Some(name);
        }
    }

    /// The transport's name, as proxies and metrics see it.
    pub(super) fn transport_name(&self) -> &'static str {
        self.proxy
            .as_deref()
            .and_then(|s| s.transport)
            .unwrap_or_else(|| self.default_transport_name())
    }

    fn default_transport_name(&self) -> &'static str {
        default_transport_name(self.kind)
    }

    fn proxy_state(&mut self) -> &mut ProxyState {
        self.proxy.get_or_insert_with(Default::default)
    }

    pub(super) fn proxy_context(&self) -> ProxyContext {
        let state = self.proxy.as_deref();
        let empty = || Arc::from(Vec::new());
        ProxyContext {
            client: self.client.to_string(),
            transport: self.transport_name(),
            protocol: self.protocol,
            user: self.user.to_string(),
            meta: state.map(|s| s.meta.clone()).unwrap_or_default(),
            headers: state.and_then(|s| s.headers.clone()).unwrap_or_else(empty),
            emulated_headers: state
                .and_then(|s| s.emulated_headers.clone())
                .unwrap_or_else(empty),
        }
    }

    /// Keeps the headers of the connect command (headers emulation) that some proxy forwards,
    /// whichever way the connection authenticates: later proxy calls send them too.
    pub(super) fn keep_emulated_headers(&mut self, request: &ConnectRequest) {
        if request.headers.is_empty() {
            return;
        }
        let hub = self.hub.clone();
        let wanted = &hub.shared.options.client.proxy_emulated_headers;
        let mut headers: Vec<(String, String)> = request
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
            .filter(|(name, _)| wanted.contains(name))
            .collect();
        if headers.is_empty() {
            return;
        }
        headers.sort();
        self.proxy_state().emulated_headers = Some(headers.into());
    }

    pub(super) fn set_meta(&mut self, meta: Bytes) {
        if meta.is_empty() && self.proxy.is_none() {
            return;
        }
        self.proxy_state().meta = meta;
    }

    /// Who the connection is, asked of the connect proxy (the client sent no token). Also
    /// gives the data for the connect reply.
    pub(super) async fn connect_via_proxy(
        &mut self,
        proxy: Arc<dyn Proxy>,
        request: &ConnectRequest,
    ) -> Result<(ConnectTokenClaims, Bytes), Refused> {
        let call = ConnectProxyRequest {
            context: self.proxy_context(),
            data: request.data.clone(),
            name: request.name.clone(),
            version: request.version.clone(),
            channels: request.subs.keys().cloned().collect(),
        };
        let outcome = proxy.connect(call).await;
        match Answer::from_outcome(outcome, &*proxy, "connect", &self.client) {
            Answer::Result(result) => {
                let claims = ConnectTokenClaims {
                    user: result.user,
                    expire_at: result.expire_at.filter(|at| *at > 0),
                    info: result.info,
                    channels: result.channels,
                    subs: result.subs,
                    meta: result.meta,
                };
                Ok((claims, result.data))
            }
            Answer::Error(error) => Err(Refused::Custom(error)),
            Answer::Disconnect(disconnect) => Err(Refused::Close(disconnect)),
        }
    }

    /// The subscription as the namespace's subscribe proxy decides it. As in Centrifugo, the
    /// proxy's answer replaces the permission checks, and the client's wishes for recovery,
    /// positioning and join/leave pushes give way to the namespace's `force_*` options and the
    /// answer's overrides.
    pub(super) async fn subscribe_via_proxy(
        &self,
        proxy: Arc<dyn Proxy>,
        request: &SubscribeRequest,
        options: &ChannelOptions,
    ) -> Result<Plan, Denied> {
        let call = SubscribeProxyRequest {
            context: self.proxy_context(),
            channel: request.channel.clone(),
            token: request.token.clone(),
            data: request.data.clone(),
        };
        let outcome = proxy.subscribe(call).await;
        match Answer::from_outcome(outcome, &*proxy, "subscribe", &self.client) {
            Answer::Result(result) => {
                if result
                    .expire_at
                    .is_some_and(|at| at > 0 && at <= now_unix_secs())
                {
                    return Err(Denied::Error(HubError::Expired));
                }
                let mut plan =
                    Plan::new(&request.channel, options, &result.overrides, false, false);
                plan.chan_info = result.info;
                plan.data = result.data;
                plan.expire_at = result.expire_at.filter(|at| *at > 0);
                Ok(plan)
            }
            Answer::Error(error) => Err(Denied::Custom(error)),
            Answer::Disconnect(disconnect) => Err(Denied::Close(disconnect)),
        }
    }

    /// A client publication as the namespace's publish proxy decides it: the data to publish
    /// (the backend may rewrite it) and whether to skip history; otherwise the refusal.
    pub(super) async fn publish_via_proxy(
        &self,
        proxy: Arc<dyn Proxy>,
        channel: &str,
        data: Bytes,
    ) -> Result<(Bytes, bool), Answer<std::convert::Infallible>> {
        let call = PublishProxyRequest {
            context: self.proxy_context(),
            channel: channel.to_owned(),
            data: data.clone(),
        };
        let outcome = proxy.publish(call).await;
        match Answer::from_outcome(outcome, &*proxy, "publish", &self.client) {
            Answer::Result(result) => Ok((result.data.unwrap_or(data), result.skip_history)),
            Answer::Error(error) => Err(Answer::Error(error)),
            Answer::Disconnect(disconnect) => Err(Answer::Disconnect(disconnect)),
        }
    }

    /// The subscription as the namespace's subscribe stream proxy decides it, with the
    /// stream of its publications (forwarded once the subscription is active).
    pub(super) async fn subscribe_via_stream_proxy(
        &self,
        proxy: Arc<dyn Proxy>,
        request: &SubscribeRequest,
        options: &ChannelOptions,
    ) -> Result<(Plan, StreamReceiver), Denied> {
        let call = SubscribeProxyRequest {
            context: self.proxy_context(),
            channel: request.channel.clone(),
            token: request.token.clone(),
            data: request.data.clone(),
        };
        let outcome = proxy.subscribe_stream(call).await;
        match Answer::from_outcome(outcome, &*proxy, "subscribe_stream", &self.client) {
            Answer::Result(stream) => {
                let result = stream.result;
                let mut plan =
                    Plan::new(&request.channel, options, &result.overrides, false, false);
                plan.chan_info = result.info;
                plan.data = result.data;
                plan.expire_at = result.expire_at.filter(|at| *at > 0);
                Ok((plan, stream.publications))
            }
            Answer::Error(error) => Err(Denied::Custom(error)),
            Answer::Disconnect(disconnect) => Err(Denied::Close(disconnect)),
        }
    }

    /// Forwards a subscription stream's publications to this connection alone, each encoded
    /// as a `pub` push of `channel`. The outbox's bound applies (a client that cannot keep up
    /// is closed with 3008, which ends the stream). As in Centrifugo, a stream the backend
    /// ends unsubscribes the client with 2000, one that fails with 2500 (the SDK resubscribes,
    /// which opens a new stream).
    pub(super) fn forward_stream(&mut self, channel: String, mut publications: StreamReceiver) {
        let outbox = self.outbox.clone();
        let protocol = self.protocol;
        let client = self.client.clone();
        let key = channel.clone();
        let task = tokio::spawn(async move {
            loop {
                let data = match publications.recv().await {
                    Some(Ok(data)) => data,
                    Some(Err(err)) => {
                        tracing::warn!(%client, %channel, %err, "subscription stream failed");
                        // As when a subscriber loses its place in the stream.
                        tell_to_resubscribe(&outbox, &channel);
                        return;
                    }
                    None => {
                        tracing::debug!(%client, %channel, "subscription stream ended by the backend");
                        let _ = outbox.push_control(Control::Unsubscribe(channel));
                        return;
                    }
                };
                let push = Reply {
                    push: Some(herald_proto::Push {
                        channel: channel.clone(),
                        r#pub: Some(herald_proto::Publication {
                            data,
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                let bytes = match herald_proto::encode_reply(protocol, &push) {
                    Ok(bytes) => bytes,
                    Err(err) => {
                        tracing::info!(%client, %channel, %err, "stream publication cannot be encoded");
                        outbox.close(DisconnectCode::INAPPROPRIATE_PROTOCOL.into());
                        return;
                    }
                };
                if outbox.push(bytes).is_err() {
                    return;
                }
            }
        });
        self.proxy_state().streams.push((key, task.abort_handle()));
    }

    /// Ends the subscription stream of `channel`, if there is one.
    pub(super) fn stop_stream(&mut self, channel: &str) {
        let Some(state) = self.proxy.as_deref_mut() else {
            return;
        };
        state.streams.retain(|(name, task)| {
            if name == channel {
                task.abort();
            }
            name != channel
        });
    }

    /// A client RPC: the proxy of the method's RPC namespace answers; 108 when no RPC proxy
    /// is configured at all (Centrifugo without an RPC handler), 104 when proxies exist but
    /// none serves this method's namespace.
    pub(super) async fn on_rpc(&mut self, id: u32, request: RpcRequest) -> Flow {
        let rpc = &self.hub.shared.options.rpc;
        let any =
            rpc.without_namespace.is_some() || rpc.namespaces.iter().any(|n| n.proxy.is_some());
        if !any {
            return self.send_error(id, HubError::NotAvailable);
        }
        let proxy = match request.method.split_once(rpc.namespace_boundary.as_str()) {
            Some((namespace, _)) if !rpc.namespace_boundary.is_empty() => rpc
                .namespaces
                .iter()
                .find(|n| n.name == namespace)
                .and_then(|n| n.proxy.clone()),
            _ => rpc.without_namespace.clone(),
        };
        let Some(proxy) = proxy else {
            return self.send_error(id, HubError::MethodNotFound);
        };
        let call = RpcProxyRequest {
            context: self.proxy_context(),
            method: request.method,
            data: request.data,
        };
        let outcome = proxy.rpc(call).await;
        match Answer::from_outcome(outcome, &*proxy, "rpc", &self.client) {
            Answer::Result(result) => self.send_reply(&Reply {
                id,
                rpc: Some(RpcResult { data: result.data }),
                ..Default::default()
            }),
            Answer::Error(error) => self.send_client_error(id, error),
            Answer::Disconnect(disconnect) => self.close_outbox(disconnect),
        }
    }

    /// An error chosen by the backend (or 100), sent as the reply to command `id`.
    pub(super) fn send_client_error(&self, id: u32, error: ProxyClientError) -> Flow {
        self.send_reply(&Reply {
            id,
            error: Some(herald_proto::Error {
                code: error.code,
                message: error.message,
                temporary: error.temporary,
            }),
            ..Default::default()
        })
    }

    /// The connection's expiry passed and a refresh proxy decides instead of the client: a
    /// new expiry keeps it, `expired` (or an expiry in the past) closes it with 3005, a failed
    /// call with 3004 (the SDK reconnects, and its connect goes through the proxies again).
    pub(super) async fn refresh_via_proxy(&mut self, proxy: Arc<dyn Proxy>) -> Flow {
        let call = RefreshProxyRequest {
            context: self.proxy_context(),
        };
        let outcome = proxy.refresh(call).await;
        match Answer::from_outcome(outcome, &*proxy, "refresh", &self.client) {
            Answer::Result(result) => {
                let now = now_unix_secs();
                let expire_at = result.expire_at.filter(|at| *at > 0);
                if result.expired || expire_at.is_some_and(|at| at <= now) {
                    tracing::info!(client = %self.client, user = %self.user, "connection expired (refresh proxy)");
                    return self.disconnect(DisconnectCode::EXPIRED);
                }
                self.expire_at = expire_at;
                if let Some(info) = result.info {
                    self.outbox.set_info(info);
                }
                if let Some(meta) = result.meta {
                    self.set_meta(meta);
                }
                self.schedule_expiry();
                Flow::Continue
            }
            Answer::Error(_) => self.disconnect(DisconnectCode::INTERNAL),
            Answer::Disconnect(disconnect) => self.close_outbox(disconnect),
        }
    }

    /// A subscription's expiry passed in a namespace with a sub_refresh proxy: a new expiry
    /// keeps it, `expired` unsubscribes the client (2501, as an expired token would), a
    /// failed call closes the connection with 3004.
    pub(super) async fn sub_refresh_via_proxy(
        &mut self,
        proxy: Arc<dyn Proxy>,
        channel: &str,
    ) -> Flow {
        let call = SubRefreshProxyRequest {
            context: self.proxy_context(),
            channel: channel.to_owned(),
        };
        let outcome = proxy.sub_refresh(call).await;
        match Answer::from_outcome(outcome, &*proxy, "sub_refresh", &self.client) {
            Answer::Result(result) => {
                let expire_at = result.expire_at.filter(|at| *at > 0);
                if result.expired || expire_at.is_some_and(|at| at <= now_unix_secs()) {
                    tracing::info!(client = %self.client, %channel, "subscription expired (sub_refresh proxy)");
                    return self
                        .unsubscribe_with_push(channel, herald_proto::UnsubscribeCode::EXPIRED)
                        .await;
                }
                if let Some(sub) = self.subs.get_mut(channel) {
                    sub.expire_at = expire_at;
                    if let Some(info) = result.info {
                        sub.chan_info = info;
                    }
                }
                Flow::Continue
            }
            Answer::Error(_) => self.disconnect(DisconnectCode::INTERNAL),
            Answer::Disconnect(disconnect) => self.close_outbox(disconnect),
        }
    }
}

/// The transport name a session of `kind` has unless the transport names another.
pub(super) fn default_transport_name(kind: TransportKind) -> &'static str {
    match kind {
        TransportKind::Bidirectional => "websocket",
        TransportKind::Emulation => "http_stream",
        TransportKind::Unidirectional => "uni_websocket",
    }
}
