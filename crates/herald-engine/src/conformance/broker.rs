//! [`Broker`] cases. Each takes a fresh, not yet running broker and panics on a deviation.
//!
//! Expected semantics are Centrifugo's (`broker_memory.go` and the Redis Lua scripts of the Go
//! library), with one deliberate addition: a forward `since` whose successor was trimmed or
//! expired fails with [`EngineError::UnrecoverablePosition`] instead of silently starting at the
//! oldest publication held.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::sleep;

use super::{Event, RecordingHandler, unique_channel};
use crate::{
    Broker, ClientInfo, EngineError, HistoryFilter, HistoryLimit, HistoryOptions, HistoryResult,
    Publication, PublishOptions, PublishResult, StreamPosition, SuppressReason,
};

const SECOND: Duration = Duration::from_secs(1);
const MILLIS_500: Duration = Duration::from_millis(500);

/// Offsets start at 1 and increase by exactly 1 per publish.
pub async fn offsets_start_at_one_and_increase_by_one<B: Broker + ?Sized>(broker: Arc<B>) {
    let (_, ch) = start(&*broker, "offsets").await;
    let results = publish_numbered(&*broker, &ch, 5, &with_history(10)).await;
    let offsets: Vec<u64> = results.iter().map(|r| r.position.offset).collect();
    assert_eq!(offsets, vec![1, 2, 3, 4, 5]);
    assert!(
        results.iter().all(|r| r.suppressed.is_none()),
        "{results:?}"
    );
    assert_eq!(position(&*broker, &ch).await.offset, 5);
}

/// The epoch is 8 ASCII letters, the same for every publish into a stream, and different for
/// another stream.
pub async fn epoch_is_eight_letters_and_stable<B: Broker + ?Sized>(broker: Arc<B>) {
    let (_, ch) = start(&*broker, "epoch").await;
    let results = publish_numbered(&*broker, &ch, 3, &with_history(10)).await;
    let epoch = results[0].position.epoch.clone();
    assert_eq!(epoch.len(), 8, "epoch {epoch:?}");
    assert!(
        epoch.chars().all(|c| c.is_ascii_alphabetic()),
        "epoch {epoch:?}"
    );
    assert!(
        results.iter().all(|r| r.position.epoch == epoch),
        "{results:?}"
    );
    assert_eq!(position(&*broker, &ch).await.epoch, epoch);

    let other = unique_channel("epoch-other");
    let other_epoch = publish_numbered(&*broker, &other, 1, &with_history(10)).await[0]
        .position
        .epoch
        .clone();
    assert_ne!(other_epoch, epoch, "two streams share an epoch");
}

/// The handler gets every publication once, in offset order, with the position after it, and
/// calls for one channel never overlap.
pub async fn handler_receives_publications_in_order_with_positions<B: Broker + ?Sized>(
    broker: Arc<B>,
) {
    let (handler, ch) = start(&*broker, "handler-order").await;
    let results = publish_numbered(&*broker, &ch, 10, &with_history(100)).await;
    let epoch = &results[0].position.epoch;
    let delivered = handler.wait_publications(&ch, 10).await;
    assert_eq!(delivered.len(), 10, "{delivered:#?}");
    for (i, (publication, position)) in delivered.iter().enumerate() {
        let offset = i as u64 + 1;
        assert_eq!(publication.offset, offset, "{delivered:#?}");
        assert_eq!(publication.data, Bytes::from(offset.to_string()));
        assert_eq!(position.offset, offset);
        assert_eq!(&position.epoch, epoch);
    }
    assert!(!handler.overlapped(&ch), "handler calls overlapped");
}

/// Data (binary too), publisher info, tags, time and the delta flag come back unchanged from both delivery and
/// history.
pub async fn publication_fields_survive_delivery_and_history<B: Broker + ?Sized>(broker: Arc<B>) {
    let (handler, ch) = start(&*broker, "fields").await;
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
    let expected = Publication { offset: 1, ..sent };
    let delivered = handler.wait_publications(&ch, 1).await;
    assert_eq!(delivered[0].0, expected);
    let history = read(&*broker, &ch, all()).await.expect("history");
    assert_eq!(history.publications, vec![expected]);
}

/// Without history (size or TTL zero) a publication is delivered with offset 0 and an empty
/// position, and nothing is kept.
pub async fn publish_without_history_delivers_offset_zero_and_keeps_nothing<B: Broker + ?Sized>(
    broker: Arc<B>,
) {
    let (handler, ch) = start(&*broker, "no-history").await;
    let no_ttl = PublishOptions {
        history_size: 10,
        ..PublishOptions::default()
    };
    for opts in [PublishOptions::default(), no_ttl] {
        let result = broker
            .publish(
                &ch,
                Publication {
                    offset: 7,
                    ..numbered(1)
                },
                &opts,
            )
            .await
            .expect("publish");
        assert_eq!(result, PublishResult::default(), "{opts:?}");
    }
    let delivered = handler.wait_publications(&ch, 2).await;
    for (publication, position) in &delivered {
        assert_eq!(publication.offset, 0);
        assert_eq!(publication.data, Bytes::from("1"));
        assert_eq!(position, &StreamPosition::default());
    }
    let history = read(&*broker, &ch, all()).await.expect("history");
    assert!(history.publications.is_empty(), "{history:?}");
    assert_eq!(history.position.offset, 0);
}

/// Reading a channel that never had a publication creates its position (offset 0, a new epoch),
/// which later reads and the first publish keep.
pub async fn history_of_new_channel_creates_a_stable_position<B: Broker + ?Sized>(broker: Arc<B>) {
    let (_, ch) = start(&*broker, "new-position").await;
    let opts = HistoryOptions {
        filter: HistoryFilter::default(),
        meta_ttl: Duration::from_secs(300),
    };
    let first = broker.history(&ch, &opts).await.expect("history").position;
    assert_eq!(first.offset, 0);
    assert_eq!(first.epoch.len(), 8, "epoch {:?}", first.epoch);
    let second = broker.history(&ch, &opts).await.expect("history").position;
    assert_eq!(second, first);
    let published = publish_numbered(&*broker, &ch, 1, &with_history(10)).await;
    assert_eq!(published[0].position, StreamPosition { offset: 1, ..first });
}

/// The stream keeps only the newest `history_size` publications.
pub async fn history_is_trimmed_to_history_size<B: Broker + ?Sized>(broker: Arc<B>) {
    let (_, ch) = start(&*broker, "trim").await;
    publish_numbered(&*broker, &ch, 5, &with_history(3)).await;
    let history = read(&*broker, &ch, all()).await.expect("history");
    assert_eq!(offsets(&history), vec![3, 4, 5]);
    assert_eq!(history.position.offset, 5);
}

/// Limit 0 returns the position and no publications.
pub async fn history_limit_zero_returns_position_only<B: Broker + ?Sized>(broker: Arc<B>) {
    let (_, ch) = start(&*broker, "limit-zero").await;
    let results = publish_numbered(&*broker, &ch, 3, &with_history(10)).await;
    let filter = HistoryFilter {
        limit: HistoryLimit::from_protocol(0),
        ..HistoryFilter::default()
    };
    let history = read(&*broker, &ch, filter).await.expect("history");
    assert!(history.publications.is_empty(), "{history:?}");
    assert_eq!(history.position, results[2].position);
}

/// Limit -1 returns everything, oldest first.
pub async fn history_limit_all_returns_everything_oldest_first<B: Broker + ?Sized>(broker: Arc<B>) {
    let (_, ch) = start(&*broker, "limit-all").await;
    let results = publish_numbered(&*broker, &ch, 5, &with_history(10)).await;
    let filter = HistoryFilter {
        limit: HistoryLimit::from_protocol(-1),
        ..HistoryFilter::default()
    };
    let history = read(&*broker, &ch, filter).await.expect("history");
    assert_eq!(offsets(&history), vec![1, 2, 3, 4, 5]);
    assert_eq!(history.position, results[4].position);
}

/// Limit n returns the oldest n.
pub async fn history_limit_n_returns_oldest_n<B: Broker + ?Sized>(broker: Arc<B>) {
    let (_, ch) = start(&*broker, "limit-n").await;
    publish_numbered(&*broker, &ch, 5, &with_history(10)).await;
    let history = read(&*broker, &ch, limited(2)).await.expect("history");
    assert_eq!(offsets(&history), vec![1, 2]);
    assert_eq!(history.position.offset, 5);
    let history = read(&*broker, &ch, limited(10)).await.expect("history");
    assert_eq!(offsets(&history), vec![1, 2, 3, 4, 5]);
}

/// `reverse` returns newest first, and a limit then keeps the newest.
pub async fn history_reverse_returns_newest_first<B: Broker + ?Sized>(broker: Arc<B>) {
    let (_, ch) = start(&*broker, "reverse").await;
    publish_numbered(&*broker, &ch, 5, &with_history(10)).await;
    let history = read(
        &*broker,
        &ch,
        HistoryFilter {
            reverse: true,
            ..all()
        },
    )
    .await
    .expect("history");
    assert_eq!(offsets(&history), vec![5, 4, 3, 2, 1]);
    let history = read(
        &*broker,
        &ch,
        HistoryFilter {
            reverse: true,
            ..limited(2)
        },
    )
    .await
    .expect("history");
    assert_eq!(offsets(&history), vec![5, 4]);
}

/// `since` returns exactly the publications after it, oldest first, limited.
pub async fn history_since_returns_publications_after_position<B: Broker + ?Sized>(broker: Arc<B>) {
    let (_, ch) = start(&*broker, "since").await;
    let results = publish_numbered(&*broker, &ch, 5, &with_history(10)).await;
    let epoch = &results[0].position.epoch;
    let history = read(&*broker, &ch, since(2, epoch, all()))
        .await
        .expect("history");
    assert_eq!(offsets(&history), vec![3, 4, 5]);
    assert_eq!(history.position, results[4].position);
    let history = read(&*broker, &ch, since(2, epoch, limited(2)))
        .await
        .expect("history");
    assert_eq!(offsets(&history), vec![3, 4]);
    let history = read(&*broker, &ch, since(0, epoch, all()))
        .await
        .expect("history");
    assert_eq!(offsets(&history), vec![1, 2, 3, 4, 5]);
}

/// `since` with `reverse` pages backwards, as Centrifugo does: the publications before `since`
/// (offset < since.offset), newest first, limited.
pub async fn history_since_reverse_returns_older_publications_newest_first<B: Broker + ?Sized>(
    broker: Arc<B>,
) {
    let (_, ch) = start(&*broker, "since-reverse").await;
    let results = publish_numbered(&*broker, &ch, 5, &with_history(10)).await;
    let epoch = &results[0].position.epoch;
    let reversed = |filter| HistoryFilter {
        reverse: true,
        ..filter
    };
    let history = read(&*broker, &ch, reversed(since(4, epoch, all())))
        .await
        .expect("history");
    assert_eq!(offsets(&history), vec![3, 2, 1]);
    assert_eq!(history.position, results[4].position);
    let history = read(&*broker, &ch, reversed(since(4, epoch, limited(2))))
        .await
        .expect("history");
    assert_eq!(offsets(&history), vec![3, 2]);
    let history = read(&*broker, &ch, reversed(since(1, epoch, all())))
        .await
        .expect("history");
    assert_eq!(offsets(&history), Vec::<u64>::new());
}

/// `since` at the top is fine and returns nothing.
pub async fn history_since_top_is_empty<B: Broker + ?Sized>(broker: Arc<B>) {
    let (_, ch) = start(&*broker, "since-top").await;
    let results = publish_numbered(&*broker, &ch, 5, &with_history(10)).await;
    let epoch = &results[0].position.epoch;
    for filter in [all(), limited(3)] {
        let history = read(&*broker, &ch, since(5, epoch, filter))
            .await
            .expect("history");
        assert!(history.publications.is_empty(), "{history:?}");
        assert_eq!(history.position, results[4].position);
    }
}

/// `since` with an epoch other than the stream's cannot be continued from.
pub async fn history_since_other_epoch_is_unrecoverable<B: Broker + ?Sized>(broker: Arc<B>) {
    let (_, ch) = start(&*broker, "since-epoch").await;
    let results = publish_numbered(&*broker, &ch, 5, &with_history(10)).await;
    let other = swap_case(&results[0].position.epoch);
    for offset in [1, 5] {
        let result = read(&*broker, &ch, since(offset, &other, all())).await;
        assert_eq!(
            result,
            Err(EngineError::UnrecoverablePosition),
            "since offset {offset}"
        );
    }
}

/// `since` whose next publication was trimmed away cannot be continued from; the oldest
/// position still covered can.
pub async fn history_since_trimmed_offset_is_unrecoverable<B: Broker + ?Sized>(broker: Arc<B>) {
    let (_, ch) = start(&*broker, "since-trimmed").await;
    let results = publish_numbered(&*broker, &ch, 5, &with_history(3)).await;
    let epoch = &results[0].position.epoch;
    let result = read(&*broker, &ch, since(1, epoch, all())).await;
    assert_eq!(result, Err(EngineError::UnrecoverablePosition));
    let history = read(&*broker, &ch, since(2, epoch, all()))
        .await
        .expect("history");
    assert_eq!(offsets(&history), vec![3, 4, 5]);
}

/// Publications expire `history_ttl` after the last publish; the position outlives them, so an
/// older `since` becomes unrecoverable while the top is still fine.
pub async fn history_expires_after_ttl_from_last_publish<B: Broker + ?Sized>(broker: Arc<B>) {
    let (_, ch) = start(&*broker, "history-ttl").await;
    let opts = PublishOptions {
        history_ttl: 2 * SECOND,
        ..with_history(10)
    };
    publish_numbered(&*broker, &ch, 1, &opts).await;
    sleep(SECOND + MILLIS_500).await;
    let second = broker
        .publish(&ch, numbered(2), &opts)
        .await
        .expect("publish");
    sleep(SECOND + MILLIS_500).await;
    // 3 s after the first publish but 1.5 s after the last: still there.
    let history = read(&*broker, &ch, all()).await.expect("history");
    assert_eq!(offsets(&history), vec![1, 2]);
    sleep(SECOND).await;
    // 2.5 s after the last publish: gone, position kept.
    let history = read(&*broker, &ch, all()).await.expect("history");
    assert!(history.publications.is_empty(), "{history:?}");
    assert_eq!(history.position, second.position);
    let epoch = &second.position.epoch;
    let result = read(&*broker, &ch, since(1, epoch, all())).await;
    assert_eq!(result, Err(EngineError::UnrecoverablePosition));
    let history = read(&*broker, &ch, since(2, epoch, all()))
        .await
        .expect("history");
    assert!(history.publications.is_empty(), "{history:?}");
}

/// Once the position expires (`history_meta_ttl` after the last publish), the next publish
/// starts a new epoch at offset 1.
pub async fn position_expiry_starts_a_new_epoch<B: Broker + ?Sized>(broker: Arc<B>) {
    let (_, ch) = start(&*broker, "meta-ttl").await;
    let opts = PublishOptions {
        history_size: 10,
        history_ttl: SECOND,
        history_meta_ttl: 2 * SECOND,
        ..PublishOptions::default()
    };
    let first = broker
        .publish(&ch, numbered(1), &opts)
        .await
        .expect("publish");
    sleep(3 * SECOND).await;
    let next = broker
        .publish(&ch, numbered(1), &opts)
        .await
        .expect("publish");
    assert_eq!(next.position.offset, 1);
    assert_ne!(next.position.epoch, first.position.epoch);
}

/// `remove_history` drops the publications but keeps the position, and the stream continues.
pub async fn remove_history_keeps_position<B: Broker + ?Sized>(broker: Arc<B>) {
    let (_, ch) = start(&*broker, "remove-history").await;
    let results = publish_numbered(&*broker, &ch, 3, &with_history(10)).await;
    broker.remove_history(&ch).await.expect("remove_history");
    let history = read(&*broker, &ch, all()).await.expect("history");
    assert!(history.publications.is_empty(), "{history:?}");
    assert_eq!(history.position, results[2].position);
    let next = broker
        .publish(&ch, numbered(4), &with_history(10))
        .await
        .expect("publish");
    assert_eq!(next.position.offset, 4);
    assert_eq!(next.position.epoch, results[0].position.epoch);
    broker
        .remove_history(&unique_channel("remove-unknown"))
        .await
        .expect("remove unknown");
}

/// A second publish with the same idempotency key in the same channel is suppressed: it returns
/// the first position and is neither delivered nor stored. Keys are per channel.
pub async fn idempotency_key_suppresses_second_publish<B: Broker + ?Sized>(broker: Arc<B>) {
    let (handler, ch) = start(&*broker, "idempotency").await;
    let keyed = PublishOptions {
        idempotency_key: Some("key-1".to_owned()),
        idempotent_result_ttl: 60 * SECOND,
        ..with_history(10)
    };
    let first = broker
        .publish(&ch, numbered(1), &keyed)
        .await
        .expect("publish");
    assert_eq!(first.suppressed, None);
    let again = broker
        .publish(&ch, numbered(99), &keyed)
        .await
        .expect("publish");
    assert_eq!(
        again,
        PublishResult {
            position: first.position.clone(),
            suppressed: Some(SuppressReason::Idempotency)
        }
    );
    let unkeyed = broker
        .publish(&ch, numbered(2), &with_history(10))
        .await
        .expect("publish");
    assert_eq!(unkeyed.position.offset, 2);

    // The unkeyed publication arriving second proves the suppressed one was never delivered.
    let delivered = handler.wait_publications(&ch, 2).await;
    let delivered: Vec<u64> = delivered.iter().map(|(p, _)| p.offset).collect();
    assert_eq!(delivered, vec![1, 2]);
    let history = read(&*broker, &ch, all()).await.expect("history");
    assert_eq!(offsets(&history), vec![1, 2]);

    let elsewhere = broker
        .publish(&unique_channel("idempotency-other"), numbered(1), &keyed)
        .await
        .expect("publish");
    assert!(
        elsewhere.suppressed.is_none(),
        "idempotency keys leaked across channels"
    );
}

/// An idempotency key is forgotten after `idempotent_result_ttl`.
pub async fn idempotency_key_expires<B: Broker + ?Sized>(broker: Arc<B>) {
    let (_, ch) = start(&*broker, "idempotency-ttl").await;
    let keyed = PublishOptions {
        idempotency_key: Some("key-1".to_owned()),
        idempotent_result_ttl: SECOND,
        ..with_history(10)
    };
    broker
        .publish(&ch, numbered(1), &keyed)
        .await
        .expect("publish");
    assert!(
        broker
            .publish(&ch, numbered(1), &keyed)
            .await
            .expect("publish")
            .suppressed
            .is_some()
    );
    sleep(2 * SECOND).await;
    let later = broker
        .publish(&ch, numbered(2), &keyed)
        .await
        .expect("publish");
    assert_eq!(later.suppressed, None);
    assert_eq!(later.position.offset, 2);
}

/// Joins and leaves reach the handler with the client info, in order.
pub async fn join_and_leave_reach_handler<B: Broker + ?Sized>(broker: Arc<B>) {
    let (handler, ch) = start(&*broker, "join-leave").await;
    let alice = client_info("alice", "client-a");
    let anonymous = client_info("", "client-b");
    broker.publish_join(&ch, &alice).await.expect("join");
    broker.publish_join(&ch, &anonymous).await.expect("join");
    broker.publish_leave(&ch, &alice).await.expect("leave");
    let events = handler.wait_events(&ch, 3).await;
    let expected = vec![
        Event::Join {
            channel: ch.clone(),
            info: alice.clone(),
        },
        Event::Join {
            channel: ch.clone(),
            info: anonymous,
        },
        Event::Leave {
            channel: ch,
            info: alice,
        },
    ];
    assert_eq!(events, expected);
}

/// Publishing before `run` fails with `NotRunning` rather than losing the publication.
pub async fn publish_before_run_is_not_running<B: Broker + ?Sized>(broker: Arc<B>) {
    let ch = unique_channel("not-running");
    let result = broker.publish(&ch, numbered(1), &with_history(10)).await;
    assert_eq!(result, Err(EngineError::NotRunning));
}

/// Many tasks publishing into one channel at once get unique, consecutive offsets, and the
/// handler sees them in offset order, each with the position its publisher got back.
pub async fn concurrent_publishes_get_consecutive_offsets_in_order<B: Broker + ?Sized>(
    broker: Arc<B>,
) {
    const TASKS: u64 = 8;
    const PER_TASK: u64 = 50;
    const TOTAL: u64 = TASKS * PER_TASK;
    let (handler, ch) = start(&*broker, "concurrent").await;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let broker = Arc::clone(&broker);
        let ch = ch.clone();
        tasks.spawn(async move {
            let mut results = Vec::new();
            for i in 0..PER_TASK {
                let data = format!("{task}-{i}");
                let publication = Publication {
                    data: Bytes::from(data.clone()),
                    ..Publication::default()
                };
                let result = broker
                    .publish(&ch, publication, &with_history(TOTAL as usize))
                    .await
                    .expect("publish");
                results.push((data, result.position));
            }
            results
        });
    }
    let mut published = HashMap::new();
    while let Some(results) = tasks.join_next().await {
        published.extend(results.expect("publishing task panicked"));
    }
    let mut offsets: Vec<u64> = published.values().map(|p| p.offset).collect();
    offsets.sort_unstable();
    assert_eq!(offsets, (1..=TOTAL).collect::<Vec<_>>());

    let delivered = handler.wait_publications(&ch, TOTAL as usize).await;
    assert_eq!(delivered.len() as u64, TOTAL);
    for (i, (publication, position)) in delivered.iter().enumerate() {
        assert_eq!(publication.offset, i as u64 + 1, "delivered out of order");
        let data = String::from_utf8_lossy(&publication.data).into_owned();
        assert_eq!(published.get(&data), Some(position), "publication {data}");
    }
    assert!(!handler.overlapped(&ch), "handler calls overlapped");
    let history = read(&*broker, &ch, all()).await.expect("history");
    let held: Vec<u64> = history.publications.iter().map(|p| p.offset).collect();
    assert_eq!(held, (1..=TOTAL).collect::<Vec<_>>());
}

/// Runs the broker with a recording handler and subscribes it to a fresh channel.
pub(super) async fn start<B: Broker + ?Sized>(
    broker: &B,
    case: &str,
) -> (Arc<RecordingHandler>, String) {
    let handler = Arc::new(RecordingHandler::default());
    broker.run(handler.clone()).await.expect("run");
    let ch = unique_channel(case);
    broker.subscribe(&ch).await.expect("subscribe");
    (handler, ch)
}

/// History options for a stream: long TTLs, so only the cases about expiry see any.
pub(super) fn with_history(size: usize) -> PublishOptions {
    PublishOptions {
        history_size: size,
        history_ttl: Duration::from_secs(300),
        history_meta_ttl: Duration::from_secs(3600),
        ..PublishOptions::default()
    }
}

/// A publication whose data is `n`, so reads can check that offset `n` holds publication `n`.
pub(super) fn numbered(n: u64) -> Publication {
    Publication {
        data: Bytes::from(n.to_string()),
        ..Publication::default()
    }
}

async fn publish_numbered<B: Broker + ?Sized>(
    broker: &B,
    ch: &str,
    count: u64,
    opts: &PublishOptions,
) -> Vec<PublishResult> {
    let mut results = Vec::new();
    for n in 1..=count {
        results.push(
            broker
                .publish(ch, numbered(n), opts)
                .await
                .expect("publish"),
        );
    }
    results
}

pub(super) async fn read<B: Broker + ?Sized>(
    broker: &B,
    ch: &str,
    filter: HistoryFilter,
) -> Result<HistoryResult, EngineError> {
    let opts = HistoryOptions {
        filter,
        meta_ttl: Duration::ZERO,
    };
    broker.history(ch, &opts).await
}

async fn position<B: Broker + ?Sized>(broker: &B, ch: &str) -> StreamPosition {
    read(broker, ch, HistoryFilter::default())
        .await
        .expect("history")
        .position
}

pub(super) fn all() -> HistoryFilter {
    HistoryFilter {
        limit: HistoryLimit::All,
        ..HistoryFilter::default()
    }
}

fn limited(n: usize) -> HistoryFilter {
    HistoryFilter {
        limit: HistoryLimit::Max(n),
        ..HistoryFilter::default()
    }
}

fn since(offset: u64, epoch: &str, filter: HistoryFilter) -> HistoryFilter {
    HistoryFilter {
        since: Some(StreamPosition {
            offset,
            epoch: epoch.to_owned(),
        }),
        ..filter
    }
}

/// The offsets read, after checking each publication holds the data published at its offset
/// (every case publishes `numbered(n)` at offset `n`).
pub(super) fn offsets(history: &HistoryResult) -> Vec<u64> {
    history
        .publications
        .iter()
        .map(|p| {
            assert_eq!(
                p.data,
                Bytes::from(p.offset.to_string()),
                "wrong data at offset {}",
                p.offset
            );
            p.offset
        })
        .collect()
}

fn client_info(user: &str, client: &str) -> ClientInfo {
    ClientInfo {
        user: user.to_owned(),
        client: client.to_owned(),
        conn_info: Bytes::from_static(b"{\"name\":\"conn\"}"),
        chan_info: Bytes::from_static(b"{\"role\":\"chan\"}"),
    }
}

/// Another valid epoch, certainly different from `epoch`.
fn swap_case(epoch: &str) -> String {
    epoch
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}
