//! Lifecycle events (webhooks) as the hub emits them: order on one node (connect, occupied
//! before join, leave before vacated, disconnect), one occupancy period for several
//! subscribers, the vacated delay absorbing a quick return, and a dead node's leaves and
//! vacancies emitted by a live node.

use std::sync::Arc;
use std::time::Duration;

use herald_engine::memory::MemoryEngine;
use herald_hub::{Hub, LifecycleEvent, LifecycleKind, LifecycleOptions};
use tokio::sync::mpsc;

use crate::support::{PlainTokens, connected, options, send, take};

/// A started hub with lifecycle events on `store`, and the receiving end of its events.
async fn hub(
    store: &Arc<MemoryEngine>,
    vacated_delay: Duration,
) -> (Hub, mpsc::Receiver<LifecycleEvent>) {
    let engine = Arc::new(MemoryEngine::new());
    let hub = Hub::new(options(), engine.clone(), engine, Arc::new(PlainTokens));
    let (sender, receiver) = mpsc::channel(1024);
    assert!(hub.enable_lifecycle(store.clone(), sender, LifecycleOptions { vacated_delay }));
    hub.start().await.expect("memory engine starts");
    (hub, receiver)
}

/// Event types with their channel (when they have one), in order.
fn drain(events: &mut mpsc::Receiver<LifecycleEvent>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Ok(event) = events.try_recv() {
        let channel = match &event.kind {
            LifecycleKind::ChannelOccupied { channel, .. }
            | LifecycleKind::ChannelVacated { channel, .. }
            | LifecycleKind::PresenceJoin { channel, .. }
            | LifecycleKind::PresenceLeave { channel, .. } => channel.clone(),
            _ => String::new(),
        };
        out.push((event.kind.name().to_owned(), channel));
    }
    out
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

async fn subscribe(session: &mut herald_hub::Session, id: u32, channel: &str) {
    let frame = format!(r#"{{"id":{id},"subscribe":{{"channel":"{channel}"}}}}"#);
    assert_eq!(send(session, &frame).await, herald_hub::Flow::Continue);
    let (replies, _) = take(session).await;
    assert!(replies.iter().any(|r| r.subscribe.is_some()), "{replies:?}");
}

#[tokio::test]
async fn one_client_gives_every_event_in_order() {
    let store = Arc::new(MemoryEngine::new());
    let (hub, mut events) = hub(&store, Duration::ZERO).await;
    let mut session = connected(&hub, "alice").await;
    subscribe(&mut session, 2, "room").await;
    let _ = send(&mut session, r#"{"id":3,"unsubscribe":{"channel":"room"}}"#).await;
    subscribe(&mut session, 4, "room").await;
    session.close().await;
    assert_eq!(
        drain(&mut events),
        pairs(&[
            ("connect", ""),
            ("channel_occupied", "room"),
            ("presence_join", "room"),
            ("presence_leave", "room"),
            ("channel_vacated", "room"),
            ("channel_occupied", "room"),
            ("presence_join", "room"),
            ("presence_leave", "room"),
            ("channel_vacated", "room"),
            ("disconnect", ""),
        ])
    );
    assert_eq!(hub.lifecycle_dropped(), 0);
}

#[tokio::test]
async fn several_subscribers_share_one_period() {
    let store = Arc::new(MemoryEngine::new());
    let (hub, mut events) = hub(&store, Duration::ZERO).await;
    let mut a = connected(&hub, "a").await;
    let mut b = connected(&hub, "b").await;
    subscribe(&mut a, 2, "room").await;
    subscribe(&mut b, 2, "room").await;
    a.close().await;
    b.close().await;
    let got = drain(&mut events);
    let count = |name: &str| got.iter().filter(|(n, _)| n == name).count();
    assert_eq!(count("channel_occupied"), 1, "{got:?}");
    assert_eq!(count("channel_vacated"), 1, "{got:?}");
    assert_eq!(count("presence_join"), 2);
    assert_eq!(count("presence_leave"), 2);
    let last_leave = got.iter().rposition(|(n, _)| n == "presence_leave");
    let vacated = got.iter().position(|(n, _)| n == "channel_vacated");
    assert!(last_leave < vacated, "{got:?}");
}

#[tokio::test(start_paused = true)]
async fn the_vacated_delay_absorbs_a_quick_return() {
    let store = Arc::new(MemoryEngine::new());
    let delay = Duration::from_secs(5);
    let (hub, mut events) = hub(&store, delay).await;
    let mut session = connected(&hub, "alice").await;
    subscribe(&mut session, 2, "room").await;
    let _ = send(&mut session, r#"{"id":3,"unsubscribe":{"channel":"room"}}"#).await;
    tokio::time::sleep(delay / 2).await;
    subscribe(&mut session, 4, "room").await;
    tokio::time::sleep(delay * 2).await;
    session.close().await;
    tokio::time::sleep(delay * 2).await;
    let got = drain(&mut events);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "connect",
            "channel_occupied",
            "presence_join",
            "presence_leave",
            "presence_join",
            "presence_leave",
            "disconnect",
            "channel_vacated",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_live_node_announces_a_dead_nodes_leaves_and_vacancies() {
    let store = Arc::new(MemoryEngine::new());
    let (dying, mut dying_events) = hub(&store, Duration::ZERO).await;
    let (alive, mut alive_events) = hub(&store, Duration::ZERO).await;
    let mut a = connected(&dying, "a").await;
    subscribe(&mut a, 2, "only-dying").await;
    subscribe(&mut a, 3, "shared").await;
    let mut b = connected(&alive, "b").await;
    subscribe(&mut b, 2, "shared").await;
    drain(&mut dying_events);
    drain(&mut alive_events);

    // The dying node stops heartbeating; its session is never closed (as after kill -9).
    dying.shutdown();
    std::mem::forget(a);
    tokio::time::sleep(Duration::from_secs(12)).await;

    let got = drain(&mut alive_events);
    assert_eq!(
        got,
        pairs(&[
            ("presence_leave", "only-dying"),
            ("presence_leave", "shared"),
            ("channel_vacated", "only-dying"),
        ])
    );
    // Claimed once: nothing more later.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(drain(&mut alive_events).is_empty());
    b.close().await;
    let got = drain(&mut alive_events);
    assert!(
        got.contains(&("channel_vacated".into(), "shared".into())),
        "{got:?}"
    );
}
