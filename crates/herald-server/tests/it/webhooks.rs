//! The webhook sender against a real HTTP receiver (axum on a socket): signed batches in
//! order, a failed POST retried with the same batch id, and nothing lost at shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use herald_engine::memory::MemoryEngine;
use herald_hub::{
    ConnectTokenClaims, Hub, NodeOptions, SubscribeTokenClaims, TokenError, TokenVerifier,
};
use herald_server::config::{WebhookEndpoint, WebhookSettings};
use herald_server::webhooks::{
    SIGNATURE_HEADER, TIMESTAMP_HEADER, WEBHOOK_ID_HEADER, Webhooks, signature,
};
use serde_json::Value;

const SECRET: &str = "it-secret";

struct NoTokens;

impl TokenVerifier for NoTokens {
    fn verify_connect_token(&self, _: &str) -> Result<ConnectTokenClaims, TokenError> {
        Err(TokenError::Invalid("none".into()))
    }
    fn verify_subscribe_token(&self, _: &str) -> Result<SubscribeTokenClaims, TokenError> {
        Err(TokenError::Invalid("none".into()))
    }
}

#[derive(Default)]
struct Received {
    /// (batch id, event types) of each accepted POST.
    batches: Vec<(String, Vec<String>)>,
    /// POSTs refused on purpose, still to refuse.
    refuse: usize,
    /// Batch ids of refused POSTs.
    refused: Vec<String>,
}

type Shared = Arc<Mutex<Received>>;

async fn receive(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let timestamp: i64 = header(TIMESTAMP_HEADER).parse().expect("timestamp");
    assert_eq!(
        header(SIGNATURE_HEADER),
        signature(SECRET.as_bytes(), timestamp, &body)
    );
    let id = header(WEBHOOK_ID_HEADER);
    let mut state = state.lock().expect("lock");
    if state.refuse > 0 {
        state.refuse -= 1;
        state.refused.push(id);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let batch: Value = serde_json::from_slice(&body).expect("json body");
    let types = batch["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().expect("type").to_owned())
        .collect();
    state.batches.push((id, types));
    StatusCode::NO_CONTENT
}

async fn receiver(refuse: usize) -> (String, Shared) {
    let state: Shared = Arc::new(Mutex::new(Received {
        refuse,
        ..Received::default()
    }));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}

fn settings(url: String) -> WebhookSettings {
    WebhookSettings {
        endpoints: vec![WebhookEndpoint {
            url,
            secret: SECRET.into(),
            events: Vec::new(),
            timeout: Duration::from_secs(5),
            headers: vec![("x-extra".into(), "1".into())],
        }],
        queue_max_size: 100,
        batch_max_size: 100,
        batch_max_delay: Duration::from_millis(50),
        retry_initial_backoff: Duration::from_millis(50),
        retry_max_backoff: Duration::from_millis(200),
        retry_max_duration: Duration::from_secs(30),
        vacated_delay: Duration::ZERO,
        flush_timeout: Duration::from_secs(5),
    }
}

async fn hub_with_webhooks(url: String) -> (Hub, Webhooks) {
    let engine = Arc::new(MemoryEngine::new());
    let mut options = NodeOptions::default();
    options.client.insecure = true;
    options.channel.without_namespace.presence = true;
    let hub = Hub::new(options, engine.clone(), engine.clone(), Arc::new(NoTokens));
    let webhooks = Webhooks::start(settings(url), &hub, engine).expect("webhooks start");
    hub.start().await.expect("hub starts");
    (hub, webhooks)
}

async fn one_client_session(hub: &Hub) {
    let mut session = hub.session(herald_proto::Protocol::Json);
    let frames = [
        r#"{"id":1,"connect":{}}"#,
        r#"{"id":2,"subscribe":{"channel":"room"}}"#,
        r#"{"id":3,"unsubscribe":{"channel":"room"}}"#,
    ];
    for frame in frames {
        assert_eq!(
            session.handle_frame(frame.as_bytes()).await,
            herald_hub::Flow::Continue
        );
    }
    session.close().await;
}

const EXPECTED: [&str; 6] = [
    "connect",
    "channel_occupied",
    "presence_join",
    "presence_leave",
    "channel_vacated",
    "disconnect",
];

fn all_types(state: &Shared) -> Vec<String> {
    let state = state.lock().expect("lock");
    state.batches.iter().flat_map(|(_, t)| t.clone()).collect()
}

#[tokio::test]
async fn signed_batches_arrive_in_order() {
    let (url, state) = receiver(0).await;
    let (hub, webhooks) = hub_with_webhooks(url).await;
    one_client_session(&hub).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while all_types(&state).len() < EXPECTED.len() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(all_types(&state), EXPECTED);
    hub.shutdown();
    webhooks.shutdown().await;
}

#[tokio::test]
async fn a_refused_batch_is_retried_with_the_same_id_and_shutdown_flushes() {
    let (url, state) = receiver(2).await;
    let (hub, webhooks) = hub_with_webhooks(url).await;
    let stats = webhooks.stats();
    one_client_session(&hub).await;
    hub.shutdown();
    // Everything emitted is queued; shutdown flushes it through the two refusals.
    webhooks.shutdown().await;
    assert_eq!(all_types(&state), EXPECTED);
    let state = state.lock().expect("lock");
    assert_eq!(state.refused.len(), 2);
    let delivered_ids: Vec<&String> = state.batches.iter().map(|(id, _)| id).collect();
    assert!(
        delivered_ids.contains(&&state.refused[0]),
        "the refused batch went out again under its id"
    );
    assert_eq!(
        stats
            .failed_attempts
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}
