//! Memory-engine specifics the conformance suite cannot see: that channels are forgotten once
//! nothing is left in them, and that the position TTL given by reads is honoured.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::advance;

use super::*;
use crate::HistoryFilter;
use crate::conformance::RecordingHandler;

const SECOND: Duration = Duration::from_secs(1);

async fn running() -> (MemoryEngine, Arc<RecordingHandler>) {
    let engine = MemoryEngine::new();
    let handler = Arc::new(RecordingHandler::default());
    engine.run(handler.clone()).await.expect("run");
    (engine, handler)
}

fn short_history() -> PublishOptions {
    PublishOptions {
        history_size: 10,
        history_ttl: SECOND,
        history_meta_ttl: 2 * SECOND,
        ..PublishOptions::default()
    }
}

#[tokio::test(start_paused = true)]
async fn publish_without_history_leaves_no_channel_behind() {
    let (engine, handler) = running().await;
    let opts = PublishOptions::default();
    engine
        .publish("a", Publication::default(), &opts)
        .await
        .expect("publish");
    engine
        .publish_join("a", &ClientInfo::default())
        .await
        .expect("join");
    assert_eq!(handler.events_in("a").len(), 2);
    assert_eq!(engine.channel_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn removed_presence_leaves_no_channel_behind() {
    let engine = MemoryEngine::new();
    let info = ClientInfo::default();
    engine
        .add_presence("a", "c1", &info, SECOND)
        .await
        .expect("add");
    assert_eq!(engine.channel_count(), 1);
    engine.remove_presence("a", "c1", "").await.expect("remove");
    assert_eq!(engine.channel_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn expired_contents_are_purged() {
    let (engine, _) = running().await;
    engine
        .publish("stream", Publication::default(), &short_history())
        .await
        .expect("publish");
    let keyed = PublishOptions {
        idempotency_key: Some("k".into()),
        idempotent_result_ttl: SECOND,
        ..PublishOptions::default()
    };
    engine
        .publish("result", Publication::default(), &keyed)
        .await
        .expect("publish");
    engine
        .add_presence("presence", "c1", &ClientInfo::default(), SECOND)
        .await
        .expect("add");
    assert_eq!(engine.channel_count(), 3);

    advance(3 * SECOND).await;
    engine.purge_expired();
    assert_eq!(engine.channel_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn touching_a_channel_whose_stream_expired_forgets_it() {
    let (engine, _) = running().await;
    engine
        .publish("a", Publication::default(), &short_history())
        .await
        .expect("publish");
    advance(3 * SECOND).await;
    engine.remove_history("a").await.expect("remove_history");
    assert_eq!(engine.channel_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn reading_history_sets_the_position_ttl() {
    let engine = MemoryEngine::new();
    let opts = HistoryOptions {
        filter: HistoryFilter::default(),
        meta_ttl: 2 * SECOND,
    };
    let first = engine.history("a", &opts).await.expect("history").position;
    advance(SECOND).await;
    // A read refreshes the TTL, as Centrifugo's engines do.
    engine.history("a", &opts).await.expect("history");
    advance(SECOND + SECOND / 2).await;
    assert_eq!(
        engine.history("a", &opts).await.expect("history").position,
        first
    );
    advance(3 * SECOND).await;
    engine.purge_expired();
    assert_eq!(engine.channel_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_read_without_ttl_keeps_the_publish_ttl() {
    let (engine, _) = running().await;
    let first = engine
        .publish("a", Publication::default(), &short_history())
        .await
        .expect("publish");
    engine
        .history("a", &HistoryOptions::default())
        .await
        .expect("history");
    advance(3 * SECOND).await;
    let position = engine
        .history("a", &HistoryOptions::default())
        .await
        .expect("history")
        .position;
    assert_eq!(position.offset, 0);
    assert_ne!(position.epoch, first.position.epoch);
}

#[tokio::test(start_paused = true)]
async fn zero_idempotent_ttl_uses_the_default() {
    let (engine, _) = running().await;
    let keyed = PublishOptions {
        idempotency_key: Some("k".into()),
        ..PublishOptions::default()
    };
    engine
        .publish("a", Publication::default(), &keyed)
        .await
        .expect("publish");
    advance(DEFAULT_IDEMPOTENT_RESULT_TTL - SECOND).await;
    assert!(
        engine
            .publish("a", Publication::default(), &keyed)
            .await
            .expect("publish")
            .suppressed
            .is_some()
    );
    advance(2 * SECOND).await;
    assert!(
        engine
            .publish("a", Publication::default(), &keyed)
            .await
            .expect("publish")
            .suppressed
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn running_twice_keeps_the_first_handler() {
    let (engine, first) = running().await;
    let second = Arc::new(RecordingHandler::default());
    engine.run(second.clone()).await.expect("run");
    engine
        .publish("a", Publication::default(), &PublishOptions::default())
        .await
        .expect("publish");
    assert_eq!(first.events_in("a").len(), 1);
    assert!(second.events_in("a").is_empty());
}

#[test]
fn debug_shows_whether_running() {
    let engine = MemoryEngine::default();
    assert!(format!("{engine:?}").contains("running: false"));
}
