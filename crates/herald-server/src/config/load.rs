//! Reading a configuration: file -> generic tree -> environment overrides -> raw structs, with
//! unknown keys collected rather than fatal (Centrifugo files carry options Herald lacks).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::env;
use super::error::ConfigError;
use super::raw::{ChannelOptionsConfig, Config};

/// A loaded, not yet validated configuration.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The raw configuration.
    pub config: Config,
    /// The file it came from; `None` when Herald runs on defaults and environment only.
    pub source: Option<PathBuf>,
    /// Keys of the file (or of JSON given in the environment) that Herald does not know, as
    /// dotted paths such as `client.tokne.hmac_secret_key` or `channel.namespaces[0].presnce`.
    pub unknown_keys: Vec<String>,
    /// `HERALD_*` / `CENTRIFUGO_*` variables that match no key.
    pub unknown_env: Vec<String>,
}

impl Loaded {
    /// One human-readable line per unknown key or variable.
    pub fn warnings(&self) -> Vec<String> {
        let keys = self
            .unknown_keys
            .iter()
            .map(|key| format!("unknown configuration key {key} (ignored)"));
        let vars = self
            .unknown_env
            .iter()
            .map(|var| format!("unknown environment variable {var} (ignored)"));
        keys.chain(vars).collect()
    }
}

/// Supported file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.json`
    Json,
    /// `.yaml` / `.yml`
    Yaml,
    /// `.toml`
    Toml,
}

impl Format {
    /// The format for a file name, by extension (case-insensitive).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "json" => Some(Format::Json),
            "yaml" | "yml" => Some(Format::Yaml),
            "toml" => Some(Format::Toml),
            _ => None,
        }
    }
}

/// Loads the file at `path` (or nothing), applies `HERALD_*` / `CENTRIFUGO_*` overrides from
/// `env`, and reads the raw configuration.
///
/// Without a file Herald runs the local development profile on `127.0.0.1` (see
/// [`super::HttpServerConfig::address`]).
pub fn load(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigError> {
    let tree = match path {
        Some(path) => {
            let format = Format::from_path(path).ok_or_else(|| ConfigError::UnsupportedFormat {
                path: path.to_owned(),
            })?;
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            parse_tree(&text, format).map_err(|message| ConfigError::Parse {
                path: path.to_owned(),
                message,
            })?
        }
        None => no_file_tree(),
    };
    let mut loaded = from_tree(tree, env)?;
    loaded.source = path.map(Path::to_owned);
    if path.is_none() && loaded.config.http_api.key.is_empty() {
        // The development profile's API needs no key, unless the environment supplied one:
        // then the key is required, as it would be with a configuration file.
        loaded.config.http_api.insecure = true;
    }
    Ok(loaded)
}

/// The process environment for [`load`]. Unlike `std::env::vars`, it does not panic on a
/// variable that is not UTF-8: such variables are skipped (none of Herald's can be one).
pub fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
}

/// Like [`load`] for configuration text already in memory.
pub fn load_str(
    text: &str,
    format: Format,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigError> {
    let tree = parse_tree(text, format).map_err(|message| ConfigError::Parse {
        path: PathBuf::from("<text>"),
        message,
    })?;
    from_tree(tree, env)
}

/// Starting point when there is no file: the local development profile. It listens on
/// 127.0.0.1 only, so it can be open: anonymous clients connect without a token, channels
/// without a namespace allow subscribe, publish, presence and history and keep a recoverable
/// history, and the HTTP API needs no key unless one is given in the environment (see [`load`]).
/// `herald genconfig` writes a production starting point.
fn no_file_tree() -> Value {
    serde_json::json!({
        "http_server": {"address": "127.0.0.1"},
        "client": {"allow_anonymous_connect_without_token": true},
        "channel": {"without_namespace": {
            "allow_subscribe_for_client": true,
            "allow_subscribe_for_anonymous": true,
            "allow_publish_for_subscriber": true,
            "allow_publish_for_anonymous": true,
            "allow_presence_for_subscriber": true,
            "allow_presence_for_anonymous": true,
            "allow_history_for_subscriber": true,
            "allow_history_for_anonymous": true,
            "presence": true,
            "join_leave": true,
            "history_size": 100,
            "history_ttl": "300s",
            "force_recovery": true
        }}
    })
}

fn parse_tree(text: &str, format: Format) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let tree = match format {
        Format::Json => serde_json::from_str::<Value>(text).map_err(|e| e.to_string())?,
        Format::Yaml => serde_yaml_ng::from_str::<Value>(text).map_err(|e| e.to_string())?,
        Format::Toml => toml::from_str::<Value>(text).map_err(|e| e.to_string())?,
    };
    match tree {
        Value::Object(_) => Ok(tree),
        // An empty YAML document.
        Value::Null => Ok(Value::Object(Map::new())),
        _ => Err("the top level must be an object of keys".to_owned()),
    }
}

fn from_tree(
    mut tree: Value,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigError> {
    strip_nulls(&mut tree);
    let unknown_env = env::apply(&mut tree, env)?;

    let mut unknown_keys = Vec::new();
    let mut record = |path: serde_ignored::Path<'_>| unknown_keys.push(format_path(&path));
    let config: Config =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(&tree, &mut record))
            .map_err(|err| located(err.path().to_string(), err.inner().to_string()))?;
    unknown_keys.extend(unknown_namespace_keys(&tree));
    unknown_keys.sort();
    unknown_keys.dedup();

    Ok(Loaded {
        config,
        source: None,
        unknown_keys,
        unknown_env,
    })
}

/// An error inside a namespace entry arrives as `channel.namespaces[0]` + `history_ttl: ...`
/// (see `NamespaceConfig`'s `Deserialize`); join them into one key.
fn located(path: String, message: String) -> ConfigError {
    if path.ends_with(']')
        && let Some((key, rest)) = message.split_once(": ")
        && !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        return ConfigError::invalid(format!("{path}.{key}"), rest);
    }
    ConfigError::invalid(path, message)
}

/// A key with no value (`allowed_origins:` in YAML, `null` in JSON) means "default", as Go's
/// decoder reads it.
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Namespace options are flattened beside `name`, which hides their unknown keys from
/// `serde_ignored`; they are checked here against the option names.
fn unknown_namespace_keys(tree: &Value) -> Vec<String> {
    let known =
        serde_json::to_value(ChannelOptionsConfig::default()).expect("default options serialize");
    let Some(namespaces) = tree
        .get("channel")
        .and_then(|c| c.get("namespaces"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let mut unknown = Vec::new();
    for (index, ns) in namespaces.iter().enumerate() {
        let Some(ns) = ns.as_object() else { continue };
        for key in ns.keys() {
            if key != "name" && known.get(key).is_none() {
                unknown.push(format!("channel.namespaces[{index}].{key}"));
            }
        }
    }
    unknown
}

/// `a.b[0].c`, the same shape `serde_path_to_error` uses in error messages.
fn format_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", format_path(parent)),
        Path::Map { parent, key } => {
            let parent = format_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => format_path(parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GoDuration;

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn json_yaml_toml_read_the_same() {
        let json = r#"{"client": {"token": {"hmac_secret_key": "k"}, "ping_interval": "10s"},
                       "channel": {"namespaces": [{"name": "chat", "presence": true}]}}"#;
        let yaml = "client:\n  token:\n    hmac_secret_key: k\n  ping_interval: 10s\n\
                    channel:\n  namespaces:\n    - name: chat\n      presence: true\n";
        let toml = "[client]\nping_interval = \"10s\"\n[client.token]\nhmac_secret_key = \"k\"\n\
                    [[channel.namespaces]]\nname = \"chat\"\npresence = true\n";
        let a = load_str(json, Format::Json, no_env()).expect("json").config;
        let b = load_str(yaml, Format::Yaml, no_env()).expect("yaml").config;
        let c = load_str(toml, Format::Toml, no_env()).expect("toml").config;
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.client.token.hmac_secret_key, "k");
        assert_eq!(a.client.ping_interval, GoDuration::from_secs(10));
        assert!(a.channel.namespaces[0].options.presence);
        assert_eq!(a.http_server.port, 8000);
    }

    #[test]
    fn unknown_keys_are_collected_with_paths() {
        let json = r#"{"client": {"tokne": {"hmac_secret_key": "k"}},
                       "engine": {"redis": {"address": "x", "adress": "y"}},
                       "channel": {"without_namespace": {"presnce": true},
                                   "namespaces": [{"name": "chat", "allowed_delta_types": []}]},
                       "admin": {"enabled": true}}"#;
        let loaded = load_str(json, Format::Json, no_env()).expect("loads");
        assert_eq!(
            loaded.unknown_keys,
            vec![
                "admin",
                "channel.namespaces[0].allowed_delta_types",
                "channel.without_namespace.presnce",
                "client.tokne",
                "engine.redis.adress",
            ]
        );
    }

    #[test]
    fn type_errors_name_the_key() {
        let err = load_str(
            r#"{"client": {"ping_interval": 25}}"#,
            Format::Json,
            no_env(),
        )
        .expect_err("bare number");
        assert!(
            err.to_string().starts_with("client.ping_interval: "),
            "{err}"
        );
        let err = load_str(
            r#"{"channel": {"without_namespace": {"presence": "yes"}}}"#,
            Format::Json,
            no_env(),
        )
        .expect_err("bad bool");
        assert!(
            err.to_string()
                .starts_with("channel.without_namespace.presence: "),
            "{err}"
        );
        let err = load_str(
            r#"{"http_server": {"port": 70000}}"#,
            Format::Json,
            no_env(),
        )
        .expect_err("bad port");
        assert!(err.to_string().starts_with("http_server.port: "), "{err}");
    }

    #[test]
    fn no_file_defaults_to_localhost_and_env_applies() {
        let loaded = load(
            None,
            vec![("HERALD_CLIENT_INSECURE".to_owned(), "true".to_owned())],
        )
        .expect("loads");
        assert_eq!(loaded.config.http_server.address, "127.0.0.1");
        assert!(loaded.config.client.insecure);
        assert!(loaded.source.is_none());
        let file = load_str("{}", Format::Json, no_env()).expect("loads");
        assert_eq!(file.config.http_server.address, "");
    }

    #[test]
    fn development_profile_api_needs_a_key_only_when_one_is_given() {
        let open = load(None, no_env()).expect("loads");
        assert!(open.config.http_api.insecure);
        assert!(open.config.client.allow_anonymous_connect_without_token);
        let keyed = load(
            None,
            vec![("HERALD_HTTP_API_KEY".to_owned(), "k".to_owned())],
        )
        .expect("loads");
        assert!(!keyed.config.http_api.insecure);
        let file = load_str("{}", Format::Json, no_env()).expect("loads");
        assert!(
            !file.config.http_api.insecure,
            "a file gets Centrifugo's defaults"
        );
    }

    #[test]
    fn file_errors() {
        let err = load(Some(Path::new("config.ini")), no_env()).expect_err("ini");
        assert!(matches!(err, ConfigError::UnsupportedFormat { .. }));
        let err = load(Some(Path::new("/nonexistent/herald.json")), no_env()).expect_err("gone");
        assert!(matches!(err, ConfigError::Read { .. }));
        let err = load_str("[1, 2]", Format::Json, no_env()).expect_err("array");
        assert!(matches!(err, ConfigError::Parse { .. }));
        let err = load_str("{", Format::Json, no_env()).expect_err("broken");
        assert!(matches!(err, ConfigError::Parse { .. }));
        assert!(load_str("", Format::Yaml, no_env()).is_ok());
    }

    #[test]
    fn empty_values_mean_default() {
        let yaml = "client:\n  allowed_origins:\n  ping_interval:\nchannel:\n  namespaces:\n";
        let loaded = load_str(yaml, Format::Yaml, no_env()).expect("loads");
        assert_eq!(loaded.config, Config::default());
        assert!(loaded.unknown_keys.is_empty());
    }

    #[test]
    fn reads_a_file_from_disk() {
        let dir = std::env::temp_dir().join(format!("herald-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("config.yaml");
        std::fs::write(&path, "http_server:\n  port: 9000\n").expect("write");
        let loaded = load(Some(&path), no_env()).expect("loads");
        assert_eq!(loaded.config.http_server.port, 9000);
        assert_eq!(loaded.source.as_deref(), Some(path.as_path()));
        std::fs::remove_dir_all(&dir).ok();
    }
}
