//! Raw configuration -> [`Validated`]: every check Centrifugo makes on the keys Herald supports,
//! each problem naming its key. All problems are collected, so `herald checkconfig` shows them at
//! once.

use std::collections::HashSet;
use std::time::Duration;

use herald_hub as hub;
use regex::Regex;

use super::duration::GoDuration;
use super::error::ConfigError;
use super::origin::OriginPolicy;
use super::raw::{
    ChannelConfig, ChannelOptionsConfig, ClientConfig, Config, RedisEngineConfig, TokenConfig,
};
use super::settings::{
    ApiErrorMode, BackendSettings, ClaimMatch, CompressionSettings, EngineSettings,
    HttpApiSettings, LogLevel, ServerSettings, TokenKeys, TokenSettings, Validated,
    WebSocketSettings,
};

/// Used when `client.ping_interval` is 0, as Centrifugo's library does.
const LIBRARY_PING_INTERVAL: Duration = Duration::from_secs(25);
/// Used when `client.pong_timeout` is 0, as Centrifugo's library does (not the config's 8s).
const LIBRARY_PONG_TIMEOUT: Duration = Duration::from_secs(10);
/// Presence entries outlive at least two refreshes, and never less than Centrifugo's 60s.
const MIN_PRESENCE_TTL: Duration = Duration::from_secs(60);

/// The NATS broker keeps no history, so no namespace may ask for history or recovery: every
/// subscribe would fail at run time otherwise.
fn check_no_history(channel: &hub::ChannelConfig, c: &mut Checker) {
    let namespaces = channel
        .namespaces
        .iter()
        .map(|ns| (format!("channel.namespaces[{}]", ns.name), &ns.options));
    let all = std::iter::once((
        "channel.without_namespace".to_owned(),
        &channel.without_namespace,
    ))
    .chain(namespaces);
    for (key, options) in all {
        if options.history_enabled() || options.force_recovery || options.force_positioning {
            c.fail(
                format!("{key}.history_size"),
                "the NATS broker keeps no history: history, recovery and positioning are not available",
            );
        }
    }
}

fn redis_settings(redis: &RedisEngineConfig, key: &str, c: &mut Checker) -> BackendSettings {
    if redis.address.is_empty() {
        c.fail(
            format!("{key}.address"),
            "at least one Redis address is needed",
        );
    }
    if redis.prefix.is_empty() {
        c.fail(format!("{key}.prefix"), "must not be empty");
    }
    BackendSettings::Redis(herald_redis::RedisOptions {
        addresses: redis.address.clone(),
        prefix: redis.prefix.clone(),
        tls: redis_tls::settings(&redis.tls, &format!("{key}.tls"), c),
        sentinel: redis_sentinel::settings(redis, key, c),
        user: (!redis.user.is_empty()).then(|| redis.user.clone()),
        password: (!redis.password.is_empty()).then(|| redis.password.clone()),
        db: redis_sentinel::db(redis, key, c),
        ..herald_redis::RedisOptions::default()
    })
}

/// A duration that must be above zero; zero means `default`.
fn positive(value: GoDuration, key: &str, default: Duration, c: &mut Checker) -> Duration {
    match value.to_std() {
        Some(d) if d.is_zero() => default,
        Some(d) => d,
        None => {
            c.fail(key, "must not be negative");
            default
        }
    }
}

impl Config {
    /// Checks everything and converts to hub options and server settings. When several keys are
    /// wrong the error is [`ConfigError::Multiple`].
    pub fn validate(&self) -> Result<Validated, ConfigError> {
        self.validate_with_hostname(&system_hostname())
    }

    fn validate_with_hostname(&self, hostname: &str) -> Result<Validated, ConfigError> {
        let mut c = Checker::default();
        let engine = self.engine_settings(&mut c);
        let mut client = client_options(&self.client, &mut c);
        let mut channel = channel_config(&self.channel, &mut c);
        check_personal_channel(&client.subscribe_to_user_personal_channel, &channel, &mut c);
        let rpc = proxies::attach(self, &mut client, &mut channel, &mut c);
        let tokens = TokenSettings {
            connect: token_keys(&self.client.token, "client.token", &mut c),
            subscription: self.client.subscription_token.enabled.then(|| {
                token_keys(
                    &self.client.subscription_token.token(),
                    "client.subscription_token",
                    &mut c,
                )
            }),
            skip_signature_verify: self.client.insecure_skip_token_signature_verify,
        };
        if matches!(engine.broker, BackendSettings::Nats(_)) {
            check_no_history(&channel, &mut c);
        }
        let server = self.server_settings(&mut c);
        let name = if self.node.name.is_empty() {
            format!("{hostname}_{}", self.http_server.port)
        } else {
            self.node.name.clone()
        };
        let node = hub::NodeOptions {
            name,
            client,
            channel,
            rpc,
            probe: health::probe_options(&self.health, &mut c),
            ..hub::NodeOptions::default()
        };
        let webhooks = self.webhooks.validate(|key, message| c.fail(key, message));
        c.finish(Validated {
            node,
            server,
            tokens,
            engine,
            webhooks,
        })
    }

    fn engine_settings(&self, c: &mut Checker) -> EngineSettings {
        let engine = match self.engine.kind.as_str() {
            "" | "memory" => BackendSettings::Memory,
            "redis" => redis_settings(&self.engine.redis, "engine.redis", c),
            other => {
                c.fail(
                    "engine.type",
                    format!("unknown engine type {other:?} (memory or redis)"),
                );
                BackendSettings::Memory
            }
        };
        let broker = if self.broker.enabled {
            match self.broker.kind.as_str() {
                "" | "memory" => BackendSettings::Memory,
                "redis" => redis_settings(&self.broker.redis, "broker.redis", c),
                "nats" => {
                    let nats = &self.broker.nats;
                    let defaults = herald_nats::NatsOptions::default();
                    BackendSettings::Nats(herald_nats::NatsOptions {
                        url: nats.url.clone(),
                        prefix: nats.prefix.clone(),
                        connect_timeout: positive(
                            nats.dial_timeout,
                            "broker.nats.dial_timeout",
                            defaults.connect_timeout,
                            c,
                        ),
                        command_timeout: positive(
                            nats.write_timeout,
                            "broker.nats.write_timeout",
                            defaults.command_timeout,
                            c,
                        ),
                        tls: redis_tls::nats(&nats.tls, "broker.nats.tls", c),
                        ..defaults
                    })
                }
                other => {
                    c.fail(
                        "broker.type",
                        format!("unknown broker type {other:?} (memory, redis or nats)"),
                    );
                    BackendSettings::Memory
                }
            }
        } else {
            engine.clone()
        };
        let presence = if self.presence_manager.enabled {
            match self.presence_manager.kind.as_str() {
                "" | "memory" => BackendSettings::Memory,
                "redis" => {
                    redis_settings(&self.presence_manager.redis, "presence_manager.redis", c)
                }
                other => {
                    c.fail(
                        "presence_manager.type",
                        format!("unknown presence manager type {other:?} (memory or redis)"),
                    );
                    BackendSettings::Memory
                }
            }
        } else {
            engine
        };
        EngineSettings { broker, presence }
    }

    /// `pusher.*`.
    fn pusher_settings(&self, c: &mut Checker) -> super::pusher::PusherSettings {
        self.pusher.validate(|key, message| c.fail(key, message))
    }

    fn server_settings(&self, c: &mut Checker) -> ServerSettings {
        let shutdown_timeout = c.non_negative("shutdown.timeout", self.shutdown.timeout);
        let log_level = match self.log.level.to_ascii_lowercase().as_str() {
            "none" => LogLevel::None,
            "trace" => LogLevel::Trace,
            "debug" => LogLevel::Debug,
            "info" | "" => LogLevel::Info,
            "warn" | "warning" => LogLevel::Warn,
            "error" | "fatal" => LogLevel::Error,
            other => {
                c.fail(
                    "log.level",
                    format!("unknown level {other:?} (none, trace, debug, info, warn, error)"),
                );
                LogLevel::Info
            }
        };
        let origins = OriginPolicy::compile(&self.client.allowed_origins).unwrap_or_else(|e| {
            c.fail("client.allowed_origins", e);
            OriginPolicy::NoOriginOnly
        });
        let error_mode = match self.http_api.error_mode.as_str() {
            "" => ApiErrorMode::Default,
            "transport" => ApiErrorMode::Transport,
            other => {
                c.fail(
                    "http_api.error_mode",
                    format!("unknown error mode {other:?} (use \"\" or \"transport\")"),
                );
                ApiErrorMode::Default
            }
        };
        let ws = &self.websocket;
        ServerSettings {
            address: self.http_server.address.clone(),
            port: self.http_server.port,
            h2c: self.http_server.h2c_external,
            tls: self.http_tls_settings(c),
            log_level,
            origins,
            http_api: HttpApiSettings {
                disabled: self.http_api.disabled,
                key: self.http_api.key.clone(),
                insecure: self.http_api.insecure,
                handler_prefix: c.prefix(
                    "http_api.handler_prefix",
                    &self.http_api.handler_prefix,
                    "",
                ),
                error_mode,
                rate_limit: self.http_api.rate_limit,
            },
            websocket: WebSocketSettings {
                disabled: ws.disabled,
                handler_prefix: c.prefix("websocket.handler_prefix", &ws.handler_prefix, "/"),
                message_size_limit: or_default(ws.message_size_limit, 65_536),
                write_timeout: c.duration(
                    "websocket.write_timeout",
                    ws.write_timeout,
                    Duration::from_secs(1),
                ),
                compression: compression(
                    c,
                    "websocket",
                    ws.compression,
                    ws.compression_min_size,
                    ws.compression_level,
                ),
            },
            health: self.health_settings(c),
            prometheus: self
                .prometheus
                .validate(|key, message| c.fail(key, message)),
            opentelemetry: self
                .opentelemetry
                .validate(|key, message| c.fail(key, message)),
            pusher: self.pusher_settings(c),
            transports: self.transport_settings(c),
            grpc_api: self.grpc_api_settings(c),
            uni_grpc: self.uni_grpc_settings(c),
            admin: self
                .admin
                .settings(&mut |key, message| c.fail(key, message)),
            shutdown_timeout,
            drain_period: health::drain_period(&self.shutdown, shutdown_timeout, c),
            client_concurrency: self.client.concurrency,
        }
    }
}

fn client_options(raw: &ClientConfig, c: &mut Checker) -> hub::ClientOptions {
    let ping_interval = match raw.ping_interval {
        d if d.is_negative() => None,
        d if d.is_zero() => Some(LIBRARY_PING_INTERVAL),
        d => d.to_std(),
    };
    // Without pings there is nothing to answer, so no pong is expected either.
    let pong_timeout = match raw.pong_timeout {
        _ if ping_interval.is_none() => None,
        d if d.is_negative() => None,
        d if d.is_zero() => Some(LIBRARY_PONG_TIMEOUT),
        d => d.to_std(),
    };
    if let (Some(ping), Some(pong)) = (ping_interval, pong_timeout)
        && pong >= ping
    {
        c.fail(
            "client.pong_timeout",
            format!(
                "must be less than client.ping_interval ({} >= {})",
                GoDuration::from_std(pong),
                GoDuration::from_std(ping)
            ),
        );
    }
    let defaults = hub::ClientOptions::default();
    let presence_update_interval = c.duration(
        "client.presence_update_interval",
        raw.presence_update_interval,
        Duration::from_secs(27),
    );
    hub::ClientOptions {
        insecure: raw.insecure,
        allow_anonymous_connect_without_token: raw.allow_anonymous_connect_without_token,
        disallow_anonymous_connection_tokens: raw.disallow_anonymous_connection_tokens,
        ping_interval,
        pong_timeout,
        stale_close_delay: c.duration(
            "client.stale_close_delay",
            raw.stale_close_delay,
            Duration::from_secs(10),
        ),
        expired_close_delay: c.duration(
            "client.expired_close_delay",
            raw.expired_close_delay,
            Duration::from_secs(25),
        ),
        expired_sub_close_delay: c.duration(
            "client.expired_sub_close_delay",
            raw.expired_sub_close_delay,
            Duration::from_secs(25),
        ),
        queue_max_size: or_default(raw.queue_max_size, defaults.queue_max_size),
        channel_limit: or_default(raw.channel_limit, defaults.channel_limit),
        user_connection_limit: raw.user_connection_limit,
        subscribe_to_user_personal_channel: hub::PersonalChannelOptions {
            enabled: raw.subscribe_to_user_personal_channel.enabled,
            single_connection: raw.subscribe_to_user_personal_channel.single_connection,
            personal_channel_namespace: raw
                .subscribe_to_user_personal_channel
                .personal_channel_namespace
                .clone(),
        },
        presence_update_interval,
        presence_ttl: MIN_PRESENCE_TTL.max(presence_update_interval * 2),
        // Centrifugo's library reads 0 as "no limit".
        history_max_publication_limit: or_default(raw.history_max_publication_limit, usize::MAX),
        recovery_max_publication_limit: or_default(raw.recovery_max_publication_limit, usize::MAX),
        connect_include_server_time: raw.connect_include_server_time,
        // Set by `proxies::attach`, once every proxy name can be resolved.
        connect_proxy: None,
        refresh_proxy: None,
        proxy_http_headers: Vec::new(),
        proxy_emulated_headers: Vec::new(),
        connection_limit: raw.connection_limit,
        connection_rate_limit: raw.connection_rate_limit,
        ip_connection_limit: raw.ip_connection_limit,
        ip_connection_rate_limit: raw.ip_connection_rate_limit,
        ip_header: super::limits::ip_header(&raw.ip_header, |key, message| c.fail(key, message)),
        command_rate_limits: raw
            .rate_limit
            .client_command
            .validate(|key, message| c.fail(key, message)),
        write_delay: c.non_negative("client.write_delay", raw.write_delay),
        max_messages_in_frame: max_messages_in_frame(raw.max_messages_in_frame, c),
        reply_without_queue: raw.reply_without_queue,
    }
}

/// `client.max_messages_in_frame`: `-1` and `0` (the default) mean no limit. Centrifugo
/// defaults to 16; Herald joins everything queued, as it always has, since the frames of a
/// batch leave in one write anyway and fewer frames cost the client less.
fn max_messages_in_frame(raw: i64, c: &mut Checker) -> Option<usize> {
    match raw {
        -1 | 0 => None,
        n => usize::try_from(n).map(Some).unwrap_or_else(|_| {
            c.fail(
                "client.max_messages_in_frame",
                format!("must be -1 or 0 (no limit, the default) or positive, got {n}"),
            );
            None
        }),
    }
}

fn channel_config(raw: &ChannelConfig, c: &mut Checker) -> hub::ChannelConfig {
    let mut history_meta_ttl = c.whole_seconds("channel.history_meta_ttl", raw.history_meta_ttl);
    if history_meta_ttl.is_zero() {
        history_meta_ttl = hub::ChannelConfig::default().history_meta_ttl;
    }
    let format = data_format(&raw.publication_data_format).unwrap_or_else(|e| {
        c.fail("channel.publication_data_format", e);
        hub::PublicationDataFormat::Any
    });
    let without_namespace = channel_options(
        &raw.without_namespace,
        "channel.without_namespace",
        history_meta_ttl,
        format,
        c,
    );
    let mut seen = HashSet::new();
    let mut namespaces = Vec::with_capacity(raw.namespaces.len());
    for (index, ns) in raw.namespaces.iter().enumerate() {
        let key = format!("channel.namespaces[{index}]");
        if !valid_namespace_name(&ns.name) {
            c.fail(
                format!("{key}.name"),
                format!(
                    "invalid namespace name {:?}: must match ^[-a-zA-Z0-9_.]{{2,}}$",
                    ns.name
                ),
            );
        } else if !seen.insert(ns.name.as_str()) {
            c.fail(
                format!("{key}.name"),
                format!("namespace name {:?} is not unique", ns.name),
            );
        }
        let options = channel_options(&ns.options, &key, history_meta_ttl, format, c);
        namespaces.push(hub::Namespace {
            name: ns.name.clone(),
            options,
        });
    }
    hub::ChannelConfig {
        without_namespace,
        namespaces,
        max_length: or_default(raw.max_length, 255),
        private_prefix: raw.private_prefix.clone(),
        namespace_boundary: raw.namespace_boundary.clone(),
        user_boundary: raw.user_boundary.clone(),
        user_separator: raw.user_separator.clone(),
        history_meta_ttl,
    }
}

fn channel_options(
    raw: &ChannelOptionsConfig,
    key: &str,
    global_meta_ttl: Duration,
    global_format: hub::PublicationDataFormat,
    c: &mut Checker,
) -> hub::ChannelOptions {
    let history_ttl = c.whole_seconds(&format!("{key}.history_ttl"), raw.history_ttl);
    let meta_ttl = c.whole_seconds(&format!("{key}.history_meta_ttl"), raw.history_meta_ttl);
    let history_meta_ttl = (!meta_ttl.is_zero()).then_some(meta_ttl);
    let has_history = raw.history_size > 0 && !history_ttl.is_zero();
    if (raw.history_size > 0) == history_ttl.is_zero() {
        c.fail(
            format!("{key}.history_size"),
            "history_size and history_ttl must be set together",
        );
    }
    let effective_meta = history_meta_ttl.unwrap_or(global_meta_ttl);
    if history_ttl > effective_meta {
        c.fail(
            format!("{key}.history_ttl"),
            format!(
                "history_ttl ({}) can not be greater than history_meta_ttl ({})",
                GoDuration::from_std(history_ttl),
                GoDuration::from_std(effective_meta)
            ),
        );
    }
    if raw.force_recovery && !has_history {
        c.fail(
            format!("{key}.force_recovery"),
            "recovery needs history_size and history_ttl",
        );
    }
    let channel_regex = if raw.channel_regex.is_empty() {
        None
    } else {
        Regex::new(&raw.channel_regex)
            .map_err(|e| {
                c.fail(
                    format!("{key}.channel_regex"),
                    format!("invalid regex: {e}"),
                )
            })
            .ok()
    };
    let publication_data_format = if raw.publication_data_format.is_empty() {
        global_format
    } else {
        data_format(&raw.publication_data_format).unwrap_or_else(|e| {
            c.fail(format!("{key}.publication_data_format"), e);
            global_format
        })
    };
    let subscription_type = subscription_type(&raw.subscription_type).unwrap_or_else(|e| {
        c.fail(format!("{key}.subscription_type"), e);
        hub::SubscriptionType::Stream
    });
    let allowed_delta_types = raw
        .allowed_delta_types
        .iter()
        .filter_map(|name| {
            let known = hub::DeltaType::from_name(name);
            if known.is_none() {
                c.fail(
                    format!("{key}.allowed_delta_types"),
                    format!("unknown delta type {name:?}: only \"fossil\" exists"),
                );
            }
            known
        })
        .collect();
    hub::ChannelOptions {
        presence: raw.presence,
        join_leave: raw.join_leave,
        force_push_join_leave: raw.force_push_join_leave,
        history_size: raw.history_size,
        history_ttl,
        history_meta_ttl,
        force_positioning: raw.force_positioning,
        allow_positioning: raw.allow_positioning,
        force_recovery: raw.force_recovery,
        allow_recovery: raw.allow_recovery,
        allow_subscribe_for_client: raw.allow_subscribe_for_client,
        allow_subscribe_for_anonymous: raw.allow_subscribe_for_anonymous,
        allow_publish_for_subscriber: raw.allow_publish_for_subscriber,
        allow_publish_for_client: raw.allow_publish_for_client,
        allow_publish_for_anonymous: raw.allow_publish_for_anonymous,
        allow_presence_for_subscriber: raw.allow_presence_for_subscriber,
        allow_presence_for_client: raw.allow_presence_for_client,
        allow_presence_for_anonymous: raw.allow_presence_for_anonymous,
        allow_history_for_subscriber: raw.allow_history_for_subscriber,
        allow_history_for_client: raw.allow_history_for_client,
        allow_history_for_anonymous: raw.allow_history_for_anonymous,
        allow_user_limited_channels: raw.allow_user_limited_channels,
        channel_regex,
        publication_data_format,
        subscription_type,
        allowed_delta_types,
        delta_publish: raw.delta_publish,
        // Set by `proxies::attach`, once every proxy name can be resolved.
        subscribe_proxy: None,
        publish_proxy: None,
        sub_refresh_proxy: None,
        subscribe_stream_proxy: None,
    }
}

fn check_personal_channel(
    personal: &hub::PersonalChannelOptions,
    channel: &hub::ChannelConfig,
    c: &mut Checker,
) {
    if !personal.enabled {
        return;
    }
    const KEY: &str = "client.subscribe_to_user_personal_channel";
    let ns = personal.personal_channel_namespace.as_str();
    let options = if ns.is_empty() {
        Some(&channel.without_namespace)
    } else {
        channel
            .namespaces
            .iter()
            .find(|n| n.name == ns)
            .map(|n| &n.options)
    };
    match options {
        None => c.fail(
            format!("{KEY}.personal_channel_namespace"),
            format!("namespace {ns:?} not found in channel.namespaces"),
        ),
        Some(options) if personal.single_connection && !options.presence => c.fail(
            format!("{KEY}.single_connection"),
            "needs presence enabled on the personal channel's namespace",
        ),
        Some(_) => {}
    }
}

/// 9999-12-31T23:59:59Z: the latest `hmac_previous_secret_key_valid_until` taken as seconds.
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

fn token_keys(raw: &TokenConfig, section: &'static str, c: &mut Checker) -> TokenKeys {
    let jwks_public_endpoint = jwks::endpoint(&raw.jwks_public_endpoint, section, c);
    let mut claim = |name: &str, exact: &str, pattern: &str| -> Option<ClaimMatch> {
        match (exact.is_empty(), pattern.is_empty()) {
            (true, true) => None,
            (false, true) => Some(ClaimMatch::Exact(exact.to_owned())),
            (true, false) => Regex::new(pattern)
                .map_err(|e| {
                    c.fail(
                        format!("{section}.{name}_regex"),
                        format!("invalid regex: {e}"),
                    )
                })
                .ok()
                .map(ClaimMatch::Regex),
            (false, false) => {
                c.fail(
                    format!("{section}.{name}_regex"),
                    format!("set either {section}.{name} or {section}.{name}_regex, not both"),
                );
                None
            }
        }
    };
    let audience = claim("audience", &raw.audience, &raw.audience_regex);
    let issuer = claim("issuer", &raw.issuer, &raw.issuer_regex);
    let user_id_claim = if raw.user_id_claim.is_empty() {
        None
    } else if raw
        .user_id_claim
        .chars()
        .all(|ch| ch.is_ascii_alphabetic() || ch == '_')
    {
        Some(raw.user_id_claim.clone())
    } else {
        c.fail(
            format!("{section}.user_id_claim"),
            format!(
                "invalid claim name {:?}: must match ^[a-zA-Z_]+$",
                raw.user_id_claim
            ),
        );
        None
    };
    let until = raw.hmac_previous_secret_key_valid_until;
    // Centrifugo reads any value <= 0 as "no limit", so a negative one (or milliseconds, which
    // put the end tens of thousands of years away) would keep an old secret valid forever
    // without anyone noticing: refused here instead.
    if !(0..=MAX_UNIX_SECONDS).contains(&until) {
        c.fail(
            format!("{section}.hmac_previous_secret_key_valid_until"),
            format!(
                "{until} is not a Unix time in seconds (0 for no limit, at most {MAX_UNIX_SECONDS}, the end of year 9999)"
            ),
        );
    }
    TokenKeys {
        section,
        hmac_secret_key: raw.hmac_secret_key.clone(),
        hmac_previous: (!raw.hmac_previous_secret_key.is_empty()).then(|| {
            (
                raw.hmac_previous_secret_key.clone(),
                (until > 0).then_some(until),
            )
        }),
        rsa_public_key: raw.rsa_public_key.clone(),
        ecdsa_public_key: raw.ecdsa_public_key.clone(),
        jwks_public_endpoint,
        audience,
        issuer,
        user_id_claim,
    }
}

fn data_format(raw: &str) -> Result<hub::PublicationDataFormat, String> {
    match raw {
        "" => Ok(hub::PublicationDataFormat::Any),
        "json" => Ok(hub::PublicationDataFormat::Json),
        "json_object" => Ok(hub::PublicationDataFormat::JsonObject),
        "binary" => Ok(hub::PublicationDataFormat::Binary),
        other => Err(format!(
            "unknown publication_data_format {other:?} (use \"\", json, json_object or binary)"
        )),
    }
}

/// Centrifugo's values (`internal/config/validate.go`); only streams are served, the others are
/// reported at start-up and refused on subscribe.
fn subscription_type(raw: &str) -> Result<hub::SubscriptionType, String> {
    match raw {
        "" | "stream" => Ok(hub::SubscriptionType::Stream),
        "map" => Ok(hub::SubscriptionType::Map),
        "map_clients" => Ok(hub::SubscriptionType::MapClients),
        "map_users" => Ok(hub::SubscriptionType::MapUsers),
        "shared_poll" => Ok(hub::SubscriptionType::SharedPoll),
        other => Err(format!(
            "unknown subscription_type {other:?} (use stream, map, map_clients, map_users or shared_poll)"
        )),
    }
}

fn valid_namespace_name(name: &str) -> bool {
    name.len() >= 2
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
}

/// `<section>.compression*`: permessage-deflate settings when `enabled`.
fn compression(
    c: &mut Checker,
    section: &str,
    enabled: bool,
    min_size: usize,
    level: i64,
) -> Option<CompressionSettings> {
    enabled.then(|| CompressionSettings {
        min_size,
        level: match level {
            // zlib's (and Go's flate) DefaultCompression.
            -1 => 6,
            level @ 0..=9 => level as u8,
            other => {
                c.fail(
                    format!("{section}.compression_level"),
                    format!("must be -1 or 0 to 9, got {other}"),
                );
                1
            }
        },
    })
}

fn or_default(value: usize, default: usize) -> usize {
    if value == 0 { default } else { value }
}

/// Centrifugo's default node name is `<hostname>_<port>`.
fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "?".to_owned())
}

/// Collects problems while conversion goes on with harmless stand-in values.
#[derive(Default)]
struct Checker {
    errors: Vec<ConfigError>,
}

impl Checker {
    fn fail(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::invalid(key, message));
    }

    fn finish<T>(mut self, value: T) -> Result<T, ConfigError> {
        match self.errors.len() {
            0 => Ok(value),
            1 => Err(self.errors.remove(0)),
            _ => Err(ConfigError::Multiple(self.errors)),
        }
    }

    /// A positive duration; zero means `default`.
    fn duration(&mut self, key: &str, value: GoDuration, default: Duration) -> Duration {
        match value.to_std() {
            Some(d) if d.is_zero() => default,
            Some(d) => d,
            None => {
                self.fail(key, format!("must not be negative, got {value}"));
                default
            }
        }
    }

    /// A duration of zero or more, taken as written.
    fn non_negative(&mut self, key: &str, value: GoDuration) -> Duration {
        value.to_std().unwrap_or_else(|| {
            self.fail(key, format!("must not be negative, got {value}"));
            Duration::ZERO
        })
    }

    /// Zero or more whole seconds (history TTLs are stored with second precision).
    fn whole_seconds(&mut self, key: &str, value: GoDuration) -> Duration {
        let d = self.non_negative(key, value);
        if d.subsec_nanos() != 0 {
            self.fail(
                key,
                format!("sub-second precision is not supported, got {value}"),
            );
        }
        d
    }

    /// A path prefix: `""` becomes `empty`, otherwise it must start with `/`; no trailing `/`.
    fn prefix(&mut self, key: &str, raw: &str, empty: &str) -> String {
        if !raw.is_empty() && !raw.starts_with('/') {
            self.fail(key, format!("must start with /, got {raw:?}"));
        }
        let trimmed = raw.trim_end_matches('/');
        if trimmed.is_empty() {
            empty.to_owned()
        } else {
            trimmed.to_owned()
        }
    }
}

mod grpc;
mod health;
mod http_tls;
mod jwks;
mod proxies;
mod redis_sentinel;
mod redis_tls;
mod transports;

#[cfg(test)]
mod tests;
