//! Centrifugo features a configuration may use that Herald does not implement yet: map and
//! shared-poll subscriptions, subscribe stream proxies, proxy TLS and gRPC compression, the RPC
//! ping method, the client tags filter and publish debouncing.
//!
//! A Centrifugo file that uses them must still load (Centrifugo's own SDK test configuration
//! does), so their keys are neither errors nor a flood of "unknown key" lines: the loader takes
//! them out of the unknown keys and reports one line per feature, naming where the file uses
//! it. What a client that uses such a feature gets is said in the same line; those answers are
//! given by the hub (`herald_hub::SubscriptionType` and the session's command handlers).

use std::collections::BTreeMap;
use std::fmt;

use super::raw::{ChannelOptionsConfig, Config};

/// A feature Herald does not implement, with the places of the configuration that use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unimplemented {
    /// The feature.
    pub feature: Feature,
    /// Where it is used: `namespace "chat"`, `channel.without_namespace`, or a top-level
    /// section such as `map_broker` or `proxies (a, b)`; each once, in file order.
    pub places: Vec<String>,
}

/// Features a Centrifugo v6 configuration can use and Herald does not implement yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Feature {
    /// `subscription_type: map | map_clients | map_users`, `map.*`, `map_*` options,
    /// `map_broker` (Centrifugo 6.8).
    MapSubscriptions,
    /// `subscription_type: shared_poll`, `shared_poll` (Centrifugo 6.8).
    SharedPoll,
    /// Namespace option `subscribe_stream_bidirectional` (streams are unidirectional).
    BidirectionalStreams,
    /// `http.tls`, `grpc.tls` and `grpc.compression` of a proxy section.
    ProxyTransportOptions,
    /// `rpc.ping`.
    RpcPing,
    /// `allow_tags_filter` (Centrifugo 6.4).
    TagsFilter,
    /// `client_publish_debounce_interval` (a Centrifugo PRO option).
    PublishDebounce,
    /// `grpc_api.reflection`.
    GrpcReflection,
}

impl Feature {
    fn name(self) -> &'static str {
        match self {
            Feature::MapSubscriptions => "map subscriptions",
            Feature::SharedPoll => "shared poll subscriptions",
            Feature::BidirectionalStreams => "bidirectional subscribe streams",
            Feature::ProxyTransportOptions => "proxy TLS and gRPC compression settings",
            Feature::RpcPing => "the built-in RPC ping method",
            Feature::TagsFilter => "the client tags filter",
            Feature::PublishDebounce => "client publish debouncing",
            Feature::GrpcReflection => "gRPC server reflection",
        }
    }

    /// What clients get instead.
    fn effect(self) -> &'static str {
        match self {
            Feature::MapSubscriptions => {
                "subscribing there is refused (108 for a map subscription, 103 for a stream \
                 one) and map publishes get 108"
            }
            Feature::SharedPoll => {
                "subscribing there is refused (108 for a shared-poll subscription, 107 for a \
                 stream one) and track/untrack get 107"
            }
            Feature::BidirectionalStreams => {
                "streams there are unidirectional (SubscribeUnidirectional): client \
                 publications follow the namespace's publish options instead of going into \
                 the stream"
            }
            Feature::ProxyTransportOptions => {
                "ignored: https:// endpoints are verified against the system's roots without a \
                 client certificate, grpc:// endpoints are called in plain text, uncompressed"
            }
            Feature::RpcPing => "not served: a call to it is routed like any other RPC method",
            Feature::TagsFilter => "subscriptions with a tags filter (tf) get 107",
            Feature::PublishDebounce => "ignored, client publications are not debounced",
            Feature::GrpcReflection => {
                "the gRPC API does not list its methods; clients use api.proto"
            }
        }
    }

    /// The feature of a section that Herald does not read (`map_broker`,
    /// `channel.proxy.map_publish`, ...).
    fn of_section(path: &str) -> Option<(Feature, &str)> {
        const SECTIONS: [(&str, Feature); 6] = [
            ("map_broker", Feature::MapSubscriptions),
            ("shared_poll", Feature::SharedPoll),
            ("channel.proxy.map_publish", Feature::MapSubscriptions),
            ("channel.proxy.map_remove", Feature::MapSubscriptions),
            ("channel.proxy.shared_poll_refresh", Feature::SharedPoll),
            ("rpc.ping", Feature::RpcPing),
        ];
        SECTIONS.iter().find_map(|(section, feature)| {
            let rest = path.strip_prefix(section)?;
            (rest.is_empty() || rest.starts_with(['.', '['])).then_some((*feature, *section))
        })
    }

    /// The proxy section of a TLS or compression key of a proxy (`proxies[0].grpc.tls.enabled`
    /// gives `proxies[0]`).
    fn of_proxy_transport(path: &str) -> Option<&str> {
        const PROXY_SECTIONS: [&str; 4] =
            ["proxies[", "client.proxy.", "channel.proxy.", "rpc.proxy."];
        if !PROXY_SECTIONS.iter().any(|p| path.starts_with(p)) {
            return None;
        }
        [".http.tls", ".grpc.tls", ".grpc.compression"]
            .iter()
            .find_map(|option| {
                let at = path.find(option)?;
                let rest = &path[at + option.len()..];
                (rest.is_empty() || rest.starts_with('.')).then_some(&path[..at])
            })
    }

    /// The feature of a channel option Herald does not read.
    fn of_channel_option(key: &str) -> Option<Feature> {
        match key {
            "map" | "map_clients_presence_channel_prefix" | "map_users_presence_channel_prefix" => {
                Some(Feature::MapSubscriptions)
            }
            _ if key.starts_with("map_") => Some(Feature::MapSubscriptions),
            "shared_poll" => Some(Feature::SharedPoll),
            "subscribe_stream_bidirectional" => Some(Feature::BidirectionalStreams),
            "allow_tags_filter" => Some(Feature::TagsFilter),
            "client_publish_debounce_interval" => Some(Feature::PublishDebounce),
            _ => None,
        }
    }

    /// The feature a `subscription_type` value asks for.
    fn of_subscription_type(value: &str) -> Option<Feature> {
        match value {
            "map" | "map_clients" | "map_users" => Some(Feature::MapSubscriptions),
            "shared_poll" => Some(Feature::SharedPoll),
            _ => None,
        }
    }
}

impl fmt::Display for Unimplemented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: not implemented yet (configured in {}); {}",
            self.feature.name(),
            self.places.join(", "),
            self.feature.effect()
        )
    }
}

/// The unimplemented features `config` uses, one entry per feature. Unknown keys that belong
/// to one of them are moved out of `unknown_keys`.
pub(super) fn collect(config: &Config, unknown_keys: &mut Vec<String>) -> Vec<Unimplemented> {
    let mut found = Found::default();
    let scope =
        |options: &ChannelOptionsConfig| Feature::of_subscription_type(&options.subscription_type);
    if let Some(feature) = scope(&config.channel.without_namespace) {
        found.add(feature, "channel.without_namespace".to_owned());
    }
    for ns in &config.channel.namespaces {
        if let Some(feature) = scope(&ns.options) {
            found.add(feature, namespace_place(&ns.name));
        }
    }

    if config.grpc_api.reflection {
        found.add(Feature::GrpcReflection, "grpc_api.reflection".to_owned());
    }

    unknown_keys.retain(|key| match classify(config, key) {
        Some((feature, place)) => {
            found.add(feature, place);
            false
        }
        None => true,
    });
    found.into_list()
}

/// The feature and place of an unknown key, if it belongs to an unimplemented feature.
fn classify(config: &Config, key: &str) -> Option<(Feature, String)> {
    if let Some(option) = key.strip_prefix("channel.without_namespace.") {
        let feature = Feature::of_channel_option(first_segment(option))?;
        return Some((feature, "channel.without_namespace".to_owned()));
    }
    if let Some(rest) = key.strip_prefix("channel.namespaces[") {
        let (index, option) = rest.split_once("].")?;
        let feature = Feature::of_channel_option(first_segment(option))?;
        let place = index
            .parse::<usize>()
            .ok()
            .and_then(|i| config.channel.namespaces.get(i))
            .map_or_else(
                || format!("channel.namespaces[{index}]"),
                |ns| namespace_place(&ns.name),
            );
        return Some((feature, place));
    }
    if let Some(section) = Feature::of_proxy_transport(key) {
        return Some((Feature::ProxyTransportOptions, section.to_owned()));
    }
    let (feature, section) = Feature::of_section(key)?;
    Some((feature, section.to_owned()))
}

fn first_segment(path: &str) -> &str {
    path.split(['.', '[']).next().unwrap_or(path)
}

fn namespace_place(name: &str) -> String {
    format!("namespace {name:?}")
}

/// Places per feature, each once, in the order found.
#[derive(Default)]
struct Found(BTreeMap<Feature, Vec<String>>);

impl Found {
    /// Adds `place` unless it is there already, or a more precise place inside it is
    /// (`proxies` after `proxies (a, b)`, `client.proxy` after `client.proxy.connect`).
    fn add(&mut self, feature: Feature, place: String) {
        let places = self.0.entry(feature).or_default();
        let covered = places.iter().any(|known| {
            known
                .strip_prefix(place.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '.']))
        });
        if !covered {
            places.push(place);
        }
    }

    fn into_list(self) -> Vec<Unimplemented> {
        self.0
            .into_iter()
            .map(|(feature, places)| Unimplemented { feature, places })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Format, load_str};

    fn loaded(json: &str) -> crate::config::Loaded {
        load_str(json, Format::Json, Vec::new()).expect("loads")
    }

    #[test]
    fn one_entry_per_feature_naming_every_place() {
        let loaded = loaded(
            r#"{"map_broker": {"type": "memory"},
                "proxies": [{"name": "a", "endpoint": "http://x", "http": {"static_headers": {}}},
                            {"name": "b", "endpoint": "grpc://x:1",
                             "grpc": {"tls": {"enabled": true}, "compression": true}}],
                "client": {"proxy": {"connect": {"enabled": true, "emulated_headers": ["Authorization"],
                                                 "http": {"tls": {"enabled": true}}}}},
                "rpc": {"namespaces": [{"name": "r", "proxy_name": "a"}], "ping": {"enabled": true}},
                "channel": {
                  "proxy": {"subscribe_stream": {"endpoint": "grpc://s:1"},
                            "map_publish": {"endpoint": "http://m"}},
                  "without_namespace": {"allow_tags_filter": true,
                                        "subscribe_stream_bidirectional": true},
                  "namespaces": [
                    {"name": "m", "subscription_type": "map", "map": {"mode": "ephemeral"}},
                    {"name": "p", "subscription_type": "shared_poll", "shared_poll": {}},
                    {"name": "c", "subscription_type": "map_clients",
                     "map_clients_presence_channel_prefix": "x:"},
                    {"name": "s", "subscribe_proxy_enabled": true, "presnce": true,
                     "client_publish_debounce_interval": "50ms"}
                  ]}}"#,
        );
        let lines: Vec<String> = loaded
            .unimplemented
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            loaded.unimplemented,
            vec![
                Unimplemented {
                    feature: Feature::MapSubscriptions,
                    places: vec![
                        r#"namespace "m""#.to_owned(),
                        r#"namespace "c""#.to_owned(),
                        "channel.proxy.map_publish".to_owned(),
                        "map_broker".to_owned(),
                    ],
                },
                Unimplemented {
                    feature: Feature::SharedPoll,
                    places: vec![r#"namespace "p""#.to_owned()],
                },
                Unimplemented {
                    feature: Feature::BidirectionalStreams,
                    places: vec!["channel.without_namespace".to_owned()],
                },
                Unimplemented {
                    feature: Feature::ProxyTransportOptions,
                    places: vec!["client.proxy.connect".to_owned(), "proxies[1]".to_owned()],
                },
                Unimplemented {
                    feature: Feature::RpcPing,
                    places: vec!["rpc.ping".to_owned()],
                },
                Unimplemented {
                    feature: Feature::TagsFilter,
                    places: vec!["channel.without_namespace".to_owned()],
                },
                Unimplemented {
                    feature: Feature::PublishDebounce,
                    places: vec![r#"namespace "s""#.to_owned()],
                },
            ],
            "{lines:#?}"
        );
        // A typo is still an unknown key, and only it.
        assert_eq!(loaded.unknown_keys, vec!["channel.namespaces[3].presnce"]);
        assert_eq!(
            lines[0],
            r#"map subscriptions: not implemented yet (configured in namespace "m", namespace "c", channel.proxy.map_publish, map_broker); subscribing there is refused (108 for a map subscription, 103 for a stream one) and map publishes get 108"#
        );
    }

    /// Centrifugo 6.9 split `emulated_headers` from `http_headers`; both load in every proxy
    /// section, and implemented proxies are not reported.
    #[test]
    fn proxy_sections_read_emulated_headers_beside_http_headers() {
        let proxy = r#"{"endpoint": "http://b", "timeout": "3s", "http_headers": ["Cookie"],
                        "emulated_headers": ["Authorization"], "grpc_metadata": ["m"],
                        "binary_encoding": true, "include_connection_meta": true}"#;
        let json = format!(
            r#"{{"proxies": [{{"name": "n", "endpoint": "http://n", "emulated_headers": ["X"]}}],
                "client": {{"proxy": {{"connect": {proxy}, "refresh": {proxy}}}}},
                "channel": {{"proxy": {{"subscribe": {proxy}, "publish": {proxy},
                                        "sub_refresh": {proxy}, "subscribe_stream": {proxy}}}}},
                "rpc": {{"proxy": {proxy}}}}}"#
        );
        let loaded = loaded(&json);
        assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
        let config = &loaded.config;
        assert_eq!(config.proxies[0].name, "n");
        assert_eq!(config.proxies[0].emulated_headers, ["X"]);
        for section in [
            &config.client.proxy.connect,
            &config.client.proxy.refresh,
            &config.channel.proxy.subscribe,
            &config.channel.proxy.publish,
            &config.channel.proxy.sub_refresh,
            &config.channel.proxy.subscribe_stream,
            &config.rpc.proxy,
        ] {
            assert_eq!(section.http_headers, ["Cookie"]);
            assert_eq!(section.emulated_headers, ["Authorization"]);
            assert_eq!(section.grpc_metadata, ["m"]);
            assert_eq!(section.timeout, crate::config::GoDuration::from_secs(3));
            assert!(section.binary_encoding && section.include_connection_meta);
        }
        assert_eq!(loaded.unimplemented, vec![]);
    }

    #[test]
    fn streams_and_unset_proxies_are_not_reported() {
        let loaded = loaded(
            r#"{"client": {"proxy": {"connect": {"timeout": "2s"}}},
                "channel": {"namespaces": [{"name": "s", "subscription_type": "stream"}]}}"#,
        );
        assert!(
            loaded.unimplemented.is_empty(),
            "{:?}",
            loaded.unimplemented
        );
        assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
    }
}
