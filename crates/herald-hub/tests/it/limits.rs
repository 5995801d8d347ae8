//! Limits seen from a session: the cluster-wide user connection count (two nodes sharing one
//! presence backend, the memory engine here) and the per-connection command rate.

use std::sync::Arc;
use std::time::Duration;

use herald_engine::memory::MemoryEngine;
use herald_hub::{CommandKind, CommandRateLimits, Flow, Hub, Rate};
use herald_proto::Protocol;

use crate::support::{PlainTokens, connected, hub, options, send, take};

/// A node with its own broker and `presence` shared with other nodes.
async fn node(presence: &Arc<MemoryEngine>, user_connection_limit: usize) -> Hub {
    let mut options = options();
    options.client.user_connection_limit = user_connection_limit;
    let broker = Arc::new(MemoryEngine::new());
    let hub = Hub::new(options, broker, presence.clone(), Arc::new(PlainTokens));
    hub.start().await.expect("memory engine starts");
    hub
}

/// The close code a connect of `user` on `hub` gets; `None`: connected.
async fn connect(hub: &Hub, user: &str) -> Option<u16> {
    let mut session = hub.session(Protocol::Json);
    let frame = format!(r#"{{"id":1,"connect":{{"token":"{user}"}}}}"#);
    let _ = send(&mut session, &frame).await;
    let (_, close) = take(&session).await;
    if close.is_none() {
        // Keep it connected for the rest of the test.
        std::mem::forget(session);
    }
    close
}

#[tokio::test(start_paused = true)]
async fn the_user_limit_counts_every_node_and_a_dead_nodes_connections_expire() {
    let presence = Arc::new(MemoryEngine::new());
    let (a, b) = (node(&presence, 2).await, node(&presence, 2).await);
    let first = connected(&a, "alice").await;
    let second = connected(&a, "alice").await;
    assert_eq!(
        connect(&b, "alice").await,
        Some(3504),
        "two on node A already"
    );
    assert_eq!(connect(&b, "bob").await, None, "another user");
    assert_eq!(b.limit_counters().snapshot().user_connection_limit, 1);

    first.close().await;
    assert_eq!(connect(&b, "alice").await, None, "a place freed on node A");
    assert_eq!(connect(&b, "alice").await, Some(3504));

    // Node A dies: its connection never closes, its entry is not refreshed and expires.
    drop(second);
    drop(a);
    assert_eq!(
        connect(&b, "alice").await,
        Some(3504),
        "until its entry expires"
    );
    tokio::time::advance(options().client.presence_ttl + Duration::from_secs(1)).await;
    assert_eq!(
        connect(&b, "alice").await,
        None,
        "the dead node's connection expired"
    );
}

#[tokio::test]
async fn the_reserved_count_channels_are_not_addressable() {
    let hub = hub(options()).await;
    let mut session = connected(&hub, "alice").await;
    let frame = r#"{"id":2,"presence":{"channel":"__herald.user_connections:alice"}}"#;
    let _ = send(&mut session, frame).await;
    let (replies, _) = take(&session).await;
    assert_eq!(replies[0].error.as_ref().map(|e| e.code), Some(102));
}

#[tokio::test(start_paused = true)]
async fn a_command_past_its_rate_gets_111_then_3013() {
    let mut opts = options();
    opts.channel.without_namespace.allow_publish_for_client = true;
    let rate = Rate::new(2, Duration::from_secs(60)).expect("a rate");
    opts.client.command_rate_limits = CommandRateLimits::new(
        Vec::new(),
        Vec::new(),
        vec![(CommandKind::Publish, vec![rate])],
        2,
    )
    .map(Arc::new);
    let hub = hub(opts).await;
    let mut session = connected(&hub, "alice").await;
    let publish = |id: u32| format!(r#"{{"id":{id},"publish":{{"channel":"c","data":{{}}}}}}"#);
    for id in 2..=4 {
        assert_eq!(send(&mut session, &publish(id)).await, Flow::Continue);
    }
    let (replies, close) = take(&session).await;
    assert_eq!(close, None);
    let codes: Vec<Option<u32>> = replies
        .iter()
        .map(|r| r.error.as_ref().map(|e| e.code))
        .collect();
    assert_eq!(codes, [None, None, Some(111)]);
    assert_eq!(send(&mut session, &publish(5)).await, Flow::Close);
    assert_eq!(take(&session).await.1, Some(3013));
    let counters = hub.limit_counters().snapshot();
    assert_eq!(
        (counters.command_rate, counters.command_rate_disconnects),
        (1, 1)
    );
}
