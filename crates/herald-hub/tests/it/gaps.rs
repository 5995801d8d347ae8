//! Positioned subscribers that miss publications (a broker gap) are told to recover.

use herald_engine::{Publication, StreamPosition};
use herald_hub::{ApiPublish, Flow};
use herald_proto::Protocol;

use crate::support::{connected, hub_with_tap, options, send, take};

async fn publish(hub: &herald_hub::Hub, channel: &str) -> StreamPosition {
    let request = ApiPublish {
        channel: channel.into(),
        data: bytes::Bytes::from_static(b"{}"),
        ..Default::default()
    };
    hub.publish(request).await.expect("published")
}

fn unsubscribe_codes(replies: &[herald_proto::Reply]) -> Vec<u32> {
    replies
        .iter()
        .filter_map(|r| {
            r.push
                .as_ref()
                .and_then(|p| p.unsubscribe.as_ref())
                .map(|u| u.code)
        })
        .collect()
}

fn offsets(replies: &[herald_proto::Reply]) -> Vec<u64> {
    replies
        .iter()
        .filter_map(|r| {
            r.push
                .as_ref()
                .and_then(|p| p.r#pub.as_ref())
                .map(|p| p.offset)
        })
        .collect()
}

#[tokio::test]
async fn a_skipped_offset_unsubscribes_with_2500_and_the_client_can_resubscribe() {
    let (hub, tap) = hub_with_tap(options()).await;
    let mut session = connected(&hub, "alice").await;
    let _ = send(&mut session, r#"{"id":2,"subscribe":{"channel":"g"}}"#).await;
    let top = publish(&hub, "g").await;
    let (replies, _) = take(&session).await;
    assert_eq!(offsets(&replies), vec![1]);

    // A duplicate is skipped; a jump from 1 to 3 is a gap.
    let at = |offset| StreamPosition {
        offset,
        epoch: top.epoch.clone(),
    };
    let publication = |offset| Publication {
        offset,
        data: bytes::Bytes::from_static(b"{}"),
        ..Default::default()
    };
    tap.handler()
        .handle_publication("g", &publication(1), &at(1));
    tap.handler()
        .handle_publication("g", &publication(3), &at(3));
    tap.handler()
        .handle_publication("g", &publication(4), &at(4));
    let (replies, close) = take(&session).await;
    assert_eq!(close, None);
    assert!(
        offsets(&replies).is_empty(),
        "nothing after the gap: {replies:?}"
    );
    assert_eq!(unsubscribe_codes(&replies), vec![2500]);

    // The SDK resubscribes at once: the session has forgotten the subscription.
    let flow = send(&mut session, r#"{"id":3,"subscribe":{"channel":"g"}}"#).await;
    assert_eq!(flow, Flow::Continue);
    let (replies, _) = take(&session).await;
    assert!(replies[0].subscribe.is_some(), "{replies:?}");
}

#[tokio::test]
async fn a_broker_gap_makes_positioned_subscribers_recover_and_spares_the_others() {
    let mut opts = options();
    opts.channel.namespaces.push(herald_hub::Namespace {
        name: "live".into(),
        options: herald_hub::ChannelOptions {
            allow_subscribe_for_client: true,
            ..Default::default()
        },
    });
    let (hub, tap) = hub_with_tap(opts).await;
    let mut session = connected(&hub, "alice").await;
    let _ = send(&mut session, r#"{"id":2,"subscribe":{"channel":"g"}}"#).await;
    let _ = send(&mut session, r#"{"id":3,"subscribe":{"channel":"live:x"}}"#).await;
    let _ = take(&session).await;
    tap.handler().handle_gap();
    let (replies, close) = take(&session).await;
    assert_eq!(close, None);
    assert_eq!(unsubscribe_codes(&replies), vec![2500]);
    assert_eq!(
        replies[0].push.as_ref().map(|p| p.channel.as_str()),
        Some("g")
    );
}

#[tokio::test]
async fn a_server_side_subscription_with_a_gap_closes_with_3010() {
    let (hub, tap) = hub_with_tap(options()).await;
    let mut session = hub.session(Protocol::Json);
    let _ = send(&mut session, r#"{"id":1,"connect":{"token":"alice+g"}}"#).await;
    let (replies, _) = take(&session).await;
    assert!(
        replies[0]
            .connect
            .as_ref()
            .is_some_and(|c| c.subs.contains_key("g")),
        "{replies:?}"
    );
    tap.handler().handle_gap();
    assert_eq!(take(&session).await.1, Some(3010));
}
