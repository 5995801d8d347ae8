//! `Hub::watch`: a server-side subscriber sees publications, is refused for unknown
//! namespaces, and is removed from the channel when dropped.

use bytes::Bytes;
use herald_hub::{ApiPublish, HubError};

use crate::support::{hub, options};

#[tokio::test]
async fn a_watch_sees_publications_and_leaves_the_channel_when_dropped() {
    let hub = hub(options()).await;
    let watch = hub.watch("news").await.expect("watching");
    assert_eq!(hub.channels(), vec![("news".to_owned(), 1)]);
    hub.publish(ApiPublish {
        channel: "news".into(),
        data: Bytes::from_static(br#"{"n":1}"#),
        ..Default::default()
    })
    .await
    .expect("published");
    let messages = tokio::time::timeout(std::time::Duration::from_secs(5), watch.next())
        .await
        .expect("a message in time")
        .expect("still watching");
    let text = String::from_utf8(messages[0].to_vec()).expect("utf-8");
    assert!(
        text.starts_with(r#"{"channel":"news","pub":{"data":{"n":1}"#),
        "{text}"
    );
    drop(watch);
    assert!(hub.channels().is_empty());
}

#[tokio::test]
async fn a_watch_of_an_unknown_namespace_or_a_bad_name_is_refused() {
    let hub = hub(options()).await;
    assert!(matches!(
        hub.watch("nowhere:x").await,
        Err(HubError::UnknownChannel)
    ));
    assert!(matches!(hub.watch("").await, Err(HubError::BadRequest)));
}
