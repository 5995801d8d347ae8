//! Every API method over HTTP, with exact result shapes.

use hyper::StatusCode;
use serde_json::{Value, json};

use super::{KEY, api, close_code, connect, error, next_messages, raw, start};

#[tokio::test]
async fn publish_returns_positions_and_history_returns_publications() {
    let server = start().await;
    let first = api(
        &server,
        "publish",
        json!({"channel": "chat", "data": {"text": "one"}}),
    )
    .await;
    let epoch = first["result"]["epoch"].as_str().expect("epoch").to_owned();
    assert_eq!(first, json!({"result": {"offset": 1, "epoch": epoch}}));
    let second = api(
        &server,
        "publish",
        json!({"channel": "chat", "data": {"text": "two"}, "tags": {"k": "v"}}),
    )
    .await;
    assert_eq!(second, json!({"result": {"offset": 2, "epoch": epoch}}));

    let history = api(&server, "history", json!({"channel": "chat", "limit": -1})).await;
    assert_eq!(
        history,
        json!({"result": {
            "publications": [
                {"data": {"text": "one"}, "offset": 1},
                {"data": {"text": "two"}, "offset": 2, "tags": {"k": "v"}},
            ],
            "epoch": epoch,
            "offset": 2,
        }})
    );
    let reversed = api(
        &server,
        "history",
        json!({"channel": "chat", "limit": 1, "reverse": true}),
    )
    .await;
    assert_eq!(
        reversed["result"]["publications"],
        json!([{"data": {"text": "two"}, "offset": 2, "tags": {"k": "v"}}])
    );
    let since = api(
        &server,
        "history",
        json!({"channel": "chat", "limit": -1, "since": {"offset": 1, "epoch": epoch}}),
    )
    .await;
    assert_eq!(
        since["result"]["publications"].as_array().map(Vec::len),
        Some(1)
    );
    let stale = api(
        &server,
        "history",
        json!({"channel": "chat", "limit": -1, "since": {"offset": 1, "epoch": "other"}}),
    )
    .await;
    assert_eq!(stale, error(112, "unrecoverable position"));

    // Without limit: the position only, publications still written.
    let position = api(&server, "history", json!({"channel": "chat"})).await;
    assert_eq!(
        position,
        json!({"result": {"publications": [], "epoch": epoch, "offset": 2}})
    );

    assert_eq!(
        api(&server, "history_remove", json!({"channel": "chat"})).await,
        json!({"result": {}})
    );
    let after = api(&server, "history", json!({"channel": "chat", "limit": -1})).await;
    assert_eq!(
        after,
        json!({"result": {"publications": [], "epoch": epoch, "offset": 2}})
    );
}

#[tokio::test]
async fn publish_keeps_raw_json_bytes_and_binary_goes_base64() {
    let server = start().await;
    // Number formatting, key order and spacing survive; raw newlines (whitespace) are removed.
    let body = "{\"channel\":\"raw\",\"data\":{\"b\": 1.50,\n  \"a\": [1e3, \"\\u00e9\"]}}";
    let answer = raw(&server, "POST", "/api/publish", &[("x-api-key", KEY)], body).await;
    assert_eq!(answer.status, StatusCode::OK);
    let b64 = api(
        &server,
        "publish",
        json!({"channel": "raw", "b64data": "AP8="}),
    )
    .await;
    assert_eq!(b64["result"]["offset"], 2);
    let skipped = api(
        &server,
        "publish",
        json!({"channel": "raw", "data": 3, "skip_history": true}),
    )
    .await;
    assert_eq!(skipped, json!({"result": {}}));

    let history = raw(
        &server,
        "POST",
        "/api/history",
        &[("x-api-key", KEY)],
        r#"{"channel":"raw","limit":-1}"#,
    )
    .await;
    assert!(
        history
            .body
            .contains(r#"{"data":{"b": 1.50,  "a": [1e3, "\u00e9"]},"offset":1}"#),
        "{}",
        history.body
    );
    assert!(
        history.body.contains(r#"{"b64data":"AP8=","offset":2}"#),
        "{}",
        history.body
    );
}

#[tokio::test]
async fn publish_errors() {
    let server = start().await;
    assert_eq!(
        api(&server, "publish", json!({"data": {}})).await,
        error(107, "bad request")
    );
    assert_eq!(
        api(&server, "publish", json!({"channel": "a"})).await,
        error(107, "bad request")
    );
    assert_eq!(
        api(&server, "publish", json!({"channel": "a", "b64data": "!!"})).await,
        error(107, "bad request")
    );
    assert_eq!(
        api(
            &server,
            "publish",
            json!({"channel": "undefined:channel", "data": {}})
        )
        .await,
        error(102, "unknown channel")
    );
    // A namespace without history: published, no position.
    assert_eq!(
        api(&server, "publish", json!({"channel": "ns:a", "data": {}})).await,
        json!({"result": {}})
    );
    assert_eq!(
        api(&server, "history", json!({"channel": "ns:a"})).await,
        error(108, "not available")
    );
    assert_eq!(
        api(&server, "presence", json!({"channel": "ns:a"})).await,
        error(108, "not available")
    );
}

#[tokio::test]
async fn empty_presence_and_stats() {
    let server = start().await;
    assert_eq!(
        api(&server, "presence", json!({"channel": "room"})).await,
        json!({"result": {"presence": {}}})
    );
    assert_eq!(
        api(&server, "presence_stats", json!({"channel": "room"})).await,
        json!({"result": {"num_clients": 0, "num_users": 0}})
    );
    assert_eq!(
        api(&server, "presence", json!({})).await,
        error(107, "bad request")
    );
    assert_eq!(
        api(&server, "presence", json!({"channel": "undefined:channel"})).await,
        error(102, "unknown channel")
    );
}

#[tokio::test]
async fn server_side_subscribe_presence_channels_unsubscribe() {
    let server = start().await;
    let (client, outbox) = connect(&server.hub, "alice").await;

    let subscribed = api(
        &server,
        "subscribe",
        json!({"user": "alice", "channel": "room", "info": {"role": "admin"}, "data": {"welcome": true}}),
    )
    .await;
    assert_eq!(subscribed, json!({"result": {}}));
    let pushes = next_messages(&outbox).await;
    let push: Value = serde_json::from_str(&pushes[0]).expect("json push");
    assert_eq!(push["push"]["channel"], "room");
    assert_eq!(push["push"]["subscribe"]["data"], json!({"welcome": true}));

    let presence = api(&server, "presence", json!({"channel": "room"})).await;
    assert_eq!(
        presence,
        json!({"result": {"presence": {client.as_str(): {
            "client": client, "user": "alice",
            "conn_info": {"name": "tester"}, "chan_info": {"role": "admin"},
        }}}})
    );
    assert_eq!(
        api(&server, "presence_stats", json!({"channel": "room"})).await,
        json!({"result": {"num_clients": 1, "num_users": 1}})
    );

    assert_eq!(
        api(&server, "channels", json!({})).await,
        json!({"result": {"channels": {"room": {"num_clients": 1}}}})
    );
    assert_eq!(
        api(&server, "channels", json!({"pattern": "r?o*"})).await["result"]["channels"]["room"]["num_clients"],
        1
    );
    assert_eq!(
        api(&server, "channels", json!({"pattern": "chat*"})).await,
        json!({"result": {"channels": {}}})
    );
    assert_eq!(
        api(&server, "channels", json!({"pattern": "[oops"})).await,
        error(107, "bad request")
    );

    let info = api(&server, "info", json!({})).await;
    let node = &info["result"]["nodes"][0];
    assert!(node["uid"].as_str().is_some_and(|uid| !uid.is_empty()));
    assert!(node["name"].is_string() && node["version"].is_string());
    assert_eq!(
        (node["num_clients"].as_u64(), node["num_users"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (node["num_channels"].as_u64(), node["num_subs"].as_u64()),
        (Some(1), Some(1))
    );

    // Requests aimed at someone else change nothing.
    assert_eq!(
        api(
            &server,
            "unsubscribe",
            json!({"user": "bob", "channel": "room"})
        )
        .await,
        json!({"result": {}})
    );
    assert_eq!(
        api(
            &server,
            "unsubscribe",
            json!({"user": "alice", "channel": "room", "client": "other"})
        )
        .await,
        json!({"result": {}})
    );
    assert_eq!(
        api(&server, "presence_stats", json!({"channel": "room"})).await["result"]["num_clients"],
        1
    );

    let unsubscribed = api(
        &server,
        "unsubscribe",
        json!({"user": "alice", "channel": "room", "client": client}),
    )
    .await;
    assert_eq!(unsubscribed, json!({"result": {}}));
    let pushes = next_messages(&outbox).await;
    assert!(pushes[0].contains(r#""unsubscribe""#), "{pushes:?}");
    assert_eq!(
        api(&server, "presence", json!({"channel": "room"})).await,
        json!({"result": {"presence": {}}})
    );
    assert_eq!(
        api(&server, "channels", json!({})).await,
        json!({"result": {"channels": {}}})
    );
}

#[tokio::test]
async fn connection_methods_validate_their_input() {
    let server = start().await;
    let bad = error(107, "bad request");
    assert_eq!(
        api(&server, "subscribe", json!({"channel": "room"})).await,
        bad
    );
    assert_eq!(api(&server, "subscribe", json!({"user": "u"})).await, bad);
    assert_eq!(
        api(
            &server,
            "subscribe",
            json!({"user": "u", "channel": "undefined:x"})
        )
        .await,
        error(102, "unknown channel")
    );
    assert_eq!(api(&server, "unsubscribe", json!({"user": "u"})).await, bad);
    assert_eq!(api(&server, "refresh", json!({})).await, bad);
    assert_eq!(api(&server, "disconnect", json!({})).await, bad);
    assert_eq!(
        api(
            &server,
            "disconnect",
            json!({"user": "u", "disconnect": {"code": 1000, "reason": "x"}})
        )
        .await,
        bad
    );
    assert_eq!(
        api(
            &server,
            "disconnect",
            json!({"user": "u", "disconnect": {"code": 5000, "reason": "x"}})
        )
        .await,
        bad
    );
    let long = "x".repeat(123);
    assert_eq!(
        api(
            &server,
            "disconnect",
            json!({"user": "u", "disconnect": {"code": 4000, "reason": long}})
        )
        .await,
        bad
    );
    let fits = "x".repeat(122);
    assert_eq!(
        api(
            &server,
            "disconnect",
            json!({"user": "u", "disconnect": {"code": 4000, "reason": fits}})
        )
        .await,
        json!({"result": {}})
    );
    assert_eq!(
        api(&server, "rpc", json!({"method": "anything"})).await,
        error(104, "not found")
    );
    assert_eq!(api(&server, "rpc", json!({})).await, bad);
}

#[tokio::test]
async fn disconnect_default_custom_and_whitelist() {
    let server = start().await;
    let (first, first_box) = connect(&server.hub, "carol").await;
    let (_, second_box) = connect(&server.hub, "carol").await;

    let answer = api(
        &server,
        "disconnect",
        json!({"user": "carol", "whitelist": [first]}),
    )
    .await;
    assert_eq!(answer, json!({"result": {}}));
    assert_eq!(close_code(&second_box).await, 3503);

    let custom = json!({"user": "carol", "disconnect": {"code": 4001, "reason": "bye"}});
    assert_eq!(
        api(&server, "disconnect", custom).await,
        json!({"result": {}})
    );
    assert_eq!(close_code(&first_box).await, 4001);
}

#[tokio::test]
async fn refresh_expired_closes_the_connection() {
    let server = start().await;
    let (client, outbox) = connect(&server.hub, "dave").await;
    let future =
        json!({"user": "dave", "client": client, "expire_at": 4_000_000_000_i64, "info": {"v": 2}});
    assert_eq!(api(&server, "refresh", future).await, json!({"result": {}}));
    assert_eq!(
        api(&server, "refresh", json!({"user": "dave", "expired": true})).await,
        json!({"result": {}})
    );
    assert_eq!(close_code(&outbox).await, 3005);
}

#[tokio::test]
async fn broadcast_answers_per_channel_in_order() {
    let server = start().await;
    let answer = api(
        &server,
        "broadcast",
        json!({"channels": ["a", "undefined:x", "", "b", "a"], "data": {"n": 1}}),
    )
    .await;
    let responses = answer["result"]["responses"]
        .as_array()
        .expect("responses")
        .clone();
    assert_eq!(responses.len(), 5);
    assert_eq!(responses[0]["result"]["offset"], 1);
    assert!(responses[0]["result"]["epoch"].is_string());
    assert_eq!(responses[1], error(102, "unknown channel"));
    assert_eq!(responses[2], error(107, "bad request"));
    assert_eq!(responses[3]["result"]["offset"], 1);
    assert_eq!(responses[4]["result"]["offset"], 2);
    assert_eq!(
        api(&server, "broadcast", json!({"channels": [], "data": {}})).await,
        error(107, "bad request")
    );
    assert_eq!(
        api(&server, "broadcast", json!({"channels": ["a"]})).await["result"]["responses"][0],
        error(107, "bad request")
    );
}

#[tokio::test]
async fn batch_replies_at_top_level_keyed_by_method() {
    let server = start().await;
    for parallel in [false, true] {
        let channel = format!("batch{parallel}");
        let request = json!({
            "commands": [
                {"publish": {"channel": channel, "data": {"x": 1}}},
                {"presence": {"channel": channel}},
                {"publish": {"channel": "undefined:channel", "data": {}}},
                {"unknown_method": {}},
                null,
                {"history": {"channel": channel, "limit": -1}},
                {"info": {}},
            ],
            "parallel": parallel,
        });
        let answer = api(&server, "batch", request).await;
        let replies = answer["replies"]
            .as_array()
            .expect("replies at the top level")
            .clone();
        assert_eq!(
            answer.as_object().map(|o| o.len()),
            Some(1),
            "only replies: {answer}"
        );
        assert_eq!(replies.len(), 7);
        assert_eq!(replies[0]["publish"]["offset"], 1);
        assert_eq!(replies[1], json!({"presence": {"presence": {}}}));
        assert_eq!(replies[2], error(102, "unknown channel"));
        assert_eq!(replies[3], error(104, "not found"));
        assert_eq!(replies[4], error(107, "bad request"));
        if !parallel {
            // Sequential: the history sees the publish before it.
            assert_eq!(
                replies[5]["history"]["publications"][0]["data"],
                json!({"x": 1})
            );
        }
        assert!(replies[6]["info"]["nodes"][0]["uid"].is_string());
    }
    assert_eq!(
        api(&server, "batch", json!({"commands": []})).await,
        json!({})
    );
    let malformed = raw(
        &server,
        "POST",
        "/api/batch",
        &[("x-api-key", KEY)],
        r#"{"commands":[{"publish":{"channel":1}}]}"#,
    )
    .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
}
