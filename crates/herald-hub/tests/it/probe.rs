//! Readiness and the end-to-end broker probe, on a memory broker that can be wedged: it keeps
//! accepting publishes and reporting itself healthy but delivers nothing, as a PUB/SUB
//! connection that answers PINGs but lost its subscriptions.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use herald_engine::memory::MemoryEngine;
use herald_engine::{
    Broker, BrokerEventHandler, ClientInfo, EngineError, HistoryOptions, HistoryResult,
    Publication, PublishOptions, PublishResult, StreamPosition,
};
use herald_hub::{Hub, NotReady, ProbeOptions};

use crate::support::{PlainTokens, connected, options, send, take};

const PROBE: ProbeOptions = ProbeOptions {
    interval: Duration::from_secs(1),
    timeout: Duration::from_millis(500),
};

/// A memory broker whose deliveries can be cut without it noticing.
#[derive(Default)]
struct Wedgeable {
    inner: MemoryEngine,
    wedged: Arc<AtomicBool>,
    reconnects: AtomicUsize,
    handler: std::sync::OnceLock<Arc<dyn BrokerEventHandler>>,
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
impl Broker for Wedgeable {
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

async fn wedgeable_hub() -> (Hub, Arc<Wedgeable>) {
    let broker = Arc::new(Wedgeable::default());
    let mut options = options();
    options.probe = PROBE;
    let presence = Arc::new(MemoryEngine::new());
    let hub = Hub::new(options, broker.clone(), presence, Arc::new(PlainTokens));
    hub.start().await.expect("memory engine starts");
    (hub, broker)
}

/// Lets the clock run (paused: it jumps to the next timer) until `check` holds, for at most
/// a minute of virtual time.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..600 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never: {what}");
}

#[tokio::test(start_paused = true)]
async fn a_wedged_broker_fails_readiness_reconnects_and_recovers() {
    let (hub, broker) = wedgeable_hub().await;
    eventually("a first probe", || {
        // Ready from the start, and still after probes went round.
        hub.readiness().is_ok() && broker.reconnects.load(Ordering::SeqCst) == 0
    })
    .await;
    tokio::time::sleep(PROBE.interval * 3).await;
    assert_eq!(hub.readiness(), Ok(()));
    assert_eq!(hub.health_counters().probe_failures, 0);

    let mut session = connected(&hub, "alice").await;
    let _ = send(&mut session, r#"{"id":2,"subscribe":{"channel":"g"}}"#).await;
    let _ = take(&session).await;

    broker.wedged.store(true, Ordering::SeqCst);
    eventually("not ready", || {
        hub.readiness() == Err(NotReady::ProbeFailed)
    })
    .await;
    eventually("a forced reconnect", || {
        broker.reconnects.load(Ordering::SeqCst) > 0
    })
    .await;
    let counters = hub.health_counters();
    assert!(counters.probe_failures >= 1, "{counters:?}");
    assert!(counters.link_reconnects >= 1, "{counters:?}");
    // The gap the reconnect reported makes the positioned subscriber recover.
    let (replies, close) = take(&session).await;
    assert_eq!(close, None);
    let codes: Vec<u32> = replies
        .iter()
        .filter_map(|r| r.push.as_ref()?.unsubscribe.as_ref().map(|u| u.code))
        .collect();
    assert_eq!(codes, vec![2500], "{replies:?}");

    broker.wedged.store(false, Ordering::SeqCst);
    eventually("ready again", || hub.readiness().is_ok()).await;
    let reconnects = broker.reconnects.load(Ordering::SeqCst);
    tokio::time::sleep(PROBE.interval * 3).await;
    assert_eq!(
        broker.reconnects.load(Ordering::SeqCst),
        reconnects,
        "no reconnect once probes come back"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_makes_the_node_not_ready() {
    let (hub, _broker) = wedgeable_hub().await;
    assert_eq!(hub.readiness(), Ok(()));
    hub.shutdown();
    assert_eq!(hub.readiness(), Err(NotReady::ShuttingDown));
}

#[tokio::test(start_paused = true)]
async fn a_paced_drain_closes_clients_over_the_period_and_refuses_new_ones() {
    let (hub, _broker) = wedgeable_hub().await;
    let mut sessions = Vec::new();
    for i in 0..40 {
        sessions.push(connected(&hub, &format!("u{i}")).await);
    }
    let start = tokio::time::Instant::now();
    let draining = tokio::spawn({
        let hub = hub.clone();
        async move { hub.drain(Duration::from_secs(2)).await }
    });
    // Let the first batch go.
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(hub.readiness(), Err(NotReady::ShuttingDown));
    let mut late = hub.session(herald_proto::Protocol::Json);
    let _ = send(&mut late, r#"{"id":1,"connect":{"token":"late"}}"#).await;
    assert_eq!(take(&late).await.1, Some(3001), "refused while draining");

    // One watcher per client, so each close is timed when it happens.
    let watchers: Vec<_> = sessions
        .iter()
        .map(|session| {
            let outbox = session.outbox().clone();
            tokio::spawn(async move {
                loop {
                    if let herald_hub::Drained::Close(_, disconnect) = outbox.drain().await {
                        return (disconnect.code, start.elapsed());
                    }
                }
            })
        })
        .collect();
    let mut closed_at = Vec::new();
    for watcher in watchers {
        let (code, at) = watcher.await.expect("watcher");
        assert_eq!(code, 3001);
        closed_at.push(at);
    }
    draining.await.expect("drain ends");
    closed_at.sort();
    let (first, last) = (closed_at[0], closed_at[closed_at.len() - 1]);
    assert!(first < Duration::from_millis(100), "{first:?}");
    assert!(last >= Duration::from_millis(1500), "{last:?}");
    assert!(last < Duration::from_secs(2), "{last:?}");
    assert_eq!(hub.health_counters().drained_clients, 40);
}
