//! Delta compression through a session: negotiation in the subscribe reply, the unknown-type
//! disconnect, publishing with the API flag and with `delta_publish`, and recovery, which
//! never sends patches but still carries JSON strings to a delta subscription.

use bytes::Bytes;
use herald_hub::{ApiPublish, DeltaType, Flow, Hub, NodeOptions, Session};
use herald_proto::Reply;

use crate::support::{connected, hub, options, send, take};

fn delta_options(delta_publish: bool) -> NodeOptions {
    let mut options = options();
    let ns = &mut options.channel.without_namespace;
    ns.allowed_delta_types = vec![DeltaType::Fossil];
    ns.delta_publish = delta_publish;
    options
}

fn payload(n: u32) -> Bytes {
    Bytes::from(format!(r#"{{"n":{n},"text":"{}"}}"#, "x".repeat(300)))
}

async fn publish(hub: &Hub, n: u32, delta: bool) {
    let request = ApiPublish {
        channel: "d".into(),
        data: payload(n),
        delta,
        ..Default::default()
    };
    hub.publish(request).await.expect("published");
}

async fn subscribe(session: &mut Session, extra: &str) -> Reply {
    let frame = format!(r#"{{"id":2,"subscribe":{{"channel":"d"{extra}}}}}"#);
    assert_eq!(send(session, &frame).await, Flow::Continue);
    let (replies, close) = take(session).await;
    assert_eq!(close, None);
    replies.into_iter().next().expect("a subscribe reply")
}

/// The publications queued so far as (delta flag, data as the SDK reads it: a JSON string).
async fn received(session: &Session) -> Vec<(bool, String)> {
    let (replies, close) = take(session).await;
    assert_eq!(close, None);
    replies
        .iter()
        .filter_map(|r| r.push.as_ref().and_then(|p| p.r#pub.as_ref()))
        .map(|p| {
            let text = serde_json::from_slice::<String>(&p.data).expect("a JSON string");
            (p.delta, text)
        })
        .collect()
}

#[tokio::test]
async fn negotiated_when_the_namespace_allows_it() {
    let hub = hub(delta_options(false)).await;
    let mut session = connected(&hub, "alice").await;
    let reply = subscribe(&mut session, r#","delta":"fossil""#).await;
    assert!(reply.subscribe.expect("subscribed").delta);

    let hub = crate::support::hub(options()).await;
    let mut session = connected(&hub, "alice").await;
    let reply = subscribe(&mut session, r#","delta":"fossil""#).await;
    assert!(!reply.subscribe.expect("subscribed").delta, "not allowed");
}

#[tokio::test]
async fn an_unknown_delta_type_disconnects_with_3501() {
    let hub = hub(delta_options(false)).await;
    let mut session = connected(&hub, "alice").await;
    let frame = r#"{"id":2,"subscribe":{"channel":"d","delta":"xdelta"}}"#;
    assert_eq!(send(&mut session, frame).await, Flow::Close);
    assert_eq!(take(&session).await.1, Some(3501));
}

#[tokio::test]
async fn api_flag_and_delta_publish_make_patches_and_plain_subscribers_see_raw_json() {
    for delta_publish in [false, true] {
        let hub = hub(delta_options(delta_publish)).await;
        let mut with_delta = connected(&hub, "alice").await;
        subscribe(&mut with_delta, r#","delta":"fossil""#).await;
        let mut plain = connected(&hub, "bob").await;
        subscribe(&mut plain, "").await;
        for n in 1..=3 {
            // With delta_publish the flag is not needed.
            publish(&hub, n, !delta_publish).await;
        }
        let got = received(&with_delta).await;
        let flags: Vec<bool> = got.iter().map(|(delta, _)| *delta).collect();
        assert_eq!(flags, [false, true, true], "delta_publish {delta_publish}");
        let mut base = got[0].1.clone().into_bytes();
        assert_eq!(base, payload(1));
        for (n, (_, patch)) in (2..).zip(&got[1..]) {
            assert!(patch.len() < 40, "{patch}");
            base = herald_delta::apply(&base, patch.as_bytes()).expect("applies");
            assert_eq!(base, payload(n));
        }
        let (replies, _) = take(&plain).await;
        for reply in &replies {
            let publication = reply.push.as_ref().and_then(|p| p.r#pub.as_ref());
            let publication = publication.expect("a publication");
            assert!(!publication.delta && publication.data.starts_with(b"{"));
        }
        assert_eq!(replies.len(), 3);
    }
}

#[tokio::test]
async fn no_patch_without_the_flag_or_delta_publish() {
    let hub = hub(delta_options(false)).await;
    let mut session = connected(&hub, "alice").await;
    subscribe(&mut session, r#","delta":"fossil""#).await;
    for n in 1..=3 {
        publish(&hub, n, false).await;
    }
    let got = received(&session).await;
    assert_eq!(got.len(), 3);
    for (n, (delta, text)) in (1..).zip(got) {
        assert!(!delta);
        assert_eq!(text.as_bytes(), payload(n));
    }
}

#[tokio::test]
async fn recovery_sends_full_payloads_as_strings_and_live_patches_resume_after() {
    let hub = hub(delta_options(true)).await;
    for n in 1..=3 {
        publish(&hub, n, false).await;
    }
    let epoch = hub
        .history("d", 0, None, false)
        .await
        .expect("top")
        .position
        .epoch;
    let mut session = connected(&hub, "alice").await;
    let recover = format!(r#","delta":"fossil","recover":true,"offset":1,"epoch":"{epoch}""#);
    let result = subscribe(&mut session, &recover)
        .await
        .subscribe
        .expect("subscribed");
    assert!(result.recovered && result.delta);
    let recovered: Vec<(bool, String)> = result
        .publications
        .iter()
        .map(|p| {
            (
                p.delta,
                serde_json::from_slice(&p.data).expect("a JSON string"),
            )
        })
        .collect();
    assert_eq!(
        recovered,
        [2, 3].map(|n| (
            false,
            String::from_utf8(payload(n).to_vec()).expect("UTF-8")
        ))
    );
    // Live again: the first is full, then patches.
    publish(&hub, 4, false).await;
    publish(&hub, 5, false).await;
    let flags: Vec<bool> = received(&session).await.iter().map(|(d, _)| *d).collect();
    assert_eq!(flags, [false, true]);
    // History never carries deltas or strings.
    let history = hub.history("d", -1, None, false).await.expect("history");
    assert!(
        history
            .publications
            .iter()
            .all(|p| p.data.starts_with(b"{"))
    );
}
