//! `version` / `version_epoch` on `publish` and `broadcast` (Centrifugo 6.2).

use serde_json::{Value, json};

use super::{api, start};

async fn history_data(server: &super::Server, channel: &str) -> Vec<Value> {
    let history = api(server, "history", json!({"channel": channel, "limit": -1})).await;
    history["result"]["publications"]
        .as_array()
        .expect("publications")
        .iter()
        .map(|p| p["data"].clone())
        .collect()
}

/// A stale version is dropped, yet answered like a publish: the current offset and epoch, no
/// error (Centrifugo's `PublishResult` has no suppressed flag).
#[tokio::test]
async fn publish_drops_stale_versions_and_answers_with_the_top() {
    let server = start().await;
    let first = api(
        &server,
        "publish",
        json!({"channel": "state", "data": {"v": 2}, "version": 2}),
    )
    .await;
    let epoch = first["result"]["epoch"].as_str().expect("epoch").to_owned();
    assert_eq!(first, json!({"result": {"offset": 1, "epoch": epoch}}));

    for stale in [json!({"v": 1}), json!({"v": 2})] {
        let version = stale["v"].clone();
        let dropped = api(
            &server,
            "publish",
            json!({"channel": "state", "data": stale, "version": version}),
        )
        .await;
        assert_eq!(dropped, json!({"result": {"offset": 1, "epoch": epoch}}));
    }
    let other_epoch = api(
        &server,
        "publish",
        json!({"channel": "state", "data": {"v": 1}, "version": 1, "version_epoch": "restart"}),
    )
    .await;
    assert_eq!(
        other_epoch,
        json!({"result": {"offset": 2, "epoch": epoch}})
    );
    assert_eq!(
        history_data(&server, "state").await,
        vec![json!({"v": 2}), json!({"v": 1})]
    );

    // Namespace `ns` keeps no history, so versions are not checked there.
    for _ in 0..2 {
        let plain = api(
            &server,
            "publish",
            json!({"channel": "ns:state", "data": {}, "version": 1}),
        )
        .await;
        assert_eq!(plain, json!({"result": {}}));
    }
}

/// Each channel of a broadcast compares with its own last version.
#[tokio::test]
async fn broadcast_checks_versions_per_channel() {
    let server = start().await;
    api(
        &server,
        "publish",
        json!({"channel": "a", "data": {"v": 5}, "version": 5}),
    )
    .await;
    let answer = api(
        &server,
        "broadcast",
        json!({"channels": ["a", "b"], "data": {"v": 3}, "version": 3}),
    )
    .await;
    let responses = answer["result"]["responses"].as_array().expect("responses");
    let offsets: Vec<&Value> = responses.iter().map(|r| &r["result"]["offset"]).collect();
    assert_eq!(offsets, [&json!(1), &json!(1)], "{answer}");
    assert_eq!(history_data(&server, "a").await, vec![json!({"v": 5})]);
    assert_eq!(history_data(&server, "b").await, vec![json!({"v": 3})]);
}
