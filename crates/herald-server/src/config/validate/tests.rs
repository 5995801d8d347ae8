use std::time::Duration;

use serde_json::json;

use super::*;
use crate::config::{Format, load, load_str};

fn config(value: serde_json::Value) -> Config {
    load_str(&value.to_string(), Format::Json, Vec::new())
        .expect("loads")
        .config
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

#[test]
fn no_config_file_gives_a_working_local_server() {
    let loaded = load(None, Vec::new()).expect("loads");
    let v = loaded
        .config
        .validate_with_hostname("box")
        .expect("validates");
    assert_eq!(v.server.listen_address(), "127.0.0.1:8000");
    assert_eq!(v.node.name, "box_8000");
    assert_eq!(v.server.log_level, LogLevel::Info);
    assert!(v.server.health.enabled);
    assert_eq!(v.server.health.handler_prefix, "/health");
    assert_eq!(v.server.http_api.handler_prefix, "/api");
    assert_eq!(v.server.http_api.error_mode, ApiErrorMode::Default);
    assert_eq!(v.server.websocket.handler_prefix, "/connection/websocket");
    assert_eq!(v.server.websocket.message_size_limit, 65_536);
    assert_eq!(v.server.websocket.write_timeout, Duration::from_secs(1));
    assert_eq!(v.server.websocket.compression, None);
    assert!(!v.server.h2c);
    assert_eq!(v.server.shutdown_timeout, Duration::from_secs(30));
    assert!(v.server.origin_allowed(None));
    assert!(!v.server.origin_allowed(Some("https://example.com")));

    let client = &v.node.client;
    assert_eq!(client.ping_interval, Some(Duration::from_secs(25)));
    assert_eq!(client.pong_timeout, Some(Duration::from_secs(8)));
    assert_eq!(client.stale_close_delay, Duration::from_secs(10));
    assert_eq!(client.expired_close_delay, Duration::from_secs(25));
    assert_eq!(client.queue_max_size, 1_048_576);
    assert_eq!(client.channel_limit, 128);
    assert_eq!(client.write_delay, Duration::ZERO);
    assert_eq!(client.max_messages_in_frame, None);
    assert!(!client.reply_without_queue);
    assert_eq!(client.presence_update_interval, Duration::from_secs(27));
    assert_eq!(client.presence_ttl, Duration::from_secs(60));
    assert_eq!(client.history_max_publication_limit, 300);
    let channel = &v.node.channel;
    assert_eq!(channel.max_length, 255);
    assert_eq!(channel.private_prefix, "$");
    assert_eq!(channel.history_meta_ttl, Duration::from_secs(720 * 3600));
    assert!(v.tokens.subscription.is_none());
    assert!(v.tokens.connect.audience.is_none());
}

#[test]
fn maps_every_channel_option() {
    let v = config(json!({
        "channel": {
            "publication_data_format": "json",
            "without_namespace": {"presence": true, "history_size": 10, "history_ttl": "60s",
                                  "allow_user_limited_channels": true},
            "namespaces": [
                {"name": "chat", "join_leave": true, "force_push_join_leave": true,
                 "history_size": 5, "history_ttl": "30s", "history_meta_ttl": "1h",
                 "force_positioning": true, "allow_positioning": true, "force_recovery": true,
                 "allow_recovery": true, "allow_subscribe_for_client": true,
                 "allow_subscribe_for_anonymous": true, "allow_publish_for_subscriber": true,
                 "allow_publish_for_client": true, "allow_publish_for_anonymous": true,
                 "allow_presence_for_subscriber": true, "allow_presence_for_client": true,
                 "allow_presence_for_anonymous": true, "allow_history_for_subscriber": true,
                 "allow_history_for_client": true, "allow_history_for_anonymous": true,
                 "channel_regex": "^[a-z]+$", "publication_data_format": "binary",
                 "subscription_type": "stream",
                 "allowed_delta_types": ["fossil"], "delta_publish": true},
                {"name": "news.v2", "subscription_type": "map_users"}
            ]
        }
    }))
    .validate_with_hostname("h")
    .expect("validates");
    let channel = &v.node.channel;
    assert!(channel.without_namespace.presence);
    assert!(channel.without_namespace.allow_user_limited_channels);
    assert_eq!(
        channel.without_namespace.publication_data_format,
        hub::PublicationDataFormat::Json
    );
    let chat = &channel.namespaces[0].options;
    assert_eq!(channel.namespaces[0].name, "chat");
    assert!(chat.join_leave && chat.force_push_join_leave && chat.force_positioning);
    assert!(chat.allow_positioning && chat.force_recovery && chat.allow_recovery);
    assert!(chat.allow_subscribe_for_client && chat.allow_subscribe_for_anonymous);
    assert!(chat.allow_publish_for_subscriber && chat.allow_publish_for_client);
    assert!(chat.allow_publish_for_anonymous && chat.allow_presence_for_subscriber);
    assert!(chat.allow_presence_for_client && chat.allow_presence_for_anonymous);
    assert!(chat.allow_history_for_subscriber && chat.allow_history_for_client);
    assert!(chat.allow_history_for_anonymous);
    assert_eq!(chat.history_size, 5);
    assert_eq!(chat.history_ttl, Duration::from_secs(30));
    assert_eq!(chat.history_meta_ttl, Some(Duration::from_secs(3600)));
    assert!(
        chat.channel_regex
            .as_ref()
            .is_some_and(|r| r.is_match("abc"))
    );
    assert_eq!(
        chat.publication_data_format,
        hub::PublicationDataFormat::Binary
    );
    assert_eq!(chat.allowed_delta_types, vec![hub::DeltaType::Fossil]);
    assert!(chat.delta_publish);
    let news = &channel.namespaces[1].options;
    assert!(news.allowed_delta_types.is_empty() && !news.delta_publish);
    assert_eq!(
        news.publication_data_format,
        hub::PublicationDataFormat::Json
    );
    assert_eq!(news.history_meta_ttl, None);
    assert_eq!(chat.subscription_type, hub::SubscriptionType::Stream);
    assert_eq!(news.subscription_type, hub::SubscriptionType::MapUsers);
    for (raw, kind) in [
        ("", hub::SubscriptionType::Stream),
        ("map", hub::SubscriptionType::Map),
        ("map_clients", hub::SubscriptionType::MapClients),
        ("shared_poll", hub::SubscriptionType::SharedPoll),
    ] {
        let v = config(json!({"channel": {"without_namespace": {"subscription_type": raw}}}))
            .validate_with_hostname("h")
            .expect("validates");
        assert_eq!(v.node.channel.without_namespace.subscription_type, kind);
    }
    assert_problem(
        json!({"channel": {"namespaces": [{"name": "m", "subscription_type": "Map"}]}}),
        "channel.namespaces[0].subscription_type: unknown subscription_type \"Map\"",
    );
}

#[test]
fn write_batching_options() {
    let batching = |client: serde_json::Value| {
        let v = config(json!({ "client": client }))
            .validate_with_hostname("host")
            .expect("validates");
        let client = v.node.client;
        (
            client.write_delay,
            client.max_messages_in_frame,
            client.reply_without_queue,
        )
    };
    assert_eq!(
        batching(
            json!({"write_delay": "25ms", "max_messages_in_frame": -1, "reply_without_queue": true})
        ),
        (Duration::from_millis(25), None, true)
    );
    assert_eq!(batching(json!({"max_messages_in_frame": 0})).1, None);
    assert_eq!(batching(json!({"max_messages_in_frame": 100})).1, Some(100));
    assert_problem(
        json!({"client": {"max_messages_in_frame": -2}}),
        "client.max_messages_in_frame",
    );
    assert_problem(
        json!({"client": {"write_delay": "-1s"}}),
        "client.write_delay",
    );
}

#[test]
fn ping_pong_rules() {
    let v = config(json!({"client": {"ping_interval": -1, "pong_timeout": "8s"}}))
        .validate_with_hostname("h")
        .expect("ping disabled");
    assert_eq!(v.node.client.ping_interval, None);
    assert_eq!(v.node.client.pong_timeout, None);

    let v = config(json!({"client": {"ping_interval": "-1s", "pong_timeout": "-1"}}))
        .validate_with_hostname("h")
        .expect("both disabled");
    assert_eq!(v.node.client.ping_interval, None);

    let v = config(json!({"client": {"ping_interval": "20s", "pong_timeout": -1}}))
        .validate_with_hostname("h")
        .expect("pong disabled");
    assert_eq!(v.node.client.ping_interval, Some(Duration::from_secs(20)));
    assert_eq!(v.node.client.pong_timeout, None);

    let v = config(json!({"client": {"ping_interval": "0", "pong_timeout": "0s"}}))
        .validate_with_hostname("h")
        .expect("library defaults");
    assert_eq!(v.node.client.ping_interval, Some(Duration::from_secs(25)));
    assert_eq!(v.node.client.pong_timeout, Some(Duration::from_secs(10)));

    assert_problem(
        json!({"client": {"ping_interval": "5s", "pong_timeout": "5s"}}),
        "client.pong_timeout: must be less than client.ping_interval",
    );
}

#[test]
fn zero_means_default_and_negative_is_an_error() {
    let v = config(json!({"client": {"queue_max_size": 0, "channel_limit": 0,
                                     "stale_close_delay": "0s",
                                     "history_max_publication_limit": 0},
                          "channel": {"max_length": 0, "history_meta_ttl": "0"},
                          "websocket": {"message_size_limit": 0, "write_timeout": "0"}}))
    .validate_with_hostname("h")
    .expect("validates");
    assert_eq!(v.node.client.queue_max_size, 1_048_576);
    assert_eq!(v.node.client.channel_limit, 128);
    assert_eq!(v.node.client.stale_close_delay, Duration::from_secs(10));
    assert_eq!(v.node.client.history_max_publication_limit, usize::MAX);
    assert_eq!(v.node.channel.max_length, 255);
    assert_eq!(
        v.node.channel.history_meta_ttl,
        Duration::from_secs(720 * 3600)
    );
    assert_eq!(v.server.websocket.message_size_limit, 65_536);
    assert_eq!(v.server.websocket.write_timeout, Duration::from_secs(1));

    assert_problem(
        json!({"client": {"expired_close_delay": "-5s"}}),
        "client.expired_close_delay: must not be negative",
    );
    assert_problem(
        json!({"shutdown": {"timeout": "-1s"}}),
        "shutdown.timeout: must not be negative",
    );
}

#[test]
fn namespace_problems_name_their_key() {
    assert_problem(
        json!({"channel": {"namespaces": [{"name": "a"}]}}),
        "channel.namespaces[0].name: invalid namespace name",
    );
    assert_problem(
        json!({"channel": {"namespaces": [{"name": "chat room"}]}}),
        "invalid namespace name",
    );
    assert_problem(
        json!({"channel": {"namespaces": [{"name": "chat"}, {"name": "chat"}]}}),
        "channel.namespaces[1].name: namespace name \"chat\" is not unique",
    );
    assert_problem(
        json!({"channel": {"namespaces": [{"name": "chat", "channel_regex": "("}]}}),
        "channel.namespaces[0].channel_regex: invalid regex",
    );
    assert_problem(
        json!({"channel": {"without_namespace": {"publication_data_format": "xml"}}}),
        "channel.without_namespace.publication_data_format: unknown publication_data_format",
    );
    assert_problem(
        json!({"channel": {"publication_data_format": "xml"}}),
        "channel.publication_data_format",
    );
    assert_problem(
        json!({"channel": {"namespaces": [{"name": "chat", "allowed_delta_types": ["fossil", "xdelta"]}]}}),
        "channel.namespaces[0].allowed_delta_types: unknown delta type \"xdelta\"",
    );
}

#[test]
fn history_rules() {
    assert_problem(
        json!({"channel": {"without_namespace": {"history_size": 10}}}),
        "channel.without_namespace.history_size: history_size and history_ttl must be set together",
    );
    assert_problem(
        json!({"channel": {"without_namespace": {"history_size": 10, "history_ttl": "2h",
                                                  "history_meta_ttl": "1h"}}}),
        "channel.without_namespace.history_ttl: history_ttl (2h) can not be greater than history_meta_ttl (1h)",
    );
    assert_problem(
        json!({"channel": {"history_meta_ttl": "1h",
                           "without_namespace": {"history_size": 1, "history_ttl": "2h"}}}),
        "can not be greater than history_meta_ttl (1h)",
    );
    assert_problem(
        json!({"channel": {"without_namespace": {"history_size": 1, "history_ttl": "1.5s"}}}),
        "channel.without_namespace.history_ttl: sub-second precision is not supported",
    );
    assert_problem(
        json!({"channel": {"without_namespace": {"force_recovery": true}}}),
        "channel.without_namespace.force_recovery: recovery needs history_size and history_ttl",
    );
}

#[test]
fn engine_and_unsupported_features() {
    assert_problem(
        json!({"engine": {"type": "redis", "redis": {"address": []}}}),
        "engine.redis.address: at least one Redis address is needed",
    );
    assert_problem(
        json!({"engine": {"type": "nats"}}),
        "engine.type: unknown engine type",
    );
    assert_problem(
        json!({"engine": {"type": "redis", "redis": {"tls": {"enabled": true, "insecure_skip_verify": true, "cert_pem": "-----BEGIN CERTIFICATE-----"}}}}),
        "engine.redis.tls.insecure_skip_verify: not supported",
    );
    assert_problem(
        json!({"engine": {"type": "redis", "redis": {"tls": {"enabled": true, "cert_pem": "-----BEGIN CERTIFICATE-----"}}}}),
        "engine.redis.tls.cert_pem: a client certificate needs both cert_pem and key_pem",
    );
    assert_problem(
        json!({"broker": {"enabled": true, "type": "nats", "nats": {"tls": {"enabled": true}}}}),
        "broker.nats.tls.server_ca_pem: required when TLS is enabled",
    );
    assert_problem(
        json!({"http_server": {"tls": {"enabled": true}}}),
        "http_server.tls.cert_pem: required when TLS is enabled",
    );
    assert_problem(
        json!({"http_server": {"tls": {"enabled": true, "client_ca_pem": "/nope"}}}),
        "http_server.tls.client_ca_pem: client certificates (mutual TLS) are not supported",
    );
    assert_problem(
        json!({"client": {"token": {"jwks_public_endpoint": "https://{{tenant}}.x/jwks"}}}),
        "client.token.jwks_public_endpoint: templated JWKS endpoints",
    );
    assert_problem(
        json!({"client": {"subscription_token": {"enabled": true, "jwks_public_endpoint": "ftp://x/jwks"}}}),
        "client.subscription_token.jwks_public_endpoint: \"ftp://x/jwks\" is not an http or https URL",
    );
}

#[test]
fn redis_engine_settings() {
    let v = config(
        json!({"engine": {"type": "redis", "redis": {"address": "redis://a:1", "prefix": "p"}}}),
    )
    .validate_with_hostname("h")
    .expect("validates");
    let BackendSettings::Redis(options) = &v.engine.broker else {
        panic!("expected the Redis engine");
    };
    assert_eq!(options.addresses, vec!["redis://a:1"]);
    assert_eq!(options.prefix, "p");
    assert_eq!(v.engine.presence, v.engine.broker, "one engine serves both");
    let list = config(json!({"engine": {"type": "redis", "redis": {"address": ["a:1", "b:2"]}}}))
        .validate_with_hostname("h")
        .expect("validates");
    assert!(matches!(list.engine.broker, BackendSettings::Redis(o) if o.addresses.len() == 2));
}

#[test]
fn nats_broker_with_redis_presence() {
    let v = config(json!({
        "broker": {"enabled": true, "type": "nats", "nats": {"url": "nats://n:4222", "prefix": "x"}},
        "presence_manager": {"enabled": true, "type": "redis", "redis": {"address": "redis://r:6379"}}
    }))
    .validate_with_hostname("h")
    .expect("validates");
    let BackendSettings::Nats(nats) = &v.engine.broker else {
        panic!("expected NATS");
    };
    assert_eq!(
        (nats.url.as_str(), nats.prefix.as_str()),
        ("nats://n:4222", "x")
    );
    assert!(
        matches!(&v.engine.presence, BackendSettings::Redis(r) if r.addresses == ["redis://r:6379"])
    );
    assert_problem(
        json!({"broker": {"enabled": true, "type": "nats"},
               "channel": {"without_namespace": {"history_size": 10, "history_ttl": "60s"}}}),
        "the NATS broker keeps no history",
    );
    assert_problem(
        json!({"broker": {"enabled": true, "type": "kafka"}}),
        "broker.type: unknown broker type",
    );
    assert_problem(
        json!({"presence_manager": {"enabled": true, "type": "nats"}}),
        "presence_manager.type: unknown presence manager type",
    );
}

#[test]
fn token_settings() {
    let v = config(json!({"client": {
        "token": {"hmac_secret_key": "a", "audience": "app", "issuer_regex": "^https://",
                  "user_id_claim": "user_id", "hmac_previous_secret_key": "old",
                  "hmac_previous_secret_key_valid_until": 1700000000},
        "subscription_token": {"enabled": true, "hmac_secret_key": "b"},
        "insecure_skip_token_signature_verify": true
    }}))
    .validate_with_hostname("h")
    .expect("validates");
    let connect = &v.tokens.connect;
    assert_eq!(connect.section, "client.token");
    assert!(matches!(&connect.audience, Some(ClaimMatch::Exact(a)) if a == "app"));
    assert!(matches!(&connect.issuer, Some(ClaimMatch::Regex(_))));
    assert_eq!(connect.user_id_claim.as_deref(), Some("user_id"));
    assert_eq!(
        connect.hmac_previous,
        Some(("old".to_owned(), Some(1_700_000_000)))
    );
    let sub = v.tokens.subscription.as_ref().expect("enabled");
    assert_eq!(sub.section, "client.subscription_token");
    assert_eq!(sub.hmac_secret_key, "b");
    assert!(v.tokens.skip_signature_verify);

    for bad in [-1, 1_700_000_000_000_i64] {
        assert_problem(
            json!({"client": {"token": {"hmac_previous_secret_key": "old",
                "hmac_previous_secret_key_valid_until": bad}}}),
            "client.token.hmac_previous_secret_key_valid_until: ",
        );
        assert_problem(
            json!({"client": {"subscription_token": {"enabled": true,
                "hmac_previous_secret_key_valid_until": bad}}}),
            "client.subscription_token.hmac_previous_secret_key_valid_until: ",
        );
    }
    assert_problem(
        json!({"client": {"token": {"audience": "a", "audience_regex": "b"}}}),
        "client.token.audience_regex: set either",
    );
    assert_problem(
        json!({"client": {"subscription_token": {"enabled": true, "issuer_regex": "("}}}),
        "client.subscription_token.issuer_regex: invalid regex",
    );
    assert_problem(
        json!({"client": {"token": {"user_id_claim": "user.id"}}}),
        "client.token.user_id_claim: invalid claim name",
    );
}

#[test]
fn personal_channel_rules() {
    assert_problem(
        json!({"client": {"subscribe_to_user_personal_channel": {
            "enabled": true, "personal_channel_namespace": "personal"}}}),
        "client.subscribe_to_user_personal_channel.personal_channel_namespace: namespace \"personal\" not found",
    );
    assert_problem(
        json!({"client": {"subscribe_to_user_personal_channel": {
            "enabled": true, "single_connection": true}}}),
        "client.subscribe_to_user_personal_channel.single_connection: needs presence",
    );
    let v = config(json!({
        "client": {"subscribe_to_user_personal_channel": {
            "enabled": true, "single_connection": true, "personal_channel_namespace": "personal"}},
        "channel": {"namespaces": [{"name": "personal", "presence": true}]}
    }))
    .validate_with_hostname("h")
    .expect("validates");
    let personal = &v.node.client.subscribe_to_user_personal_channel;
    assert!(personal.enabled && personal.single_connection);
    assert_eq!(personal.personal_channel_namespace, "personal");
}

#[test]
fn server_settings() {
    let v = config(json!({
        "http_server": {"address": "::1", "port": 9000},
        "node": {"name": "n1"},
        "log": {"level": "DEBUG"},
        "client": {"allowed_origins": ["https://*.example.com"], "concurrency": 4},
        "http_api": {"key": "k", "insecure": true, "handler_prefix": "/api/", "error_mode": "transport"},
        "websocket": {"disabled": true, "handler_prefix": "/ws", "message_size_limit": 1024, "write_timeout": "250ms"},
        "health": {"enabled": false, "handler_prefix": "/healthz"},
        "shutdown": {"timeout": "5s"}
    }))
    .validate_with_hostname("h")
    .expect("validates");
    let s = &v.server;
    assert_eq!(s.listen_address(), "[::1]:9000");
    assert_eq!(v.node.name, "n1");
    assert_eq!(s.log_level, LogLevel::Debug);
    assert!(s.origin_allowed(Some("https://app.example.com")));
    assert!(!s.origin_allowed(Some("https://evil.com")));
    assert_eq!(s.client_concurrency, 4);
    assert_eq!(s.http_api.key, "k");
    assert!(s.http_api.insecure);
    assert_eq!(s.http_api.handler_prefix, "/api");
    assert_eq!(s.http_api.error_mode, ApiErrorMode::Transport);
    assert!(s.websocket.disabled);
    assert_eq!(s.websocket.handler_prefix, "/ws");
    assert_eq!(s.websocket.message_size_limit, 1024);
    assert_eq!(s.websocket.write_timeout, Duration::from_millis(250));
    assert!(!s.health.enabled);
    assert_eq!(s.health.handler_prefix, "/healthz");
    assert_eq!(s.shutdown_timeout, Duration::from_secs(5));

    let all = config(json!({"http_server": {"address": ""}}))
        .validate_with_hostname("h")
        .expect("validates");
    assert_eq!(all.server.listen_address(), "0.0.0.0:8000");

    assert_problem(
        json!({"log": {"level": "loud"}}),
        "log.level: unknown level",
    );
    assert_problem(
        json!({"http_api": {"error_mode": "x"}}),
        "http_api.error_mode",
    );
    assert_problem(
        json!({"http_api": {"handler_prefix": "api"}}),
        "http_api.handler_prefix: must start with /",
    );
    assert_problem(
        json!({"client": {"allowed_origins": ["https://[x"]}}),
        "client.allowed_origins: malformed origin pattern",
    );
}

#[test]
fn websocket_compression_settings() {
    let on = |extra: serde_json::Value| {
        let mut websocket = json!({"compression": true});
        websocket
            .as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        config(json!({"websocket": websocket}))
            .validate_with_hostname("h")
            .expect("validates")
            .server
            .websocket
            .compression
    };
    // Centrifugo's defaults: every message compressed, level 1.
    assert_eq!(
        on(json!({})),
        Some(CompressionSettings {
            min_size: 0,
            level: 1
        })
    );
    assert_eq!(
        on(json!({"compression_min_size": 512, "compression_level": 9})),
        Some(CompressionSettings {
            min_size: 512,
            level: 9
        })
    );
    assert_eq!(
        on(json!({"compression_level": -1})).map(|c| c.level),
        Some(6)
    );
    assert_problem(
        json!({"websocket": {"compression": true, "compression_level": 10}}),
        "websocket.compression_level: must be -1 or 0 to 9, got 10",
    );
}

#[test]
fn several_problems_are_reported_together() {
    let found = problems(json!({
        "engine": {"type": "cassandra"},
        "log": {"level": "loud"},
        "channel": {"namespaces": [{"name": "x"}]}
    }));
    assert_eq!(found.len(), 3, "{found:?}");
}

#[test]
fn redis_sentinel_settings() {
    let v = config(json!({"engine": {"type": "redis", "redis": {
        "sentinel_address": ["s1:26379,s2:26379"],
        "sentinel_master_name": "m",
        "sentinel_password": "pw",
        "password": "master-pw",
        "db": 2,
    }}}))
    .validate_with_hostname("h")
    .expect("validates");
    let BackendSettings::Redis(options) = &v.engine.broker else {
        panic!("expected the Redis engine");
    };
    let sentinel = options.sentinel.as_ref().expect("sentinel mode");
    assert_eq!(sentinel.addresses, vec!["s1:26379,s2:26379"]);
    assert_eq!(sentinel.master_name, "m");
    assert_eq!(sentinel.user, None);
    assert_eq!(sentinel.password.as_deref(), Some("pw"));
    assert_eq!(options.password.as_deref(), Some("master-pw"));
    assert_eq!((options.user.as_deref(), options.db), (None, 2));
    assert_problem(
        json!({"engine": {"type": "redis", "redis": {"db": -1}}}),
        "engine.redis.db: must not be negative",
    );
    assert_problem(
        json!({"broker": {"enabled": true, "type": "redis", "redis": {"sentinel_address": "s1:26379"}}}),
        "broker.redis.sentinel_master_name: required with sentinel_address",
    );
}

#[test]
fn pusher_apps_are_checked() {
    let app = json!({"id": "1", "key": "k", "secret": "s"});
    assert!(problems(json!({"pusher": {"apps": [app]}})).is_empty());
    assert_problem(
        json!({"pusher": {"apps": [{"id": "1", "key": "k"}]}}),
        "pusher.apps[0].secret: required",
    );
    assert!(problems(json!({"pusher": {"apps": []}})).is_empty());
}
