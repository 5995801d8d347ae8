use herald_hub::Flow;
use herald_proto::Protocol;

use crate::support::{connected, hub, options, send, take};

#[tokio::test]
async fn connect_reply_carries_client_ping_and_pong() {
    let hub = hub(options()).await;
    let mut session = hub.session(Protocol::Json);
    let _ = send(&mut session, r#"{"id":1,"connect":{"token":"alice"}}"#).await;
    let (replies, close) = take(&session).await;
    let connect = replies[0].connect.as_ref().expect("connect result");
    assert_eq!(connect.client, session.client_id());
    assert_eq!(
        (connect.ping, connect.pong, connect.expires),
        (25, true, false)
    );
    assert_eq!(close, None);
    assert_eq!(hub.num_clients(), 1);
    session.close().await;
    assert_eq!(hub.num_clients(), 0);
}

#[tokio::test]
async fn expired_token_is_error_109_and_then_the_connection_is_unusable() {
    let hub = hub(options()).await;
    let mut session = hub.session(Protocol::Json);
    let _ = send(&mut session, r#"{"id":1,"connect":{"token":"expired"}}"#).await;
    let (replies, _) = take(&session).await;
    assert_eq!(replies[0].error.as_ref().map(|e| e.code), Some(109));
    assert_eq!(
        send(&mut session, r#"{"id":2,"subscribe":{"channel":"x"}}"#).await,
        Flow::Close
    );
    assert_eq!(take(&session).await.1, Some(3501));
}

#[tokio::test]
async fn invalid_token_closes_with_3500_and_no_token_with_3501() {
    let hub = hub(options()).await;
    let mut session = hub.session(Protocol::Json);
    assert_eq!(
        send(&mut session, r#"{"id":1,"connect":{"token":"bad"}}"#).await,
        Flow::Close
    );
    assert_eq!(take(&session).await.1, Some(3500));
    let mut session = hub.session(Protocol::Json);
    assert_eq!(
        send(&mut session, r#"{"id":1,"connect":{}}"#).await,
        Flow::Close
    );
    assert_eq!(take(&session).await.1, Some(3501));
}

#[tokio::test]
async fn user_connection_limit_closes_with_3504() {
    let mut opts = options();
    opts.client.user_connection_limit = 1;
    let hub = hub(opts).await;
    let _first = connected(&hub, "alice").await;
    let mut second = hub.session(Protocol::Json);
    assert_eq!(
        send(&mut second, r#"{"id":1,"connect":{"token":"alice"}}"#).await,
        Flow::Close
    );
    assert_eq!(take(&second).await.1, Some(3504));
}

#[tokio::test]
async fn subscribe_then_unsubscribe_in_one_frame_leaves_the_channel_free() {
    let hub = hub(options()).await;
    let mut session = connected(&hub, "alice").await;
    let frame = "{\"id\":2,\"subscribe\":{\"channel\":\"c\"}}\n{\"id\":3,\"unsubscribe\":{\"channel\":\"c\"}}\n{\"id\":4,\"subscribe\":{\"channel\":\"c\"}}";
    let _ = send(&mut session, frame).await;
    let (replies, close) = take(&session).await;
    assert_eq!(close, None);
    let ids: Vec<u32> = replies.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![2, 3, 4]);
    assert!(replies.iter().all(|r| r.error.is_none()), "{replies:?}");
    assert_eq!(hub.channels(), vec![("c".to_owned(), 1)]);
}

#[tokio::test]
async fn shutdown_closes_connected_and_connecting_sessions_with_3001() {
    let hub = hub(options()).await;
    let mut connected_session = connected(&hub, "alice").await;
    let mut connecting = hub.session(Protocol::Json);
    hub.shutdown();
    for session in [&mut connected_session, &mut connecting] {
        let event = session.next_event().await;
        assert_eq!(session.handle_event(event).await, Flow::Close);
        assert_eq!(session.outbox().close_reason().map(|d| d.code), Some(3001));
    }
}
