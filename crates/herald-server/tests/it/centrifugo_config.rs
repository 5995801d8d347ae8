//! Centrifugo's own SDK test configuration (`tests/fixtures/centrifugo_test.json`, centrifuge-js
//! 5.7.1, unchanged) loads, its unimplemented features are reported one line each, and a
//! server running it refuses map and shared-poll use with Centrifugo's codes over a real
//! WebSocket.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use herald_server::cli::{ServeArgs, check_config_with_notes, load_serve_config};
use herald_server::config::{self, Feature, Format};
use herald_server::jwt::JwtVerifier;

use crate::websocket::WAIT;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/centrifugo_test.json")
}

#[test]
fn checkconfig_accepts_it_with_one_note_per_unimplemented_feature() {
    let (problems, notes) = check_config_with_notes(&fixture(), Vec::new());
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(notes.len(), 4, "{notes:#?}");
    let map = &notes[0];
    for ns in [
        "streamless",
        "positioned",
        "smallstream",
        "mapdelta",
        "shortttl",
        "clientkey",
        "prestest",
        "prescli",
        "debounced",
        "tagged",
    ] {
        assert!(map.contains(&format!("namespace \"{ns}\"")), "{ns}: {map}");
    }
    assert!(
        map.starts_with("map subscriptions: ") && map.contains("map_broker"),
        "{map}"
    );
    assert!(
        notes[1].starts_with("shared poll subscriptions: "),
        "{notes:#?}"
    );
    for place in [r#""poll""#, r#""pollvl""#, r#""pollpb""#, "shared_poll)"] {
        assert!(notes[1].contains(place), "{place}: {}", notes[1]);
    }
    // Its proxies (used only by the shared-poll namespaces) are implemented: no note.
    assert!(notes[2].contains(r#"namespace "tagged""#), "{}", notes[2]);
    assert!(
        notes[3].contains(r#"namespace "debounced""#),
        "{}",
        notes[3]
    );
}

#[test]
fn serve_loads_it_and_logs_the_notes_first() {
    let args = ServeArgs {
        config: Some(fixture()),
        ..ServeArgs::default()
    };
    let loaded = load_serve_config(&args).expect("herald serve accepts the file");
    assert!(
        loaded.warnings[0].starts_with("map subscriptions: "),
        "{:#?}",
        loaded.warnings
    );
    let unknown: Vec<&String> = loaded
        .warnings
        .iter()
        .filter(|w| w.starts_with("unknown"))
        .collect();
    assert!(unknown.is_empty(), "{unknown:#?}");
}

/// Every use of an unimplemented subscription kind gets the code Centrifugo would give (see
/// `herald-hub/src/session/subscribe.rs` and `commands.rs` for why each), and stream
/// namespaces of the same file keep working.
#[tokio::test]
async fn map_and_shared_poll_use_is_refused_with_centrifugos_codes() {
    let text = std::fs::read_to_string(fixture()).expect("fixture");
    let loaded = config::load_str(&text, Format::Json, Vec::new()).expect("loads");
    let features: Vec<Feature> = loaded.unimplemented.iter().map(|u| u.feature).collect();
    assert!(
        features.contains(&Feature::MapSubscriptions),
        "{features:?}"
    );
    let validated = loaded.config.validate().expect("valid");
    let verifier = JwtVerifier::from_config(&validated.tokens).expect("keys");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(herald_server::server::serve(
        validated,
        Arc::new(verifier),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));

    let (mut client, _) = tokio_websockets::ClientBuilder::new()
        .uri(&format!("ws://{addr}/connection/websocket"))
        .expect("uri")
        .connect()
        .await
        .expect("upgrade");
    // `client.insecure` in the file: no token needed.
    let commands = [
        json!({"id": 1, "connect": {}}),
        json!({"id": 2, "subscribe": {"channel": "streamless:a", "type": 1}}),
        json!({"id": 3, "subscribe": {"channel": "streamless:a"}}),
        json!({"id": 4, "subscribe": {"channel": "prescli:a", "type": 2}}),
        json!({"id": 5, "subscribe": {"channel": "poll:a", "type": 4}}),
        json!({"id": 6, "subscribe": {"channel": "poll:a"}}),
        json!({"id": 7, "subscribe": {"channel": "recovery:a", "type": 9}}),
        json!({"id": 8, "subscribe": {"channel": "recovery:a",
            "tf": {"key": "k", "cmp": "eq", "val": "v"}}}),
        json!({"id": 9, "subscribe": {"channel": "recovery:a"}}),
        json!({"id": 10, "publish": {"channel": "streamless:a", "type": 1, "key": "k",
            "data": {}}}),
        json!({"id": 11, "sub_refresh": {"channel": "recovery:a", "type": 1,
            "track": [{"signature": "s", "items": [{"key": "k"}]}]}}),
        json!({"id": 12, "sub_refresh": {"channel": "recovery:b", "type": 2, "untrack": ["k"]}}),
        json!({"id": 13, "publish": {"channel": "recovery:a", "data": {"ok": true}}}),
    ];
    let frame: Vec<String> = commands.iter().map(Value::to_string).collect();
    client
        .send(tokio_websockets::Message::text(frame.join("\n")))
        .await
        .expect("sent");

    let mut replies = std::collections::BTreeMap::new();
    while replies.len() < commands.len() {
        let message = tokio::time::timeout(WAIT, client.next())
            .await
            .expect("replies in time")
            .expect("connection open")
            .expect("a message");
        let text = message.as_text().expect("JSON protocol").to_owned();
        for line in text.lines() {
            let reply: Value = serde_json::from_str(line).expect("JSON reply");
            if let Some(id) = reply["id"].as_u64() {
                replies.insert(id, reply);
            }
        }
    }
    let code = |id: u64| replies[&id]["error"]["code"].as_u64();
    assert!(replies[&1]["connect"].is_object(), "{:?}", replies[&1]);
    assert_eq!(code(2), Some(108), "map subscribe");
    assert_eq!(code(3), Some(103), "stream subscribe to a map namespace");
    assert_eq!(code(4), Some(108), "map_clients subscribe");
    assert_eq!(code(5), Some(108), "shared poll subscribe");
    assert_eq!(
        code(6),
        Some(107),
        "stream subscribe to a shared poll namespace"
    );
    assert_eq!(code(7), Some(103), "unknown subscription type");
    assert_eq!(code(8), Some(107), "tags filter");
    assert!(replies[&9]["subscribe"].is_object(), "{:?}", replies[&9]);
    assert_eq!(code(10), Some(108), "map publish");
    assert_eq!(code(11), Some(107), "track on a stream subscription");
    assert_eq!(code(12), Some(103), "untrack without subscription");
    assert!(replies[&13]["publish"].is_object(), "{:?}", replies[&13]);

    let _ = stop.send(());
    let served = tokio::time::timeout(WAIT, server)
        .await
        .expect("server stops");
    served.expect("server task").expect("serve returns Ok");
}
