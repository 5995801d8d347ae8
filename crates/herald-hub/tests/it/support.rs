//! Test support: a hub on the memory engine, a token verifier that reads plain-text tokens,
//! and helpers to drive a session and read what it queued.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use herald_engine::memory::MemoryEngine;
use herald_engine::{
    Broker, BrokerEventHandler, ClientInfo, EngineError, HistoryOptions, HistoryResult,
    Publication, PublishOptions, PublishResult, StreamPosition,
};
use herald_hub::{
    ConnectTokenClaims, Drained, Hub, NodeOptions, Session, SubscribeTokenClaims, TokenError,
    TokenVerifier,
};
use herald_proto::{Protocol, Reply};

/// Tokens are `user`, `user@expire_at` or `user+channel` (a server-side subscription);
/// `expired` is expired; anything with `bad` is invalid.
pub(crate) struct PlainTokens;

impl TokenVerifier for PlainTokens {
    fn verify_connect_token(&self, token: &str) -> Result<ConnectTokenClaims, TokenError> {
        if token == "expired" {
            return Err(TokenError::Expired);
        }
        if token.contains("bad") {
            return Err(TokenError::Invalid("bad".into()));
        }
        let (token, channels) = match token.split_once('+') {
            Some((user, channel)) => (user, vec![channel.to_owned()]),
            None => (token, Vec::new()),
        };
        let (user, expire_at) = match token.split_once('@') {
            Some((user, at)) => (user, at.parse().ok()),
            None => (token, None),
        };
        Ok(ConnectTokenClaims {
            user: user.into(),
            expire_at,
            channels,
            ..Default::default()
        })
    }

    fn verify_subscribe_token(&self, _: &str) -> Result<SubscribeTokenClaims, TokenError> {
        Err(TokenError::Invalid("no subscription tokens here".into()))
    }
}

/// Options where the channel without namespace is open and keeps history.
pub(crate) fn options() -> NodeOptions {
    let mut options = NodeOptions::default();
    let ns = &mut options.channel.without_namespace;
    ns.allow_subscribe_for_client = true;
    ns.allow_publish_for_subscriber = true;
    ns.presence = true;
    ns.history_size = 1000;
    ns.history_ttl = std::time::Duration::from_secs(300);
    ns.force_recovery = true;
    options
}

pub(crate) async fn hub(options: NodeOptions) -> Hub {
    hub_with_tap(options).await.0
}

/// A hub whose broker is tapped: the test can deliver events to the node directly, as a broker
/// would after losing messages.
pub(crate) async fn hub_with_tap(options: NodeOptions) -> (Hub, Arc<Tap>) {
    let tap = Arc::new(Tap::default());
    let engine = Arc::new(MemoryEngine::new());
    let hub = Hub::new(options, tap.clone(), engine, Arc::new(PlainTokens));
    hub.start().await.expect("memory engine starts");
    (hub, tap)
}

/// A memory broker that also hands its event handler to the test, and whose deliveries of
/// publications can be cut without it noticing (`wedged`), as a PUB/SUB connection that
/// answers PINGs but lost its subscriptions.
#[derive(Default)]
pub(crate) struct Tap {
    inner: MemoryEngine,
    handler: OnceLock<Arc<dyn BrokerEventHandler>>,
    /// While set, publications are not delivered.
    pub(crate) wedged: Arc<AtomicBool>,
    /// How many times the hub asked for a reconnect.
    pub(crate) reconnects: AtomicUsize,
}

impl Tap {
    pub(crate) fn handler(&self) -> &Arc<dyn BrokerEventHandler> {
        self.handler.get().expect("hub started")
    }
}

/// Passes events on unless the broker is wedged.
struct Cut {
    to: Arc<dyn BrokerEventHandler>,
    wedged: Arc<AtomicBool>,
}

impl BrokerEventHandler for Cut {
    fn handle_publication(&self, channel: &str, p: &Publication, position: &StreamPosition) {
        if !self.wedged.load(Ordering::SeqCst) {
            self.to.handle_publication(channel, p, position);
        }
    }
    fn handle_join(&self, channel: &str, info: &ClientInfo) {
        self.to.handle_join(channel, info);
    }
    fn handle_leave(&self, channel: &str, info: &ClientInfo) {
        self.to.handle_leave(channel, info);
    }
    fn handle_control(&self, data: &[u8]) {
        self.to.handle_control(data);
    }
}

#[async_trait::async_trait]
impl Broker for Tap {
    async fn run(&self, handler: Arc<dyn BrokerEventHandler>) -> Result<(), EngineError> {
        let _ = self.handler.set(handler.clone());
        let cut = Cut {
            to: handler,
            wedged: self.wedged.clone(),
        };
        self.inner.run(Arc::new(cut)).await
    }
    async fn subscribe(&self, channel: &str) -> Result<(), EngineError> {
        self.inner.subscribe(channel).await
    }
    async fn unsubscribe(&self, channel: &str) -> Result<(), EngineError> {
        self.inner.unsubscribe(channel).await
    }
    async fn publish(
        &self,
        channel: &str,
        publication: Publication,
        opts: &PublishOptions,
    ) -> Result<PublishResult, EngineError> {
        self.inner.publish(channel, publication, opts).await
    }
    async fn publish_join(&self, channel: &str, info: &ClientInfo) -> Result<(), EngineError> {
        self.inner.publish_join(channel, info).await
    }
    async fn publish_leave(&self, channel: &str, info: &ClientInfo) -> Result<(), EngineError> {
        self.inner.publish_leave(channel, info).await
    }
    async fn history(
        &self,
        channel: &str,
        opts: &HistoryOptions,
    ) -> Result<HistoryResult, EngineError> {
        self.inner.history(channel, opts).await
    }
    async fn remove_history(&self, channel: &str) -> Result<(), EngineError> {
        self.inner.remove_history(channel).await
    }
    async fn publish_control(&self, data: bytes::Bytes) -> Result<(), EngineError> {
        self.inner.publish_control(data).await
    }
    /// A reconnect that does not heal (the test heals), but reports the gap as a real one.
    fn reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::SeqCst);
        if let Some(handler) = self.handler.get() {
            handler.handle_gap();
        }
    }
}

/// Sends one JSON frame.
pub(crate) async fn send(session: &mut Session, frame: &str) -> herald_hub::Flow {
    session.handle_frame(frame.as_bytes()).await
}

/// Everything queued so far, decoded; plus the close code if the outbox is closed.
pub(crate) async fn take(session: &Session) -> (Vec<Reply>, Option<u16>) {
    let outbox = session.outbox();
    let drained = tokio::time::timeout(std::time::Duration::from_millis(10), outbox.drain()).await;
    let (messages, close) = match drained {
        Ok(Drained::Messages(messages)) => (messages, None),
        Ok(Drained::Close(messages, disconnect)) => (messages, Some(disconnect.code)),
        Err(_) => (Vec::new(), None),
    };
    let replies = messages
        .iter()
        .flat_map(|m| herald_proto::decode_reply(Protocol::Json, m).expect("valid reply"))
        .collect();
    (replies, close)
}

/// A connected JSON session for `user`.
pub(crate) async fn connected(hub: &Hub, user: &str) -> Session {
    let mut session = hub.session(Protocol::Json);
    let frame = format!(r#"{{"id":1,"connect":{{"token":"{user}"}}}}"#);
    assert_eq!(send(&mut session, &frame).await, herald_hub::Flow::Continue);
    let (replies, close) = take(&session).await;
    assert_eq!(close, None);
    assert!(replies[0].connect.is_some(), "connect reply: {replies:?}");
    session
}
