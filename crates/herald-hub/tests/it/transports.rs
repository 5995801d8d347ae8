//! Sessions of the emulated and unidirectional transports: what their connect carries, how
//! emulated commands reach them on this node, and the bounds. (Forwarding between nodes is
//! tested with real nodes in `tests/e2e/cluster-emulation.test.mjs`.)

use bytes::Bytes;
use herald_hub::{Drained, EmulationError, INBOX_CAPACITY, TransportKind};
use herald_proto::{ConnectRequest, Protocol};

use crate::support::{hub, options, send, take};

#[tokio::test]
async fn an_emulated_connect_reply_carries_session_and_node() {
    let hub = hub(options()).await;
    let mut session = hub.session_for(Protocol::Json, TransportKind::Emulation);
    let _inbox = hub
        .open_emulation(&session)
        .expect("an emulated session has an id");
    let _ = send(&mut session, r#"{"id":1,"connect":{"token":"alice"}}"#).await;
    let (replies, closed) = take(&session).await;
    assert_eq!(closed, None);
    let result = replies[0].connect.as_ref().expect("connect reply");
    assert_eq!(Some(result.session.as_str()), session.session_id());
    assert_eq!(result.node, hub.node_id());
    assert!(result.pong);
}

#[tokio::test]
async fn emulated_frames_reach_the_session_and_unknown_ids_are_refused() {
    let hub = hub(options()).await;
    let session = hub.session_for(Protocol::Json, TransportKind::Emulation);
    let id = session.session_id().expect("id").to_owned();
    let mut inbox = hub.open_emulation(&session).expect("id");
    let frame = Bytes::from_static(br#"{"id":2,"presence_stats":{"channel":"x"}}"#);
    hub.emulate(hub.node_id(), &id, frame.clone())
        .await
        .expect("queued");
    assert_eq!(inbox.recv().await, Some(frame));

    assert!(matches!(
        hub.emulate(hub.node_id(), "no-such-session", Bytes::new())
            .await,
        Err(EmulationError::UnknownSession)
    ));
    assert!(matches!(
        hub.emulate("no-such-node", &id, Bytes::new()).await,
        Err(EmulationError::UnknownNode)
    ));
    drop(inbox);
    assert_eq!(
        hub.num_emulated_sessions(),
        0,
        "a dropped inbox forgets the session"
    );
    assert!(matches!(
        hub.emulate(hub.node_id(), &id, Bytes::new()).await,
        Err(EmulationError::UnknownSession)
    ));
}

#[tokio::test]
async fn a_full_emulation_queue_closes_the_session_with_slow() {
    let hub = hub(options()).await;
    let session = hub.session_for(Protocol::Json, TransportKind::Emulation);
    let id = session.session_id().expect("id").to_owned();
    let _inbox = hub.open_emulation(&session).expect("id");
    for _ in 0..INBOX_CAPACITY {
        hub.emulate(hub.node_id(), &id, Bytes::from_static(b"{}"))
            .await
            .expect("fits");
    }
    assert!(matches!(
        hub.emulate(hub.node_id(), &id, Bytes::from_static(b"{}"))
            .await,
        Err(EmulationError::Overloaded)
    ));
    match session.outbox().drain().await {
        Drained::Close(_, disconnect) => assert_eq!(disconnect.code, 3008),
        other => panic!("expected a close, got {other:?}"),
    }
}

#[tokio::test]
async fn a_websocket_session_is_not_reachable_through_emulation() {
    let hub = hub(options()).await;
    let session = hub.session(Protocol::Json);
    assert_eq!(session.session_id(), None);
    assert!(hub.open_emulation(&session).is_none());
}

#[tokio::test]
async fn a_unidirectional_connect_is_a_bare_push_and_expects_no_pong() {
    let hub = hub(options()).await;
    let mut session = hub.session_for(Protocol::Json, TransportKind::Unidirectional);
    let request = ConnectRequest {
        token: "bob+news".into(),
        ..Default::default()
    };
    let _ = session.connect_unidirectional(request).await;
    let Drained::Messages(messages) = session.outbox().drain().await else {
        panic!("expected the connect push");
    };
    let push: serde_json::Value = serde_json::from_slice(&messages[0]).expect("JSON");
    let connect = &push["connect"];
    assert_eq!(connect["client"], session.client_id());
    assert_eq!(connect["session"], session.session_id().expect("id"));
    assert!(connect["subs"]["news"].is_object(), "{push}");
    assert!(connect.get("pong").is_none(), "{push}");
}

#[tokio::test]
async fn a_refused_unidirectional_connect_closes_with_a_disconnect_code() {
    let hub = hub(options()).await;
    for (token, code) in [("expired", 3005), ("bad", 3500)] {
        let mut session = hub.session_for(Protocol::Json, TransportKind::Unidirectional);
        let request = ConnectRequest {
            token: token.into(),
            ..Default::default()
        };
        let _ = session.connect_unidirectional(request).await;
        let (_, closed) = take(&session).await;
        assert_eq!(closed, Some(code), "token {token}");
    }
}
