//! What the conformance suite cannot see: several nodes on one Redis, the key layout, shards,
//! a killed PUB/SUB connection and foreign messages.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use herald_engine::conformance::{Event, RecordingHandler, unique_channel};
use herald_engine::{
    Broker, BrokerEventHandler, ClientInfo, EngineError, HistoryFilter, HistoryLimit,
    HistoryOptions, PresenceManager, Publication, PublishOptions, StreamPosition,
};
use herald_redis::{RedisEngine, RedisOptions};
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use tokio::time::{Instant, sleep};

use crate::server::{self, RedisServer};
use crate::{PREFIX, engine, options};

pub(crate) async fn running(engine: RedisEngine) -> (Arc<RedisEngine>, Arc<Spy>) {
    let engine = Arc::new(engine);
    let handler = Arc::new(Spy::default());
    engine.run(handler.clone()).await.expect("run");
    (engine, handler)
}

/// A `RecordingHandler` that also records control messages and gaps.
#[derive(Debug, Default)]
pub(crate) struct Spy {
    events: RecordingHandler,
    pub(crate) controls: Mutex<Vec<Vec<u8>>>,
    pub(crate) gaps: AtomicUsize,
}

impl std::ops::Deref for Spy {
    type Target = RecordingHandler;

    fn deref(&self) -> &RecordingHandler {
        &self.events
    }
}

impl BrokerEventHandler for Spy {
    fn handle_publication(
        &self,
        channel: &str,
        publication: &Publication,
        position: &StreamPosition,
    ) {
        self.events
            .handle_publication(channel, publication, position);
    }

    fn handle_join(&self, channel: &str, info: &ClientInfo) {
        self.events.handle_join(channel, info);
    }

    fn handle_leave(&self, channel: &str, info: &ClientInfo) {
        self.events.handle_leave(channel, info);
    }

    fn handle_control(&self, data: &[u8]) {
        self.controls.lock().expect("controls").push(data.to_vec());
    }

    fn handle_gap(&self) {
        self.gaps.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `condition` until it holds, for at most 10 s.
pub(crate) async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(20)).await;
    }
}

/// A plain connection to `server`, to look at or write keys behind the engine's back.
async fn raw(server: &RedisServer) -> MultiplexedConnection {
    redis::Client::open(server.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

pub(crate) fn with_history() -> PublishOptions {
    PublishOptions {
        history_size: 10,
        history_ttl: Duration::from_secs(60),
        history_meta_ttl: Duration::from_secs(600),
        ..PublishOptions::default()
    }
}

pub(crate) fn text(s: &'static str) -> Publication {
    Publication {
        data: Bytes::from_static(s.as_bytes()),
        ..Publication::default()
    }
}

pub(crate) fn all() -> HistoryOptions {
    HistoryOptions {
        filter: HistoryFilter {
            limit: HistoryLimit::All,
            ..HistoryFilter::default()
        },
        ..HistoryOptions::default()
    }
}

#[tokio::test]
async fn publications_reach_other_nodes() {
    let (publisher, _) = running(engine().await).await;
    let (subscriber, handler) = running(engine().await).await;
    let ch = unique_channel("other-nodes");
    subscriber.subscribe(&ch).await.expect("subscribe");
    let published = publisher
        .publish(&ch, text("hello"), &with_history())
        .await
        .expect("publish");
    let info = ClientInfo {
        user: "u".into(),
        client: "c".into(),
        ..ClientInfo::default()
    };
    publisher.publish_join(&ch, &info).await.expect("join");
    let events = handler.wait_events(&ch, 2).await;
    let Event::Publication {
        publication,
        position,
        ..
    } = &events[0]
    else {
        panic!("{events:?}");
    };
    assert_eq!(publication.data, Bytes::from_static(b"hello"));
    assert_eq!(position, &published.position);
    assert!(matches!(&events[1], Event::Join { info: joined, .. } if joined == &info));
    // The other node reads the same stream.
    let history = subscriber.history(&ch, &all()).await.expect("history");
    assert_eq!(history.position, published.position);
}

#[tokio::test]
async fn unsubscribe_stops_delivery() {
    let (engine, handler) = running(engine().await).await;
    let ch = unique_channel("unsubscribe");
    engine.subscribe(&ch).await.expect("subscribe");
    engine
        .publish(&ch, text("1"), &with_history())
        .await
        .expect("publish");
    handler.wait_events(&ch, 1).await;
    engine.unsubscribe(&ch).await.expect("unsubscribe");
    engine
        .publish(&ch, text("2"), &with_history())
        .await
        .expect("publish");
    engine.subscribe(&ch).await.expect("subscribe again");
    engine
        .publish(&ch, text("3"), &with_history())
        .await
        .expect("publish");
    let delivered: Vec<u64> = handler
        .wait_publications(&ch, 2)
        .await
        .iter()
        .map(|(p, _)| p.offset)
        .collect();
    assert_eq!(delivered, vec![1, 3]);
}

#[tokio::test]
async fn subscribe_before_run_is_not_running() {
    let engine = engine().await;
    let ch = unique_channel("subscribe-not-running");
    assert_eq!(engine.subscribe(&ch).await, Err(EngineError::NotRunning));
}

#[tokio::test]
async fn connect_to_nothing_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let options = RedisOptions {
        addresses: vec![format!("127.0.0.1:{port}")],
        connect_timeout: Duration::from_millis(200),
        ..RedisOptions::default()
    };
    let result = RedisEngine::connect(options).await;
    assert!(
        matches!(result, Err(EngineError::Unavailable { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn keys_follow_the_centrifugo_layout() {
    let (engine, _) = running(engine().await).await;
    let ch = unique_channel("layout");
    let keyed = PublishOptions {
        idempotency_key: Some("k1".into()),
        ..with_history()
    };
    let published = engine
        .publish(&ch, text("x"), &keyed)
        .await
        .expect("publish");
    let info = ClientInfo {
        client: "c1".into(),
        ..ClientInfo::default()
    };
    engine
        .add_presence(&ch, "c1", &info, Duration::from_secs(60))
        .await
        .expect("presence");

    let mut redis = raw(server::shared()).await;
    let meta: (String, u64) = redis
        .hmget(format!("{PREFIX}.stream.meta.{ch}"), &["e", "s"])
        .await
        .expect("meta");
    assert_eq!(meta, (published.position.epoch.clone(), 1));
    let stream_len: u64 = redis::cmd("XLEN")
        .arg(format!("{PREFIX}.stream.{ch}"))
        .query_async(&mut redis)
        .await
        .expect("stream");
    assert_eq!(stream_len, 1);
    let result: (String, u64) = redis
        .hmget(format!("{PREFIX}.result.{ch}.k1"), &["e", "s"])
        .await
        .expect("result");
    assert_eq!(result, (published.position.epoch, 1));
    let result_ttl: i64 = redis
        .pttl(format!("{PREFIX}.result.{ch}.k1"))
        .await
        .expect("ttl");
    assert!(
        result_ttl > 290_000 && result_ttl <= 300_000,
        "{result_ttl}"
    );
    let present: bool = redis
        .hexists(format!("{PREFIX}.presence.data.{ch}"), "c1")
        .await
        .expect("presence data");
    assert!(present);
    let expires: Option<f64> = redis
        .zscore(format!("{PREFIX}.presence.expire.{ch}"), "c1")
        .await
        .expect("presence expire");
    assert!(expires.is_some());
}

#[tokio::test]
async fn two_shards_place_channels_stably() {
    let servers = [server::shared(), server::second()];
    let (first, handler) = running(
        RedisEngine::connect(options(&servers))
            .await
            .expect("connect"),
    )
    .await;
    let (second, _) = running(
        RedisEngine::connect(options(&servers))
            .await
            .expect("connect"),
    )
    .await;
    let mut raw_shards = [raw(servers[0]).await, raw(servers[1]).await];
    let mut per_shard = [0usize; 2];
    let mut channels = Vec::new();
    for i in 0..40 {
        let ch = unique_channel(&format!("shards-{i}"));
        let shard = first.shard_of(&ch);
        assert_eq!(
            second.shard_of(&ch),
            shard,
            "placement differs between nodes"
        );
        per_shard[shard] += 1;
        first.subscribe(&ch).await.expect("subscribe");
        first
            .publish(&ch, text("x"), &with_history())
            .await
            .expect("publish");
        let stream = format!("{PREFIX}.stream.{ch}");
        for (index, redis) in raw_shards.iter_mut().enumerate() {
            let exists: bool = redis.exists(&stream).await.expect("exists");
            assert_eq!(exists, index == shard, "{stream} on shard {index}");
        }
        channels.push(ch);
    }
    assert!(per_shard.iter().all(|&n| n > 0), "{per_shard:?}");
    for ch in &channels {
        handler.wait_publications(ch, 1).await;
        let history = second.history(ch, &all()).await.expect("history");
        assert_eq!(history.publications.len(), 1, "{ch} read from another node");
    }
}

#[tokio::test]
async fn pubsub_reconnects_after_client_kill() {
    // Its own server: killing every PUB/SUB client must not disturb the other tests.
    let server = RedisServer::start();
    let options = RedisOptions {
        addresses: vec![server.url()],
        prefix: PREFIX.to_owned(),
        ..RedisOptions::default()
    };
    let (engine, handler) = running(RedisEngine::connect(options).await.expect("connect")).await;
    // More channels than one resubscription batch holds.
    let channels: Vec<String> = (0..600)
        .map(|i| unique_channel(&format!("reconnect-{i}")))
        .collect();
    for ch in &channels {
        engine.subscribe(ch).await.expect("subscribe");
    }
    let first = &channels[0];
    let last = &channels[channels.len() - 1];
    engine
        .publish(first, text("before"), &with_history())
        .await
        .expect("publish");
    handler.wait_events(first, 1).await;
    assert!(engine.is_healthy());

    let mut redis = raw(&server).await;
    let killed: u64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "pubsub"])
        .query_async(&mut redis)
        .await
        .expect("client kill");
    assert_eq!(killed, 1);

    // The gap is reported once every channel is subscribed again: from then on nothing is lost.
    eventually("the gap to be reported", || {
        handler.gaps.load(Ordering::SeqCst) == 1
    })
    .await;
    // Healthy again once the command connection, in doubt since the loss, answered a PING.
    eventually("healthy again", || engine.is_healthy()).await;
    assert!(Broker::is_healthy(&*engine));
    for ch in [first, last] {
        engine
            .publish(ch, text("after"), &with_history())
            .await
            .expect("publish");
    }
    handler.wait_events(first, 2).await;
    handler.wait_events(last, 1).await;
    // Subscriptions made after the reconnect work too.
    let later = unique_channel("reconnect-later");
    engine.subscribe(&later).await.expect("subscribe");
    engine
        .publish(&later, text("later"), &with_history())
        .await
        .expect("publish");
    handler.wait_events(&later, 1).await;
}

/// Ids of the PUB/SUB clients connected to `server`.
async fn pubsub_client_ids(server: &RedisServer) -> Vec<String> {
    let mut redis = raw(server).await;
    let list: String = redis::cmd("CLIENT")
        .arg(&["LIST", "TYPE", "pubsub"])
        .query_async(&mut redis)
        .await
        .expect("client list");
    list.lines()
        .filter_map(|line| line.split(' ').find_map(|f| f.strip_prefix("id=")))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_requested_reconnect_replaces_the_pubsub_connection_and_reports_the_gap() {
    // Its own server, to count its PUB/SUB clients.
    let server = RedisServer::start();
    let options = RedisOptions {
        addresses: vec![server.url()],
        prefix: PREFIX.to_owned(),
        ..RedisOptions::default()
    };
    let (engine, handler) = running(RedisEngine::connect(options).await.expect("connect")).await;
    let ch = unique_channel("requested-reconnect");
    engine.subscribe(&ch).await.expect("subscribe");
    let before = pubsub_client_ids(&server).await;
    assert_eq!(before.len(), 1, "{before:?}");

    Broker::reconnect(&*engine);
    eventually("the gap to be reported", || {
        handler.gaps.load(Ordering::SeqCst) == 1
    })
    .await;
    let after = pubsub_client_ids(&server).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(before, after, "a new PUB/SUB connection");
    eventually("healthy again", || engine.is_healthy()).await;
    engine
        .publish(&ch, text("after"), &with_history())
        .await
        .expect("publish");
    handler.wait_events(&ch, 1).await;
}

#[tokio::test]
async fn undecodable_messages_are_skipped() {
    let (engine, handler) = running(engine().await).await;
    let ch = unique_channel("undecodable");
    engine.subscribe(&ch).await.expect("subscribe");
    let mut redis = raw(server::shared()).await;
    let pubsub_channel = format!("{PREFIX}.client.{ch}");
    for garbage in [
        &b"garbage"[..],
        b"p1:1:abc:\xff\xff",
        b"__p1:1:abcdefgh__centrifugo",
    ] {
        let _: i64 = redis
            .publish(&pubsub_channel, garbage)
            .await
            .expect("publish garbage");
    }
    engine
        .publish(&ch, text("good"), &with_history())
        .await
        .expect("publish");
    let delivered = handler.wait_publications(&ch, 1).await;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0].0.data, Bytes::from_static(b"good"));
    assert_eq!(engine.undecodable_messages(), 3);
    assert!(engine.is_healthy());
}

#[tokio::test]
async fn control_messages_reach_every_node() {
    let servers = [server::shared(), server::second()];
    let (first, first_handler) = running(
        RedisEngine::connect(options(&servers))
            .await
            .expect("connect"),
    )
    .await;
    let (second, second_handler) = running(
        RedisEngine::connect(options(&servers))
            .await
            .expect("connect"),
    )
    .await;
    let marker = unique_channel("control").into_bytes();
    first
        .publish_control(Bytes::from(marker.clone()))
        .await
        .expect("publish control");
    for handler in [&first_handler, &second_handler] {
        eventually("the control message", || {
            handler.controls.lock().expect("controls").contains(&marker)
        })
        .await;
    }
    assert_eq!(second_handler.gaps.load(Ordering::SeqCst), 0);
    drop(second);
}
