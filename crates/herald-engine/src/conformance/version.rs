//! [`Broker`] cases for publication versions ([`PublishOptions::version`], Centrifugo 6.2): a
//! publication not newer than the channel's last versioned one is dropped. The checks live
//! with the stream, so brokers without history (`history = false`) run only
//! [`version_is_ignored_without_history`], as Centrifugo ignores versions there too.

use std::sync::Arc;

use bytes::Bytes;

use super::broker::{all, numbered, offsets, read, start, with_history};
use crate::{Broker, PublishOptions, PublishResult, StreamPosition, SuppressReason};

/// A versioned publish whose version is not above the last one is dropped: neither delivered
/// nor stored, and the result is the current top with [`SuppressReason::Version`].
pub async fn stale_version_is_dropped<B: Broker + ?Sized>(broker: Arc<B>) {
    let (handler, ch) = start(&*broker, "version-stale").await;
    let first = publish(&*broker, &ch, 1, versioned(10, "")).await;
    assert_eq!((first.position.offset, first.suppressed), (1, None));
    let second = publish(&*broker, &ch, 2, versioned(11, "")).await;
    assert_eq!((second.position.offset, second.suppressed), (2, None));

    for (n, version) in [(98, 11), (99, 3)] {
        let dropped = publish(&*broker, &ch, n, versioned(version, "")).await;
        assert_eq!(
            dropped,
            PublishResult {
                position: second.position.clone(),
                suppressed: Some(SuppressReason::Version),
            },
            "version {version} after 11"
        );
    }
    let third = publish(&*broker, &ch, 3, versioned(12, "")).await;
    assert_eq!((third.position.offset, third.suppressed), (3, None));
    assert_eq!(third.position.epoch, first.position.epoch);

    // Publication 3 arriving right after 2 proves the dropped ones were never delivered.
    let delivered = handler.wait_publications(&ch, 3).await;
    let delivered: Vec<Bytes> = delivered.into_iter().map(|(p, _)| p.data).collect();
    assert_eq!(delivered, [b"1", b"2", b"3"].map(|d| Bytes::from_static(d)));
    let history = read(&*broker, &ch, all()).await.expect("history");
    assert_eq!(offsets(&history), vec![1, 2, 3]);
}

/// A different non-empty `version_epoch` always passes (the publisher's counter restarted);
/// the same epoch compares, and an empty epoch compares with the last version whatever its
/// epoch.
pub async fn version_epoch_decides_what_is_compared<B: Broker + ?Sized>(broker: Arc<B>) {
    let (handler, ch) = start(&*broker, "version-epoch").await;
    let cases = [
        (1, versioned(5, "a"), None),
        (2, versioned(1, "b"), None),
        (99, versioned(1, "b"), Some(SuppressReason::Version)),
        (99, versioned(1, ""), Some(SuppressReason::Version)),
        (3, versioned(2, ""), None),
        (4, versioned(1, "a"), None),
    ];
    for (n, opts, expected) in cases {
        let result = publish(&*broker, &ch, n, opts.clone()).await;
        assert_eq!(
            result.suppressed, expected,
            "version {} epoch {:?}",
            opts.version, opts.version_epoch
        );
    }
    let delivered = handler.wait_publications(&ch, 4).await;
    let delivered: Vec<u64> = delivered.iter().map(|(p, _)| p.offset).collect();
    assert_eq!(delivered, vec![1, 2, 3, 4]);
}

/// A publish without a version is never dropped and leaves the last version as it was, so
/// later versioned publishes still compare with it (Centrifugo's Redis engine; its memory
/// engine forgets the version instead, and Herald's engines agree with Redis).
pub async fn unversioned_publish_keeps_last_version<B: Broker + ?Sized>(broker: Arc<B>) {
    let (handler, ch) = start(&*broker, "version-unversioned").await;
    publish(&*broker, &ch, 1, versioned(5, "")).await;
    let plain = publish(&*broker, &ch, 2, with_history(10)).await;
    assert_eq!((plain.position.offset, plain.suppressed), (2, None));
    let stale = publish(&*broker, &ch, 99, versioned(5, "")).await;
    assert_eq!(stale.suppressed, Some(SuppressReason::Version));
    assert_eq!(stale.position, plain.position);
    let newer = publish(&*broker, &ch, 3, versioned(6, "")).await;
    assert_eq!((newer.position.offset, newer.suppressed), (3, None));
    let delivered = handler.wait_publications(&ch, 3).await;
    let delivered: Vec<u64> = delivered.iter().map(|(p, _)| p.offset).collect();
    assert_eq!(delivered, vec![1, 2, 3]);
}

/// Without history the version is not checked: every publication is delivered (offset 0).
/// Runs for brokers with and without history.
pub async fn version_is_ignored_without_history<B: Broker + ?Sized>(broker: Arc<B>) {
    let (handler, ch) = start(&*broker, "version-no-history").await;
    for (n, version) in [(1, 5), (2, 5), (3, 1)] {
        let opts = PublishOptions {
            version,
            ..PublishOptions::default()
        };
        let result = broker
            .publish(&ch, numbered(n), &opts)
            .await
            .expect("publish");
        assert_eq!(result, PublishResult::default(), "publish {n}");
    }
    let delivered = handler.wait_publications(&ch, 3).await;
    let delivered: Vec<(Bytes, StreamPosition)> = delivered
        .into_iter()
        .map(|(p, position)| (p.data, position))
        .collect();
    let expected: Vec<(Bytes, StreamPosition)> = ["1", "2", "3"]
        .map(|data| {
            (
                Bytes::from_static(data.as_bytes()),
                StreamPosition::default(),
            )
        })
        .into();
    assert_eq!(delivered, expected);
}

/// History options with a version.
fn versioned(version: u64, epoch: &str) -> PublishOptions {
    PublishOptions {
        version,
        version_epoch: epoch.to_owned(),
        ..with_history(10)
    }
}

async fn publish<B: Broker + ?Sized>(
    broker: &B,
    ch: &str,
    n: u64,
    opts: PublishOptions,
) -> PublishResult {
    broker
        .publish(ch, numbered(n), &opts)
        .await
        .expect("publish")
}
