use std::sync::Arc;

use herald_hub::Proxy;
use serde_json::json;

use crate::config::{Config, Format, Validated, load_str};

fn config(value: serde_json::Value) -> Config {
    load_str(&value.to_string(), Format::Json, Vec::new())
        .expect("loads")
        .config
}

fn validated(value: serde_json::Value) -> Validated {
    config(value)
        .validate_with_hostname("host")
        .expect("validates")
}

fn problems(value: serde_json::Value) -> Vec<String> {
    match config(value).validate_with_hostname("host") {
        Ok(_) => Vec::new(),
        Err(err) => err.problems().iter().map(ToString::to_string).collect(),
    }
}

fn assert_problem(value: serde_json::Value, expected: &str) {
    let found = problems(value);
    assert!(
        found.iter().any(|p| p.contains(expected)),
        "expected a problem containing {expected:?}, got {found:?}"
    );
}

fn name(proxy: Option<&Arc<dyn Proxy>>) -> Option<&str> {
    proxy.map(|p| p.name())
}

fn same(a: Option<&Arc<dyn Proxy>>, b: Option<&Arc<dyn Proxy>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

#[test]
fn names_resolve_to_sections_and_entries_each_built_once() {
    let v = validated(json!({
        "proxies": [
            {"name": "app", "endpoint": "http://127.0.0.1:9/centrifugo", "timeout": "3s"},
            {"name": "grpc-app", "endpoint": "grpc://127.0.0.1:10000"},
            {"name": "unused", "endpoint": "https://example.com/x"}
        ],
        "client": {"proxy": {
            "connect": {"enabled": true, "endpoint": "http://127.0.0.1:9/connect"},
            "refresh": {"enabled": false, "endpoint": "http://127.0.0.1:9/refresh"}
        }},
        "channel": {
            "proxy": {"subscribe": {"endpoint": "http://127.0.0.1:9/subscribe"},
                      "publish": {"endpoint": "grpc://127.0.0.1:10001"}},
            "without_namespace": {"subscribe_proxy_enabled": true, "publish_proxy_enabled": true,
                                  "publish_proxy_name": "default"},
            "namespaces": [
                {"name": "one", "subscribe_proxy_enabled": true, "publish_proxy_enabled": true,
                 "publish_proxy_name": "app"},
                {"name": "two", "subscribe_proxy_enabled": true, "subscribe_proxy_name": "app",
                 "sub_refresh_proxy_enabled": true, "sub_refresh_proxy_name": "grpc-app"},
                {"name": "off", "subscribe_proxy_name": "app"}
            ]
        },
        "rpc": {
            "proxy": {"endpoint": "http://127.0.0.1:9/rpc"},
            "without_namespace": {"proxy_enabled": true},
            "namespaces": [{"name": "math", "proxy_enabled": true, "proxy_name": "app"},
                           {"name": "idle", "proxy_name": "grpc-app"}],
            "namespace_boundary": "."
        }
    }));
    let node = &v.node;
    assert_eq!(
        name(node.client.connect_proxy.as_ref()),
        Some("client.proxy.connect")
    );
    assert!(
        node.client.refresh_proxy.is_none(),
        "refresh is not enabled"
    );

    let top = &node.channel.without_namespace;
    let [one, two, off] = &node.channel.namespaces[..] else {
        panic!("three namespaces");
    };
    let (one, two, off) = (&one.options, &two.options, &off.options);
    assert_eq!(
        name(top.subscribe_proxy.as_ref()),
        Some("channel.proxy.subscribe")
    );
    assert_eq!(
        name(top.publish_proxy.as_ref()),
        Some("channel.proxy.publish")
    );
    assert!(top.sub_refresh_proxy.is_none());
    // One object per section and per entry, whoever names it.
    assert!(same(
        top.subscribe_proxy.as_ref(),
        one.subscribe_proxy.as_ref()
    ));
    assert_eq!(name(one.publish_proxy.as_ref()), Some("app"));
    assert!(same(
        one.publish_proxy.as_ref(),
        two.subscribe_proxy.as_ref()
    ));
    assert_eq!(name(two.sub_refresh_proxy.as_ref()), Some("grpc-app"));
    assert!(off.subscribe_proxy.is_none() && off.publish_proxy.is_none());

    let rpc = &node.rpc;
    assert_eq!(name(rpc.without_namespace.as_ref()), Some("rpc.proxy"));
    assert_eq!(rpc.namespaces.len(), 2);
    assert_eq!(rpc.namespaces[0].name, "math");
    assert!(same(
        rpc.namespaces[0].proxy.as_ref(),
        one.publish_proxy.as_ref()
    ));
    assert!(rpc.namespaces[1].proxy.is_none());
    assert_eq!(rpc.namespace_boundary, ".");
}

#[test]
fn no_proxies_by_default() {
    let v = validated(json!({}));
    assert!(v.node.client.connect_proxy.is_none());
    assert!(v.node.channel.without_namespace.subscribe_proxy.is_none());
    assert!(v.node.rpc.without_namespace.is_none());
    assert!(v.node.rpc.namespaces.is_empty());
    assert_eq!(v.node.rpc.namespace_boundary, ":");
}

#[test]
fn unknown_names_are_errors_even_where_the_proxy_is_off() {
    assert_problem(
        json!({"proxies": [{"name": "a", "endpoint": "http://a"}],
               "channel": {"namespaces": [
                   {"name": "n0"}, {"name": "n1"},
                   {"name": "n2", "subscribe_proxy_enabled": true, "subscribe_proxy_name": "x"}]}}),
        r#"channel.namespaces[2].subscribe_proxy_name: no proxy named "x" in proxies[]"#,
    );
    assert_problem(
        json!({"channel": {"without_namespace": {"publish_proxy_name": "nope"}}}),
        r#"channel.without_namespace.publish_proxy_name: no proxy named "nope""#,
    );
    assert_problem(
        json!({"channel": {"namespaces": [{"name": "ns", "sub_refresh_proxy_name": "y"}]}}),
        "channel.namespaces[0].sub_refresh_proxy_name",
    );
    assert_problem(
        json!({"rpc": {"without_namespace": {"proxy_name": "z"}}}),
        "rpc.without_namespace.proxy_name",
    );
    assert_problem(
        json!({"rpc": {"namespaces": [{"name": "r1", "proxy_enabled": true, "proxy_name": "z"}]}}),
        r#"rpc.namespaces[0].proxy_name: no proxy named "z""#,
    );
}

#[test]
fn proxy_names_must_be_present_unique_and_not_default() {
    let ok = json!({"endpoint": "http://a"});
    let entry = |name: &str| {
        let mut e = ok.clone();
        e["name"] = json!(name);
        e
    };
    assert_problem(
        json!({"proxies": [ok.clone()]}),
        "proxies[0].name: must not be empty",
    );
    assert_problem(
        json!({"proxies": [entry("a1"), entry("a1")]}),
        r#"proxies[1].name: proxy name "a1" is not unique"#,
    );
    assert_problem(
        json!({"proxies": [entry("default")]}),
        "proxies[0].name: \"default\" is reserved",
    );
    assert_problem(
        json!({"proxies": [entry("bad name")]}),
        "proxies[0].name: invalid proxy name",
    );
}

#[test]
fn endpoints_and_timeouts_are_checked() {
    assert_problem(
        json!({"client": {"proxy": {"connect": {"enabled": true}}}}),
        "client.proxy.connect.endpoint: must be set",
    );
    assert_problem(
        json!({"channel": {"without_namespace": {"subscribe_proxy_enabled": true}}}),
        "channel.proxy.subscribe.endpoint: must be set",
    );
    assert_problem(
        json!({"proxies": [{"name": "p1", "endpoint": "ws://host/x"}]}),
        "proxies[0].endpoint: must start with http://, https:// or grpc://",
    );
    assert_problem(
        json!({"proxies": [{"name": "p1", "endpoint": "http://"}]}),
        "proxies[0].endpoint: invalid URL",
    );
    assert_problem(
        json!({"proxies": [{"name": "p1", "endpoint": "grpc://[::1"}]}),
        "proxies[0].endpoint: invalid URL",
    );
    assert_problem(
        json!({"proxies": [{"name": "p1", "endpoint": "http://a", "timeout": "0s"}]}),
        "proxies[0].timeout: must be above zero",
    );
    assert_problem(
        json!({"rpc": {"proxy": {"endpoint": "http://a", "timeout": "-1s"},
                       "without_namespace": {"proxy_enabled": true}}}),
        "rpc.proxy.timeout: must be above zero",
    );
    // A fixed section nothing uses is not checked (as in Centrifugo).
    assert!(
        problems(json!({"channel": {"proxy": {"publish": {"endpoint": "nonsense"}}}})).is_empty()
    );
}

#[test]
fn status_transforms_are_checked() {
    let with = |transform: serde_json::Value| {
        json!({"proxies": [{"name": "p1", "endpoint": "http://a",
                            "http": {"status_to_code_transforms": [transform]}}]})
    };
    let key = "proxies[0].http.status_to_code_transforms[0]";
    assert!(
        problems(with(
            json!({"status_code": 404, "to_error": {"code": 404, "message": "nf"}})
        ))
        .is_empty()
    );
    assert!(
        problems(with(json!({"status_code": 403,
                             "to_disconnect": {"code": 4403, "reason": "forbidden"}})))
        .is_empty()
    );
    assert_problem(
        with(json!({"to_error": {"code": 100}})),
        &format!("{key}.status_code: must be an HTTP status"),
    );
    assert_problem(
        with(json!({"status_code": 500})),
        &format!("{key}: set to_error.code or to_disconnect.code"),
    );
    assert_problem(
        with(json!({"status_code": 500, "to_error": {"code": 100},
                    "to_disconnect": {"code": 4000}})),
        "not both",
    );
    assert_problem(
        with(json!({"status_code": 500, "to_error": {"code": 100, "message": "é"}})),
        &format!("{key}.to_error.message: must be ASCII"),
    );
    assert_problem(
        with(json!({"status_code": 500, "to_disconnect": {"code": 4000,
                                                          "reason": "x".repeat(124)}})),
        &format!("{key}.to_disconnect.reason"),
    );
    assert_problem(
        with(json!({"status_code": 500, "to_disconnect": {"code": 5000}})),
        &format!("{key}.to_disconnect.code: must be a disconnect code"),
    );
}

#[test]
fn headers_metadata_and_credentials_are_checked() {
    assert_problem(
        json!({"proxies": [{"name": "p1", "endpoint": "http://a",
                            "http": {"static_headers": {"bad header": "v"}}}]}),
        "proxies[0].http.static_headers",
    );
    assert_problem(
        json!({"proxies": [{"name": "p1", "endpoint": "grpc://a:1",
                            "grpc": {"static_metadata": {"x": "line\nbreak"}}}]}),
        "proxies[0].grpc.static_metadata",
    );
    assert_problem(
        json!({"proxies": [{"name": "p1", "endpoint": "grpc://a:1",
                            "grpc": {"credentials_key": "bad key", "credentials_value": "v"}}]}),
        "proxies[0].grpc.credentials_key",
    );
}

#[test]
fn rpc_namespace_names_are_checked() {
    assert_problem(
        json!({"rpc": {"namespaces": [{"name": "x"}]}}),
        "rpc.namespaces[0].name: invalid RPC namespace name",
    );
    assert_problem(
        json!({"rpc": {"namespaces": [{"name": "r1"}, {"name": "r1"}]}}),
        r#"rpc.namespaces[1].name: RPC namespace name "r1" is not unique"#,
    );
}
