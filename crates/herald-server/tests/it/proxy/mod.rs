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
