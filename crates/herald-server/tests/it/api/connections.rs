//! `connections`: a user's or everybody's connections, with channels, transport, protocol,
//! address, connect time and info, one page at a time.

use serde_json::{Value, json};

use super::{api, connect, error, next_messages, start};

fn ids(page: &Value) -> Vec<String> {
    page["result"]["connections"]
        .as_object()
        .map(|map| map.keys().cloned().collect())
        .unwrap_or_default()
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_millis()).expect("fits")
}

#[tokio::test]
async fn connections_of_a_user_with_their_details() {
    let server = start().await;
    let before = now_ms() / 1000 * 1000;
    let (alice1, outbox1) = connect(&server.hub, "alice").await;
    let (alice2, _outbox2) = connect(&server.hub, "alice").await;
    let (_bob, _) = connect(&server.hub, "bob").await;
    let after = now_ms();
    outbox1.set_remote_ip("10.1.2.3".parse().expect("ip"));
    let subscribed = api(
        &server,
        "subscribe",
        json!({"user": "alice", "client": alice1, "channel": "room"}),
    )
    .await;
    assert_eq!(subscribed, json!({"result": {}}));
    next_messages(&outbox1).await;

    let page = api(&server, "connections", json!({"user": "alice"})).await;
    let mut expected = vec![alice1.clone(), alice2.clone()];
    expected.sort();
    assert_eq!(ids(&page), expected, "{page}");
    assert!(page["result"].get("next_cursor").is_none(), "{page}");
    let first = &page["result"]["connections"][&alice1];
    assert_eq!(first["user"], "alice");
    assert_eq!(first["transport"], "websocket");
    assert_eq!(first["protocol"], "json");
    assert_eq!(first["ip"], "10.1.2.3");
    assert_eq!(first["info"], json!({"name": "tester"}));
    assert_eq!(first["state"]["channels"], json!({"room": {}}));
    assert_eq!(first["node"], server.hub.node_id());
    let at = first["connected_at_ms"].as_i64().expect("connected_at_ms");
    assert!(
        (before..=after).contains(&at),
        "{before} <= {at} <= {after}"
    );
    let second = &page["result"]["connections"][&alice2];
    assert_eq!(second["state"]["channels"], json!({}));
    assert!(second.get("ip").is_none(), "{second}");

    assert_eq!(
        ids(&api(&server, "connections", json!({"user": "nobody"})).await),
        Vec::<String>::new()
    );
    assert_eq!(
        api(
            &server,
            "connections",
            json!({"expression": "client.user == \"alice\""})
        )
        .await,
        error(107, "bad request")
    );
}

#[tokio::test]
async fn every_connection_page_by_page() {
    let server = start().await;
    let mut all = Vec::new();
    for user in ["a", "b", "c", "d", "e"] {
        all.push(connect(&server.hub, user).await.0);
    }
    all.sort();

    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let page = api(
            &server,
            "connections",
            json!({"limit": 2, "cursor": cursor}),
        )
        .await;
        let page_ids = ids(&page);
        assert!(page_ids.len() <= 2, "{page}");
        seen.extend(page_ids);
        pages += 1;
        match page["result"]["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(seen, all);
    assert_eq!(pages, 3);

    let batch = api(
        &server,
        "batch",
        json!({"commands": [{"connections": {"limit": 1}}]}),
    )
    .await;
    let reply = &batch["replies"][0]["connections"];
    assert_eq!(reply["connections"].as_object().map(|m| m.len()), Some(1));
    assert_eq!(reply["next_cursor"], all[0]);
}

#[tokio::test]
async fn a_disconnected_client_is_no_longer_listed() {
    let server = start().await;
    let (client, _outbox) = connect(&server.hub, "gone").await;
    assert_eq!(
        ids(&api(&server, "connections", json!({"user": "gone"})).await),
        vec![client]
    );
    assert_eq!(
        api(&server, "disconnect", json!({"user": "gone"})).await,
        json!({"result": {}})
    );
    for _ in 0..100 {
        if ids(&api(&server, "connections", json!({"user": "gone"})).await).is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the disconnected client is still listed");
}
