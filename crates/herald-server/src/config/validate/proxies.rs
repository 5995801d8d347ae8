//! Proxies: every proxy a namespace, an RPC namespace or `client.proxy.*` turns on is checked,
//! built once (`crate::proxy::build`) and shared by everything that names it.
//!
//! A name `""` or `default` means the fixed section of that kind (`channel.proxy.subscribe`,
//! `rpc.proxy`, ...); any other name an entry of `proxies[]`. As in Centrifugo, a name must
//! exist even where its proxy is off, every `proxies[]` entry is checked, and a fixed section
//! only when something uses it.

use std::collections::HashMap;
use std::sync::Arc;

use herald_hub as hub;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};

use super::Checker;
use crate::config::proxy::{ProxyConfig, StatusTransformConfig};
use crate::config::raw::{ChannelOptionsConfig, Config};
use crate::proxy::{self, ProxySettings, StatusReply, StatusTransform, Target};

/// The name that stands for a kind's fixed section; `proxies[]` may not use it.
const DEFAULT_NAME: &str = "default";
/// Longest message or reason of a status transform: it may end up as a WebSocket close reason.
const MAX_REASON_BYTES: usize = 123;

/// Sets the proxies of `client` and of every namespace of `channel` (which `channel_config`
/// built from `config.channel`, in the same order) and returns the RPC options.
pub(super) fn attach(
    config: &Config,
    client: &mut hub::ClientOptions,
    channel: &mut hub::ChannelConfig,
    c: &mut Checker,
) -> hub::RpcOptions {
    let mut proxies = Proxies::new(config, c);
    let connect = &config.client.proxy.connect;
    if connect.enabled {
        client.connect_proxy = proxies.section("client.proxy.connect", connect, c);
    }
    let refresh = &config.client.proxy.refresh;
    if refresh.enabled {
        client.refresh_proxy = proxies.section("client.proxy.refresh", refresh, c);
    }

    proxies.channel(
        &config.channel.without_namespace,
        "channel.without_namespace",
        &mut channel.without_namespace,
        c,
    );
    for (index, (raw, ns)) in config
        .channel
        .namespaces
        .iter()
        .zip(channel.namespaces.iter_mut())
        .enumerate()
    {
        let key = format!("channel.namespaces[{index}]");
        proxies.channel(&raw.options, &key, &mut ns.options, c);
    }

    let rpc = &config.rpc;
    let without_namespace = proxies.resolve(
        Kind::Rpc,
        rpc.without_namespace.proxy_enabled,
        &rpc.without_namespace.proxy_name,
        "rpc.without_namespace.proxy_name",
        c,
    );
    let mut seen = Vec::new();
    let mut namespaces = Vec::with_capacity(rpc.namespaces.len());
    for (index, ns) in rpc.namespaces.iter().enumerate() {
        let key = format!("rpc.namespaces[{index}]");
        if !super::valid_namespace_name(&ns.name) {
            c.fail(
                format!("{key}.name"),
                format!(
                    "invalid RPC namespace name {:?}: must match ^[-a-zA-Z0-9_.]{{2,}}$",
                    ns.name
                ),
            );
        } else if seen.contains(&ns.name.as_str()) {
            c.fail(
                format!("{key}.name"),
                format!("RPC namespace name {:?} is not unique", ns.name),
            );
        } else {
            seen.push(ns.name.as_str());
        }
        let proxy = proxies.resolve(
            Kind::Rpc,
            ns.proxy_enabled,
            &ns.proxy_name,
            &format!("{key}.proxy_name"),
            c,
        );
        namespaces.push(hub::RpcNamespace {
            name: ns.name.clone(),
            proxy,
        });
    }
    client.proxy_http_headers = forwarded_header_names(config, |p| {
        p.http_headers.iter().chain(p.grpc_metadata.iter())
    });
    client.proxy_emulated_headers = forwarded_header_names(config, |p| p.emulated_headers.iter());
    hub::RpcOptions {
        without_namespace,
        namespaces,
        namespace_boundary: if rpc.namespace_boundary.is_empty() {
            ":".to_owned()
        } else {
            rpc.namespace_boundary.clone()
        },
    }
}

/// Names (lower-case, each once) that any proxy lists in the lists `names` picks: what
/// connections keep of their request headers (or connect command's emulated headers). A proxy
/// that is configured but unused only costs its names here.
fn forwarded_header_names<'c, I>(
    config: &'c Config,
    names: impl Fn(&'c ProxyConfig) -> I,
) -> Vec<String>
where
    I: Iterator<Item = &'c String>,
{
    let channel = &config.channel.proxy;
    let sections = [
        &config.client.proxy.connect,
        &config.client.proxy.refresh,
        &channel.subscribe,
        &channel.publish,
        &channel.sub_refresh,
        &channel.subscribe_stream,
        &config.rpc.proxy,
    ];
    let mut names: Vec<String> = sections
        .into_iter()
        .chain(config.proxies.iter())
        .flat_map(names)
        .map(|name| name.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The kinds of proxy a name can stand for, by their fixed sections.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Subscribe,
    Publish,
    SubRefresh,
    SubscribeStream,
    Rpc,
}

/// Proxies resolved so far, by the section or `proxies[]` name they came from.
struct Proxies<'a> {
    config: &'a Config,
    /// Checked `proxies[]` entries by name; `None` for an entry with problems.
    named: HashMap<&'a str, Option<ProxySettings>>,
    built: HashMap<String, Option<Arc<dyn hub::Proxy>>>,
    /// The HTTP client all HTTP proxies share, made when the first one is built.
    http: Option<reqwest::Client>,
}

impl<'a> Proxies<'a> {
    /// Checks the names and settings of every `proxies[]` entry.
    fn new(config: &'a Config, c: &mut Checker) -> Self {
        let mut named = HashMap::new();
        for (index, raw) in config.proxies.iter().enumerate() {
            let key = format!("proxies[{index}]");
            let name = raw.name.as_str();
            if name.is_empty() {
                c.fail(format!("{key}.name"), "must not be empty");
                continue;
            }
            if name == DEFAULT_NAME {
                c.fail(
                    format!("{key}.name"),
                    "\"default\" is reserved for the fixed proxy sections (channel.proxy.*, rpc.proxy)",
                );
                continue;
            }
            if !super::valid_namespace_name(name) {
                c.fail(
                    format!("{key}.name"),
                    format!("invalid proxy name {name:?}: must match ^[-a-zA-Z0-9_.]{{2,}}$"),
                );
                continue;
            }
            if named.contains_key(name) {
                c.fail(
                    format!("{key}.name"),
                    format!("proxy name {name:?} is not unique"),
                );
                continue;
            }
            named.insert(name, settings(name, &key, raw, c));
        }
        Self {
            config,
            named,
            built: HashMap::new(),
            http: None,
        }
    }

    fn channel(
        &mut self,
        raw: &ChannelOptionsConfig,
        key: &str,
        options: &mut hub::ChannelOptions,
        c: &mut Checker,
    ) {
        options.subscribe_proxy = self.resolve(
            Kind::Subscribe,
            raw.subscribe_proxy_enabled,
            &raw.subscribe_proxy_name,
            &format!("{key}.subscribe_proxy_name"),
            c,
        );
        options.publish_proxy = self.resolve(
            Kind::Publish,
            raw.publish_proxy_enabled,
            &raw.publish_proxy_name,
            &format!("{key}.publish_proxy_name"),
            c,
        );
        options.sub_refresh_proxy = self.resolve(
            Kind::SubRefresh,
            raw.sub_refresh_proxy_enabled,
            &raw.sub_refresh_proxy_name,
            &format!("{key}.sub_refresh_proxy_name"),
            c,
        );
        let name_key = format!("{key}.subscribe_stream_proxy_name");
        if raw.subscribe_stream_proxy_enabled
            && let Some(endpoint) = self.stream_endpoint(&raw.subscribe_stream_proxy_name)
            && !endpoint.starts_with("grpc://")
        {
            c.fail(
                &name_key,
                format!(
                    "subscribe stream proxies need a grpc:// endpoint (Centrifugo streams over \
                     gRPC only), got {endpoint:?}"
                ),
            );
            return;
        }
        options.subscribe_stream_proxy = self.resolve(
            Kind::SubscribeStream,
            raw.subscribe_stream_proxy_enabled,
            &raw.subscribe_stream_proxy_name,
            &name_key,
            c,
        );
    }

    /// The endpoint a subscribe stream proxy name stands for, if it names one.
    fn stream_endpoint(&self, name: &str) -> Option<&'a str> {
        if name.is_empty() || name == DEFAULT_NAME {
            return Some(&self.config.channel.proxy.subscribe_stream.endpoint);
        }
        self.config
            .proxies
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.endpoint.as_str())
    }

    /// The proxy `name` (at `name_key`) stands for, when `enabled`.
    fn resolve(
        &mut self,
        kind: Kind,
        enabled: bool,
        name: &str,
        name_key: &str,
        c: &mut Checker,
    ) -> Option<Arc<dyn hub::Proxy>> {
        if name.is_empty() || name == DEFAULT_NAME {
            if !enabled {
                return None;
            }
            let (section, raw) = match kind {
                Kind::Subscribe => (
                    "channel.proxy.subscribe",
                    &self.config.channel.proxy.subscribe,
                ),
                Kind::Publish => ("channel.proxy.publish", &self.config.channel.proxy.publish),
                Kind::SubRefresh => (
                    "channel.proxy.sub_refresh",
                    &self.config.channel.proxy.sub_refresh,
                ),
                Kind::SubscribeStream => (
                    "channel.proxy.subscribe_stream",
                    &self.config.channel.proxy.subscribe_stream,
                ),
                Kind::Rpc => ("rpc.proxy", &self.config.rpc.proxy),
            };
            return self.section(section, raw, c);
        }
        let Some(settings) = self.named.get(name) else {
            c.fail(name_key, format!("no proxy named {name:?} in proxies[]"));
            return None;
        };
        if !enabled {
            return None;
        }
        let settings = settings.clone()?;
        self.build(&format!("proxies[{name:?}]"), settings, c)
    }

    /// The proxy of a fixed section, checked and built at its first use.
    fn section(
        &mut self,
        section: &str,
        raw: &ProxyConfig,
        c: &mut Checker,
    ) -> Option<Arc<dyn hub::Proxy>> {
        if let Some(built) = self.built.get(section) {
            return built.clone();
        }
        let Some(settings) = settings(section, section, raw, c) else {
            self.built.insert(section.to_owned(), None);
            return None;
        };
        self.build(section, settings, c)
    }

    fn build(
        &mut self,
        id: &str,
        settings: ProxySettings,
        c: &mut Checker,
    ) -> Option<Arc<dyn hub::Proxy>> {
        if let Some(built) = self.built.get(id) {
            return built.clone();
        }
        if self.http.is_none() {
            match crate::outbound::http_client() {
                Ok(client) => self.http = Some(client),
                Err(e) => {
                    c.fail(
                        id,
                        format!("the outbound HTTP client could not be made: {e}"),
                    );
                    self.built.insert(id.to_owned(), None);
                    return None;
                }
            }
        }
        let http = self.http.as_ref().expect("set just above");
        let built = proxy::build(settings, http);
        self.built.insert(id.to_owned(), Some(built.clone()));
        Some(built)
    }
}

/// Checks one proxy section (`key` is its place in the file) into settings; `None` after
/// reporting its problems.
fn settings(name: &str, key: &str, raw: &ProxyConfig, c: &mut Checker) -> Option<ProxySettings> {
    let before = c.errors.len();
    let target = target(&raw.endpoint, &format!("{key}.endpoint"), c);
    let timeout = match raw.timeout.to_std() {
        Some(timeout) if !timeout.is_zero() => timeout,
        _ => {
            c.fail(
                format!("{key}.timeout"),
                format!("must be above zero, got {}", raw.timeout),
            );
            std::time::Duration::ZERO
        }
    };
    let lower = |names: &[String]| -> Vec<String> {
        names.iter().map(|n| n.to_ascii_lowercase()).collect()
    };
    let status_transforms = raw
        .http
        .status_to_code_transforms
        .iter()
        .enumerate()
        .filter_map(|(index, t)| {
            status_transform(
                t,
                &format!("{key}.http.status_to_code_transforms[{index}]"),
                c,
            )
        })
        .collect();
    let static_headers = match &target {
        Some(Target::Grpc(_)) => static_metadata(raw, key, c),
        _ => static_headers(raw, key, c),
    };
    let grpc = &raw.grpc;
    let credentials = if grpc.credentials_key.is_empty() {
        None
    } else {
        let credential_key = grpc.credentials_key.to_ascii_lowercase();
        if credential_key.parse::<AsciiMetadataKey>().is_err() {
            c.fail(
                format!("{key}.grpc.credentials_key"),
                format!(
                    "{:?} is not a valid gRPC metadata key",
                    grpc.credentials_key
                ),
            );
        }
        if grpc
            .credentials_value
            .parse::<AsciiMetadataValue>()
            .is_err()
        {
            c.fail(
                format!("{key}.grpc.credentials_value"),
                "must be visible ASCII",
            );
        }
        Some((credential_key, grpc.credentials_value.clone()))
    };
    if c.errors.len() != before {
        return None;
    }
    Some(ProxySettings {
        name: name.to_owned(),
        target: target?,
        timeout,
        http_headers: lower(&raw.http_headers),
        emulated_headers: lower(&raw.emulated_headers),
        grpc_metadata: lower(&raw.grpc_metadata),
        binary_encoding: raw.binary_encoding,
        include_connection_meta: raw.include_connection_meta,
        static_headers,
        status_transforms,
        credentials,
    })
}

fn target(endpoint: &str, key: &str, c: &mut Checker) -> Option<Target> {
    if endpoint.is_empty() {
        c.fail(key, "must be set for a proxy in use");
        return None;
    }
    let grpc = endpoint.starts_with("grpc://");
    if !grpc && !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
        c.fail(
            key,
            format!("must start with http://, https:// or grpc://, got {endpoint:?}"),
        );
        return None;
    }
    let url = match reqwest::Url::parse(endpoint) {
        Ok(url) => url,
        Err(e) => {
            c.fail(key, format!("invalid URL {endpoint:?}: {e}"));
            return None;
        }
    };
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        c.fail(key, format!("no host in {endpoint:?}"));
        return None;
    };
    if !grpc {
        return Some(Target::Http(url));
    }
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    Some(Target::Grpc(authority))
}

fn status_transform(
    raw: &StatusTransformConfig,
    key: &str,
    c: &mut Checker,
) -> Option<StatusTransform> {
    let status = match u16::try_from(raw.status_code) {
        Ok(status @ 100..=599) => Some(status),
        _ => {
            c.fail(
                format!("{key}.status_code"),
                format!(
                    "must be an HTTP status (100 to 599), got {}",
                    raw.status_code
                ),
            );
            None
        }
    };
    let text_ok = |text: &str, field: &str, c: &mut Checker| {
        if !text.is_ascii() || text.len() > MAX_REASON_BYTES {
            c.fail(
                format!("{key}.{field}"),
                format!("must be ASCII, at most {MAX_REASON_BYTES} bytes"),
            );
        }
    };
    let (error, disconnect) = (&raw.to_error, &raw.to_disconnect);
    let to = match (error.code, disconnect.code) {
        (0, 0) => {
            c.fail(key, "set to_error.code or to_disconnect.code");
            None
        }
        (_, 0) => {
            text_ok(&error.message, "to_error.message", c);
            Some(StatusReply::Error(hub::ProxyClientError {
                code: error.code,
                message: error.message.clone(),
                temporary: error.temporary,
            }))
        }
        (0, code) => {
            text_ok(&disconnect.reason, "to_disconnect.reason", c);
            match u16::try_from(code) {
                Ok(code @ 3000..=4999) => Some(StatusReply::Disconnect(hub::Disconnect {
                    code,
                    reason: disconnect.reason.clone(),
                })),
                _ => {
                    c.fail(
                        format!("{key}.to_disconnect.code"),
                        format!("must be a disconnect code (3000 to 4999), got {code}"),
                    );
                    None
                }
            }
        }
        (_, _) => {
            c.fail(key, "set to_error.code or to_disconnect.code, not both");
            None
        }
    };
    Some(StatusTransform {
        status: status?,
        to: to?,
    })
}

fn static_headers(raw: &ProxyConfig, key: &str, c: &mut Checker) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    for (name, value) in &raw.http.static_headers {
        let valid = http::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && http::HeaderValue::from_str(value).is_ok();
        if valid {
            headers.push((name.to_ascii_lowercase(), value.clone()));
        } else {
            c.fail(
                format!("{key}.http.static_headers"),
                format!("{name:?}: {value:?} is not a valid HTTP header"),
            );
        }
    }
    headers
}

fn static_metadata(raw: &ProxyConfig, key: &str, c: &mut Checker) -> Vec<(String, String)> {
    let mut metadata = Vec::new();
    for (name, value) in &raw.grpc.static_metadata {
        let lower = name.to_ascii_lowercase();
        let valid = lower.parse::<AsciiMetadataKey>().is_ok()
            && value.parse::<AsciiMetadataValue>().is_ok();
        if valid {
            metadata.push((lower, value.clone()));
        } else {
            c.fail(
                format!("{key}.grpc.static_metadata"),
                format!("{name:?}: {value:?} is not valid gRPC metadata"),
            );
        }
    }
    metadata
}

#[cfg(test)]
mod tests;
