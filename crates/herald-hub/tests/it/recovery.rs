//! Recovery merges publications that arrive while the history is being read.

use std::time::Duration;

use bytes::Bytes;
use herald_hub::ApiPublish;

use crate::support::{connected, hub, options, send, take};

fn publish(n: u32) -> ApiPublish {
    ApiPublish {
        channel: "r".into(),
        data: Bytes::from(format!("{{\"n\":{n}}}")),
        ..Default::default()
    }
}

fn offsets(replies: &[herald_proto::Reply]) -> Vec<u64> {
    let mut out = Vec::new();
    for reply in replies {
        if let Some(sub) = &reply.subscribe {
            out.extend(sub.publications.iter().map(|p| p.offset));
        }
        if let Some(publication) = reply.push.as_ref().and_then(|p| p.r#pub.as_ref()) {
            out.push(publication.offset);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_with_concurrent_publishing_has_no_gap_and_no_duplicate() {
    let hub = hub(options()).await;
    for n in 1..=50 {
        hub.publish(publish(n)).await.expect("published");
    }
    let epoch = hub
        .history("r", 0, None, false)
        .await
        .expect("position")
        .position
        .epoch;

    // A publisher keeps going while the client recovers from offset 10. It stops at 300, so
    // that however far it gets before the recovery reads, the gap stays within
    // `recovery_max_publication_limit` (300): a loaded machine once let it run past that and
    // the recovery was refused, rightly.
    let publisher_hub = hub.clone();
    let publisher = tokio::spawn(async move {
        for n in 51..=300 {
            publisher_hub.publish(publish(n)).await.expect("published");
            if n % 20 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    let mut session = connected(&hub, "alice").await;
    let frame = format!(
        r#"{{"id":2,"subscribe":{{"channel":"r","recover":true,"offset":10,"epoch":"{epoch}"}}}}"#
    );
    assert_eq!(send(&mut session, &frame).await, herald_hub::Flow::Continue);
    publisher.await.expect("publisher finished");
    tokio::time::sleep(Duration::from_millis(20)).await;

    let mut all = Vec::new();
    loop {
        let (replies, close) = take(&session).await;
        assert_eq!(close, None);
        if replies.is_empty() {
            break;
        }
        if let Some(sub) = replies.iter().find_map(|r| r.subscribe.as_ref()) {
            assert!(sub.recovered && sub.was_recovering, "{sub:?}");
        }
        all.extend(offsets(&replies));
    }
    let expected: Vec<u64> = (11..=300).collect();
    assert_eq!(all, expected);
}

#[tokio::test]
async fn a_wrong_epoch_is_not_recovered_but_subscribes_at_the_top() {
    let hub = hub(options()).await;
    for n in 1..=3 {
        hub.publish(publish(n)).await.expect("published");
    }
    let mut session = connected(&hub, "alice").await;
    let _ = send(
        &mut session,
        r#"{"id":2,"subscribe":{"channel":"r","recover":true,"offset":1,"epoch":"otherepo"}}"#,
    )
    .await;
    let (replies, _) = take(&session).await;
    let sub = replies[0].subscribe.as_ref().expect("subscribe result");
    assert!(sub.was_recovering && !sub.recovered);
    assert!(sub.publications.is_empty());
    assert_eq!(sub.offset, 3);
}
