//! What the conformance suite cannot see: several nodes on one server, the control plane, a
//! restarted server, foreign messages, slow consumers and channel names NATS cannot carry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use herald_engine::conformance::{Event, RecordingHandler, unique_channel};
use herald_engine::{
    Broker, BrokerEventHandler, ClientInfo, EngineError, Publication, PublishOptions,
    PublishResult, StreamPosition,
};
use herald_nats::{NatsBroker, NatsOptions};
use tokio::time::{Instant, sleep};

use crate::server::{self, NatsServer};
use crate::{PREFIX, broker, options};

async fn running(broker: NatsBroker) -> (Arc<NatsBroker>, Arc<Spy>) {
    running_with(broker, Spy::default()).await
}

async fn running_with(broker: NatsBroker, spy: Spy) -> (Arc<NatsBroker>, Arc<Spy>) {
    let broker = Arc::new(broker);
    let spy = Arc::new(spy);
    broker.run(spy.clone()).await.expect("run");
    (broker, spy)
}

/// A `RecordingHandler` that also records control messages and gaps, and can stall.
#[derive(Debug, Default)]
struct Spy {
    events: RecordingHandler,
    controls: Mutex<Vec<Vec<u8>>>,
    gaps: AtomicUsize,
    /// The first publication blocks its reader this long, to make it a slow consumer.
    stall_first: Option<Duration>,
    stalled: AtomicUsize,
}

impl Spy {
    fn controls(&self) -> Vec<Vec<u8>> {
        self.controls.lock().expect("controls").clone()
    }

    fn gaps(&self) -> usize {
        self.gaps.load(Ordering::SeqCst)
    }
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
        if let Some(stall) = self.stall_first
            && self.stalled.fetch_add(1, Ordering::SeqCst) == 0
        {
            std::thread::sleep(stall);
        }
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
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(20)).await;
    }
}

fn text(data: &str) -> Publication {
    Publication {
        data: Bytes::from(data.to_owned()),
        ..Publication::default()
    }
}

fn data_of(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|event| match event {
            Event::Publication { publication, .. } => {
                String::from_utf8_lossy(&publication.data).into_owned()
            }
            other => panic!("expected publications only, got {other:?}"),
        })
        .collect()
}

async fn publish(broker: &NatsBroker, channel: &str, data: &str) -> PublishResult {
    broker
        .publish(channel, text(data), &PublishOptions::default())
        .await
        .expect("publish")
}

#[tokio::test]
async fn connected_broker_is_healthy() {
    let broker = broker().await;
    assert!(broker.is_healthy());
    assert!(Broker::is_healthy(&broker));
    let shown = format!("{broker:?}");
    assert!(shown.contains("herald-it.control"), "{shown}");
}

#[tokio::test]
async fn connect_fails_fast_without_a_server() {
    let options = NatsOptions {
        url: format!("nats://127.0.0.1:{}", server::free_port()),
        ..NatsOptions::default()
    };
    let started = Instant::now();
    let result = NatsBroker::connect(options).await;
    assert!(
        matches!(result, Err(EngineError::Unavailable { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn another_node_receives_publications_joins_and_leaves() {
    let (publisher, publisher_spy) = running(broker().await).await;
    let (receiver, receiver_spy) = running(broker().await).await;
    let ch = unique_channel("two-nodes");
    receiver.subscribe(&ch).await.expect("subscribe");

    let info = ClientInfo {
        user: "alice".into(),
        client: "client-a".into(),
        ..ClientInfo::default()
    };
    let result = publisher
        .publish(&ch, text("hello"), &PublishOptions::default())
        .await
        .expect("publish");
    assert_eq!(result, PublishResult::default());
    publisher.publish_join(&ch, &info).await.expect("join");
    publisher.publish_leave(&ch, &info).await.expect("leave");

    let events = receiver_spy.wait_events(&ch, 3).await;
    assert_eq!(
        events,
        vec![
            Event::Publication {
                channel: ch.clone(),
                publication: text("hello"),
                position: StreamPosition::default(),
            },
            Event::Join {
                channel: ch.clone(),
                info: info.clone(),
            },
            Event::Leave {
                channel: ch.clone(),
                info,
            },
        ]
    );
    // The publisher has no subscriber in the channel, so it got nothing.
    assert!(publisher_spy.events_in(&ch).is_empty());
}

#[tokio::test]
async fn control_messages_reach_every_node_including_the_sender() {
    let (first, first_spy) = running(broker().await).await;
    let (_second, second_spy) = running(broker().await).await;
    let marker = unique_channel("control").into_bytes();
    first
        .publish_control(Bytes::from(marker.clone()))
        .await
        .expect("publish control");
    for spy in [&first_spy, &second_spy] {
        eventually("the control message", || spy.controls().contains(&marker)).await;
    }
}

#[tokio::test]
async fn unsubscribe_stops_delivery() {
    let (broker, spy) = running(broker().await).await;
    let ch = unique_channel("unsubscribe");
    broker.subscribe(&ch).await.expect("subscribe");
    // Subscribing twice is one subscription: one delivery per publication.
    broker.subscribe(&ch).await.expect("subscribe again");
    publish(&broker, &ch, "1").await;
    spy.wait_events(&ch, 1).await;

    broker.unsubscribe(&ch).await.expect("unsubscribe");
    broker.unsubscribe(&ch).await.expect("unsubscribe again");
    publish(&broker, &ch, "2").await;
    sleep(Duration::from_millis(200)).await;

    broker.subscribe(&ch).await.expect("subscribe");
    publish(&broker, &ch, "3").await;
    let events = spy.wait_events(&ch, 2).await;
    sleep(Duration::from_millis(100)).await;
    assert_eq!(data_of(&spy.events_in(&ch)), vec!["1", "3"], "{events:?}");
}

#[tokio::test]
async fn history_options_and_idempotency_keys_are_ignored() {
    let (broker, spy) = running(broker().await).await;
    let ch = unique_channel("idempotency");
    broker.subscribe(&ch).await.expect("subscribe");
    let keyed = PublishOptions {
        history_size: 10,
        history_ttl: Duration::from_secs(60),
        idempotency_key: Some("key-1".into()),
        ..PublishOptions::default()
    };
    for data in ["1", "2"] {
        let result = broker
            .publish(&ch, text(data), &keyed)
            .await
            .expect("publish");
        assert_eq!(result, PublishResult::default());
    }
    spy.wait_events(&ch, 2).await;
    assert_eq!(data_of(&spy.events_in(&ch)), vec!["1", "2"]);
}

#[tokio::test]
async fn channel_names_nats_cannot_carry_are_refused() {
    let (broker, _spy) = running(broker().await).await;
    for channel in ["", "news.*", "a.>", "with space", "a..b", "trailing."] {
        let refused = |result: Result<(), EngineError>| {
            assert!(
                matches!(result, Err(EngineError::NotSupported { .. })),
                "{channel:?}: {result:?}"
            );
        };
        refused(broker.subscribe(channel).await);
        refused(
            broker
                .publish(channel, text("x"), &PublishOptions::default())
                .await
                .map(|_| ()),
        );
        refused(broker.publish_join(channel, &ClientInfo::default()).await);
        // Never subscribed, so nothing to do.
        broker.unsubscribe(channel).await.expect("unsubscribe");
    }
}

#[tokio::test]
async fn undecodable_messages_are_counted_and_skipped() {
    let server = server::shared();
    let (broker, spy) = running(broker().await).await;
    let ch = unique_channel("undecodable");
    broker.subscribe(&ch).await.expect("subscribe");

    let raw = async_nats::connect(server.url()).await.expect("raw client");
    let subject = format!("{PREFIX}.client.{ch}");
    for garbage in [&b"hello"[..], b"p1:\xff", b"", b"j1:\x05ab"] {
        raw.publish(subject.clone(), Bytes::copy_from_slice(garbage))
            .await
            .expect("raw publish");
    }
    raw.flush().await.expect("flush");
    eventually("4 undecodable messages", || {
        broker.undecodable_messages() == 4
    })
    .await;

    publish(&broker, &ch, "valid").await;
    spy.wait_events(&ch, 1).await;
    assert_eq!(data_of(&spy.events_in(&ch)), vec!["valid"]);
    assert_eq!(broker.undecodable_messages(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_drops_are_reported_as_a_gap() {
    const SENT: usize = 200;
    let options = NatsOptions {
        subscription_capacity: 4,
        ..options(server::shared())
    };
    let broker = NatsBroker::connect(options).await.expect("connect");
    let spy = Spy {
        stall_first: Some(Duration::from_millis(500)),
        ..Spy::default()
    };
    let (broker, spy) = running_with(broker, spy).await;
    let ch = unique_channel("slow-consumer");
    broker.subscribe(&ch).await.expect("subscribe");
    for n in 0..SENT {
        publish(&broker, &ch, &n.to_string()).await;
    }
    eventually("a gap", || spy.gaps() >= 1).await;
    assert!(broker.slow_consumer_events() > 0);
    // What was kept still arrives, in order; what was dropped never does.
    sleep(Duration::from_millis(700)).await;
    let delivered: Vec<usize> = data_of(&spy.events_in(&ch))
        .iter()
        .map(|d| d.parse().expect("number"))
        .collect();
    assert!(delivered.len() < SENT, "nothing was dropped: {delivered:?}");
    assert!(delivered.is_sorted(), "{delivered:?}");
    assert_eq!(delivered.first(), Some(&0));
    // The broker is still healthy: a slow consumer is no lost connection.
    assert!(broker.is_healthy());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_reports_a_gap_and_delivery_resumes() {
    let mut server = NatsServer::start();
    let (broker, spy) = running(
        NatsBroker::connect(options(&server))
            .await
            .expect("connect"),
    )
    .await;
    let (other, other_spy) = running(
        NatsBroker::connect(options(&server))
            .await
            .expect("connect"),
    )
    .await;
    let ch = unique_channel("restart");
    broker.subscribe(&ch).await.expect("subscribe");
    other.subscribe(&ch).await.expect("subscribe");
    publish(&broker, &ch, "before").await;
    spy.wait_events(&ch, 1).await;
    assert_eq!(spy.gaps(), 0);

    server.stop();
    eventually("unhealthy", || !broker.is_healthy()).await;
    let refused = broker
        .publish(&ch, text("while down"), &PublishOptions::default())
        .await;
    assert!(
        matches!(refused, Err(EngineError::Unavailable { .. })),
        "{refused:?}"
    );
    let refused = broker.subscribe(&unique_channel("restart-new")).await;
    assert!(
        matches!(refused, Err(EngineError::Unavailable { .. })),
        "{refused:?}"
    );

    server.restart();
    eventually("healthy again", || {
        broker.is_healthy() && other.is_healthy()
    })
    .await;
    eventually("a gap on both nodes", || {
        spy.gaps() >= 1 && other_spy.gaps() >= 1
    })
    .await;

    // The subscription is back without subscribing again, on both nodes.
    publish(&other, &ch, "after").await;
    spy.wait_events(&ch, 2).await;
    other_spy.wait_events(&ch, 2).await;
    assert_eq!(data_of(&spy.events_in(&ch)), vec!["before", "after"]);
    assert_eq!(data_of(&other_spy.events_in(&ch)), vec!["before", "after"]);
    // And the control plane too.
    broker
        .publish_control(Bytes::from_static(b"after restart"))
        .await
        .expect("publish control");
    eventually("control after restart", || {
        other_spy.controls().contains(&b"after restart".to_vec())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requested_reconnect_reports_a_gap_and_delivery_resumes() {
    let server = NatsServer::start();
    let (broker, spy) = running(
        NatsBroker::connect(options(&server))
            .await
            .expect("connect"),
    )
    .await;
    let ch = unique_channel("requested-reconnect");
    broker.subscribe(&ch).await.expect("subscribe");
    publish(&broker, &ch, "before").await;
    spy.wait_events(&ch, 1).await;
    assert_eq!(spy.gaps(), 0);

    Broker::reconnect(&*broker);
    eventually("a gap", || spy.gaps() >= 1).await;
    eventually("healthy again", || broker.is_healthy()).await;
    publish(&broker, &ch, "after").await;
    spy.wait_events(&ch, 2).await;
}
