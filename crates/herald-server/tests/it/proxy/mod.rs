//! Proxies against real backends on real sockets: an axum HTTP backend (`http.rs`) and a
//! tonic gRPC backend (`grpc.rs`) that record what they get and answer what the test set.
//! The proxies are the objects configuration validation builds (read from `NodeOptions`),
//! called directly through `herald_hub::Proxy`; the path through a client session is tested
//! end to end elsewhere.

mod grpc;
mod http;

use std::sync::Arc;

use bytes::Bytes;
use herald_hub::{NodeOptions, Proxy, ProxyContext};
use herald_proto::Protocol;
use serde_json::Value;

use herald_server::config::{self, Format};

/// Node options from a configuration, which must validate.
fn node(config: Value) -> NodeOptions {
    config::load_str(&config.to_string(), Format::Json, Vec::new())
        .expect("loads")
        .config
        .validate()
        .expect("validates")
        .node
}

/// The proxy of `proxies[]` entry `name`, through a namespace that turns it on for every
/// channel call (one object serves all six calls).
fn named_proxy(entry: Value) -> Arc<dyn Proxy> {
    let name = entry["name"].as_str().expect("a name").to_owned();
    let node = node(serde_json::json!({
        "proxies": [entry],
        "channel": {"without_namespace": {
            "subscribe_proxy_enabled": true, "subscribe_proxy_name": name,
        }},
    }));
    node.channel
        .without_namespace
        .subscribe_proxy
        .expect("subscribe proxy")
}

fn pairs(list: &[(&str, &str)]) -> Arc<[(String, String)]> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// A JSON WebSocket connection of user `42` with connection meta.
fn context() -> ProxyContext {
    ProxyContext {
        client: "client-1".to_owned(),
        transport: "websocket",
        protocol: Protocol::Json,
        user: "42".to_owned(),
        meta: Bytes::from_static(br#"{"plan":"pro"}"#),
        headers: pairs(&[
            ("authorization", "Bearer transport"),
            ("cookie", "not forwarded"),
            ("x-real-ip", "10.0.0.1"),
            ("x-multi", "one"),
            ("x-multi", "two"),
        ]),
        emulated_headers: pairs(&[("Authorization", "Bearer emulated"), ("X-Emulated", "e")]),
    }
}

fn protobuf_context() -> ProxyContext {
    ProxyContext {
        protocol: Protocol::Protobuf,
        ..context()
    }
}

/// `herald checkconfig` on a file with bad proxy settings: each problem names its key.
#[test]
fn checkconfig_names_the_key_of_each_bad_proxy_setting() {
    let dir = std::env::temp_dir().join(format!("herald-proxy-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("config.json");
    let config = serde_json::json!({
        "proxies": [
            {"name": "billing", "endpoint": "ftp://billing:21", "timeout": "1s"},
            {"name": "slow", "endpoint": "http://127.0.0.1:1/x", "timeout": "-1s"},
        ],
        "channel": {"namespaces": [
            {"name": "chat", "subscribe_proxy_enabled": true, "subscribe_proxy_name": "nobody"},
        ]},
    });
    std::fs::write(&path, config.to_string()).expect("config written");
    let (problems, _) = herald_server::cli::check_config_with_notes(&path, Vec::new());
    let _ = std::fs::remove_dir_all(&dir);
    for key in [
        "proxies[0].endpoint",
        "proxies[1].timeout",
        "channel.namespaces[0].subscribe_proxy_name",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(key)),
            "no problem names {key}: {problems:#?}"
        );
    }
}

/// A subscribe stream proxy must be a gRPC one (Centrifugo streams over gRPC only).
#[test]
fn a_subscribe_stream_proxy_over_http_is_refused() {
    let dir = std::env::temp_dir().join(format!("herald-stream-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("config.json");
    let config = serde_json::json!({
        "channel": {
            "proxy": {"subscribe_stream": {"endpoint": "http://127.0.0.1:1/stream"}},
            "namespaces": [{"name": "ticker", "subscribe_stream_proxy_enabled": true}],
        },
    });
    std::fs::write(&path, config.to_string()).expect("config written");
    let (problems, _) = herald_server::cli::check_config_with_notes(&path, Vec::new());
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        problems.iter().any(
            |p| p.starts_with("channel.namespaces[0].subscribe_stream_proxy_name")
                && p.contains("grpc://")
        ),
        "{problems:#?}"
    );
}
