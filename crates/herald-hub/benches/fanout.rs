//! In-process fan-out microbenchmark: one server-API publish delivered to N local subscribers.
//!
//! A [`Hub`] on the memory engine holds N = 100, 1,000 or 10,000 connected JSON sessions, all
//! subscribed to one channel. Each iteration calls [`Hub::publish`] with a 128 B JSON payload
//! (encoded once, queued into every session's outbox) and then drains every outbox, as each
//! connection's writer would. No sockets are involved. Setup (connecting and subscribing the
//! sessions) is done once per N, outside the timed part. Throughput is reported in deliveries
//! (items) per second.
//!
//! Run with `cargo bench -p herald-hub --bench fanout`.

use std::sync::Arc;

use bytes::Bytes;
use divan::Bencher;
use divan::counter::ItemsCount;
use herald_engine::memory::MemoryEngine;
use herald_hub::{
    ApiPublish, ConnectTokenClaims, Drained, Flow, Hub, NodeOptions, Outbox, Session,
    SubscribeTokenClaims, TokenError, TokenVerifier,
};
use herald_proto::Protocol;

fn main() {
    divan::main();
}

const CHANNEL: &str = "bench";

/// Accepts any connection token as the user id.
struct AnyToken;

impl TokenVerifier for AnyToken {
    fn verify_connect_token(&self, token: &str) -> Result<ConnectTokenClaims, TokenError> {
        Ok(ConnectTokenClaims {
            user: token.into(),
            ..Default::default()
        })
    }

    fn verify_subscribe_token(&self, _: &str) -> Result<SubscribeTokenClaims, TokenError> {
        Err(TokenError::Invalid("no subscription tokens".into()))
    }
}

/// The hub, its subscribed sessions (kept alive) and their outboxes.
struct Setup {
    hub: Hub,
    _sessions: Vec<Session>,
    outboxes: Vec<Arc<Outbox>>,
}

async fn drain(outbox: &Outbox) -> usize {
    match outbox.drain().await {
        Drained::Messages(messages) => messages.len(),
        Drained::Close(_, disconnect) => panic!("outbox closed: {disconnect:?}"),
    }
}

async fn setup(subscribers: usize) -> Setup {
    let mut options = NodeOptions::default();
    options.channel.without_namespace.allow_subscribe_for_client = true;
    // Every iteration drains all outboxes, so this is only a safety margin.
    options.client.queue_max_size = 64 * 1024 * 1024;
    let engine = Arc::new(MemoryEngine::new());
    let hub = Hub::new(options, engine.clone(), engine, Arc::new(AnyToken));
    hub.start().await.expect("memory engine starts");

    let mut sessions = Vec::with_capacity(subscribers);
    let mut outboxes = Vec::with_capacity(subscribers);
    for i in 0..subscribers {
        let mut session = hub.session(Protocol::Json);
        let connect = format!(r#"{{"id":1,"connect":{{"token":"user-{i}"}}}}"#);
        assert_eq!(
            session.handle_frame(connect.as_bytes()).await,
            Flow::Continue
        );
        let subscribe = format!(r#"{{"id":2,"subscribe":{{"channel":"{CHANNEL}"}}}}"#);
        assert_eq!(
            session.handle_frame(subscribe.as_bytes()).await,
            Flow::Continue
        );
        let outbox = session.outbox();
        // The connect and subscribe replies.
        assert!(drain(&outbox).await >= 1);
        outboxes.push(outbox);
        sessions.push(session);
    }
    Setup {
        hub,
        _sessions: sessions,
        outboxes,
    }
}

/// One publish to N subscribers, then every outbox drained.
#[divan::bench(args = [100, 1_000, 10_000])]
fn publish_and_drain(bencher: Bencher<'_, '_>, subscribers: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let setup = runtime.block_on(setup(subscribers));
    let payload = Bytes::from(format!(r#"{{"d":"{}"}}"#, "x".repeat(128 - 8)));
    assert_eq!(payload.len(), 128);

    // Check once, untimed, that every subscriber receives exactly one message per publish.
    runtime.block_on(publish_once(&setup, &payload, subscribers));

    bencher
        .counter(ItemsCount::new(subscribers))
        .bench_local(|| runtime.block_on(publish_once(&setup, &payload, subscribers)));
}

async fn publish_once(setup: &Setup, payload: &Bytes, subscribers: usize) {
    setup
        .hub
        .publish(ApiPublish {
            channel: CHANNEL.into(),
            data: payload.clone(),
            ..Default::default()
        })
        .await
        .expect("publish");
    let mut delivered = 0;
    for outbox in &setup.outboxes {
        delivered += drain(outbox).await;
    }
    assert_eq!(delivered, subscribers);
    divan::black_box(delivered);
}
