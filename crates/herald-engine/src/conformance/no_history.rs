//! [`Broker`] cases for brokers without history (at-most-once PUB/SUB, like Centrifugo's NATS
//! broker), run by `broker_conformance_tests!(.., history = false, ..)` in place of the
//! [`broker`](super::broker) cases that read streams or rely on idempotency keys.
//!
//! Such a broker still publishes when the options ask for history, but keeps nothing: every
//! publication is delivered with offset 0 and an empty position, publish returns an empty
//! position, and reading history fails with [`EngineError::NotSupported`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{RecordingHandler, unique_channel};
use crate::{
    Broker, ClientInfo, EngineError, HistoryFilter, HistoryLimit, HistoryOptions, Publication,
    PublishOptions, PublishResult, StreamPosition,
};

/// Publications reach the handler once each, in publish order, with offset 0 and an empty
/// position, whether or not the options ask for history; publish returns an empty result.
pub async fn publications_reach_handler_in_order_without_positions<B: Broker + ?Sized>(
    broker: Arc<B>,
) {
    let (handler, ch) = start(&*broker, "at-most-once-order").await;
    for n in 1..=10u64 {
        let opts = if n % 2 == 0 {
            with_history(100)
        } else {
            PublishOptions::default()
        };
        let publication = Publication {
            offset: 7,
            ..numbered(n)
        };
        let result = broker
            .publish(&ch, publication, &opts)
            .await
            .expect("publish");
        assert_eq!(result, PublishResult::default(), "publish {n}");
    }
    let delivered = handler.wait_publications(&ch, 10).await;
    assert_eq!(delivered.len(), 10, "{delivered:#?}");
    for (i, (publication, position)) in delivered.iter().enumerate() {
        assert_eq!(publication.data, Bytes::from((i + 1).to_string()));
        assert_eq!(publication.offset, 0);
        assert_eq!(position, &StreamPosition::default());
    }
    assert!(!handler.overlapped(&ch), "handler calls overlapped");
}

/// Data (binary too), publisher info, tags, time and the delta flag come back unchanged from delivery.
pub async fn publication_fields_survive_delivery<B: Broker + ?Sized>(broker: Arc<B>) {
    let (handler, ch) = start(&*broker, "at-most-once-fields").await;
    let sent = Publication {
        offset: 0,
        data: Bytes::from_static(b"\x00\xff{\"binary\":true}"),
        info: Some(client_info("user-1", "client-1")),
        tags: HashMap::from([
            ("k".to_owned(), "v".to_owned()),
            ("empty".to_owned(), String::new()),
        ]),
        time: 1_700_000_000_123,
        delta: true,
    };
    broker
        .publish(&ch, sent.clone(), &with_history(10))
        .await
        .expect("publish");
    let delivered = handler.wait_publications(&ch, 1).await;
    assert_eq!(delivered[0].0, sent);
}

/// `history` and `remove_history` fail with `NotSupported { what: "history" }`, for a channel
/// with publications and for one without.
pub async fn history_is_not_supported<B: Broker + ?Sized>(broker: Arc<B>) {
    let (handler, ch) = start(&*broker, "at-most-once-history").await;
    broker
        .publish(&ch, numbered(1), &with_history(10))
        .await
        .expect("publish");
    handler.wait_publications(&ch, 1).await;
    let unsupported = Err(EngineError::NotSupported { what: "history" });
    for channel in [ch, unique_channel("at-most-once-history-new")] {
        let opts = HistoryOptions {
            filter: HistoryFilter {
                limit: HistoryLimit::All,
                ..HistoryFilter::default()
            },
            meta_ttl: Duration::from_secs(300),
        };
        assert_eq!(broker.history(&channel, &opts).await, unsupported);
        assert_eq!(
            broker.remove_history(&channel).await,
            unsupported.clone().map(|_| ())
        );
    }
}

/// Many tasks publishing into one channel at once: every publication is delivered once, each
/// task's publications in the order it published them, and handler calls never overlap.
pub async fn concurrent_publishes_arrive_in_publisher_order<B: Broker + ?Sized>(broker: Arc<B>) {
    const TASKS: u64 = 8;
    const PER_TASK: u64 = 50;
    let (handler, ch) = start(&*broker, "at-most-once-concurrent").await;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let broker = Arc::clone(&broker);
        let ch = ch.clone();
        tasks.spawn(async move {
            for i in 0..PER_TASK {
                let publication = Publication {
                    data: Bytes::from(format!("{task}-{i}")),
                    ..Publication::default()
                };
                let result = broker
                    .publish(&ch, publication, &PublishOptions::default())
                    .await
                    .expect("publish");
                assert_eq!(result, PublishResult::default());
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("publishing task panicked");
    }
    let delivered = handler
        .wait_publications(&ch, (TASKS * PER_TASK) as usize)
        .await;
    assert_eq!(delivered.len() as u64, TASKS * PER_TASK);
    let mut next = HashMap::new();
    for (publication, _) in &delivered {
        let data = String::from_utf8_lossy(&publication.data).into_owned();
        let (task, i) = data.split_once('-').expect("task-i");
        let expected = next.entry(task.to_owned()).or_insert(0u64);
        assert_eq!(
            i,
            expected.to_string(),
            "task {task} delivered out of order"
        );
        *expected += 1;
    }
    assert!(!handler.overlapped(&ch), "handler calls overlapped");
}

// The helpers below mirror those of `broker.rs`, kept apart so the two suites change
// independently.

async fn start<B: Broker + ?Sized>(broker: &B, case: &str) -> (Arc<RecordingHandler>, String) {
    let handler = Arc::new(RecordingHandler::default());
    broker.run(handler.clone()).await.expect("run");
    let ch = unique_channel(case);
    broker.subscribe(&ch).await.expect("subscribe");
    (handler, ch)
}

fn with_history(size: usize) -> PublishOptions {
    PublishOptions {
        history_size: size,
        history_ttl: Duration::from_secs(300),
        history_meta_ttl: Duration::from_secs(3600),
        ..PublishOptions::default()
    }
}

fn numbered(n: u64) -> Publication {
    Publication {
        data: Bytes::from(n.to_string()),
        ..Publication::default()
    }
}

fn client_info(user: &str, client: &str) -> ClientInfo {
    ClientInfo {
        user: user.to_owned(),
        client: client.to_owned(),
        conn_info: Bytes::from_static(b"{\"name\":\"conn\"}"),
        chan_info: Bytes::from_static(b"{\"role\":\"chan\"}"),
    }
}
