//! Readiness and the end-to-end broker probe, on a memory broker that can be wedged
//! (`support::Tap`): it keeps accepting publishes and reporting itself healthy but delivers
//! nothing, as a PUB/SUB connection that answers PINGs but lost its subscriptions.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use herald_hub::{Hub, NotReady, ProbeOptions};

use crate::support::{Tap, connected, hub_with_tap, options, send, take};

const PROBE: ProbeOptions = ProbeOptions {
    interval: Duration::from_secs(1),
    timeout: Duration::from_millis(500),
};

async fn wedgeable_hub() -> (Hub, Arc<Tap>) {
    let mut options = options();
    options.probe = PROBE;
    hub_with_tap(options).await
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
