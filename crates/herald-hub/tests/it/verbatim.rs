//! Verbatim channels (another protocol family's connections on the hub): frames delivered as
//! published, the excluded connection skipped, a pending subscription answered before the
//! events that arrived meanwhile, and the name space closed to the Centrifugo protocol.

use std::time::Duration;

use bytes::Bytes;
use herald_hub::{ApiPublish, Drained, HubError, VERBATIM_PREFIX, VerbatimPublish};

use crate::support::{hub, options};

async fn drained(outbox: &herald_hub::Outbox) -> Vec<Bytes> {
    match tokio::time::timeout(Duration::from_secs(5), outbox.drain())
        .await
        .expect("something to write in time")
    {
        Drained::Messages(messages) => messages,
        Drained::Close(..) => panic!("closed"),
    }
}

#[tokio::test]
async fn the_answer_comes_before_what_was_published_while_pending_and_exclusion_holds() {
    let hub = hub(options()).await;
    let channel = format!("{VERBATIM_PREFIX}test/1:room");
    let sender = hub.verbatim_client("1.1");
    let receiver = hub.verbatim_client("1.2");
    sender.subscribe(&channel).await.expect("subscribed");
    sender.activate(&channel, vec![Bytes::from_static(b"ok-1")]);
    receiver.subscribe(&channel).await.expect("subscribed");

    // Published while the receiver is pending, by the sender (excluded) and by the node.
    let excluded = VerbatimPublish {
        exclude: Some("1.1".to_owned()),
        keep: None,
    };
    hub.publish_verbatim(&channel, Bytes::from_static(b"from-1.1"), excluded)
        .await
        .expect("published");
    hub.publish_verbatim(
        &channel,
        Bytes::from_static(b"to-all"),
        VerbatimPublish::default(),
    )
    .await
    .expect("published");
    receiver.activate(
        &channel,
        vec![Bytes::from_static(b"answer"), Bytes::from_static(b"cached")],
    );
    let got = drained(&receiver.outbox()).await;
    let texts = |messages: Vec<Bytes>| -> Vec<String> {
        messages
            .iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect()
    };
    assert_eq!(texts(got), ["answer", "cached", "from-1.1", "to-all"]);
    assert_eq!(texts(drained(&sender.outbox()).await), ["ok-1", "to-all"]);

    receiver.unsubscribe(&channel).await;
    sender.unsubscribe(&channel).await;
    assert!(hub.channels().is_empty());
}

#[tokio::test]
async fn the_centrifugo_protocol_and_api_cannot_reach_verbatim_channels() {
    let hub = hub(options()).await;
    let channel = format!("{VERBATIM_PREFIX}test/1:room");
    let refused = hub
        .publish(ApiPublish {
            channel: channel.clone(),
            data: Bytes::from_static(b"{}"),
            ..Default::default()
        })
        .await;
    assert_eq!(refused, Err(HubError::UnknownChannel));
    assert!(matches!(
        hub.watch(&channel).await,
        Err(HubError::UnknownChannel)
    ));
    // And verbatim calls refuse other names.
    let client = hub.verbatim_client("1.3");
    assert_eq!(client.subscribe("news").await, Err(HubError::BadRequest));
}
