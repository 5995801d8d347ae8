//! Reading a configuration: file -> generic tree -> environment overrides -> raw structs, with
//! unknown keys collected rather than fatal (Centrifugo files carry options Herald lacks), and
//! every value of the wrong type found, not just the first.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::env;
use super::error::ConfigError;
use super::raw::{ChannelOptionsConfig, Config};
use super::unimplemented::{self, Unimplemented};

/// A loaded, not yet validated configuration. Not `Clone`: [`ConfigError`] may hold an I/O error.
#[derive(Debug)]
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
    /// Centrifugo features the file uses that Herald does not implement yet (map and shared
    /// poll subscriptions, subscribe stream proxies, ...), one entry per feature with where it
    /// is used. Their keys are not in `unknown_keys`: they are known, just not served.
    pub unimplemented: Vec<Unimplemented>,
    /// Values of the wrong type, and variables whose value could not be applied, one each,
    /// naming the key or variable; such a key keeps its default in `config`. [`load`] and
    /// [`load_str`] fail when there is any; [`load_all`] keeps them so that `herald checkconfig`
    /// can report them with every other problem.
    pub errors: Vec<ConfigError>,
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

    /// One line per unimplemented feature the file uses ([`Loaded::unimplemented`]): logged as
    /// warnings by `herald serve`, printed but not counted as problems by `herald checkconfig`.
    pub fn notes(&self) -> Vec<String> {
        self.unimplemented.iter().map(ToString::to_string).collect()
    }

    /// Fails with [`Loaded::errors`] if there is any.
    fn strict(mut self) -> Result<Self, ConfigError> {
        ConfigError::check(std::mem::take(&mut self.errors))?;
        Ok(self)
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
/// `env`, and reads the raw configuration. Every value of the wrong type is reported, each on
/// its own line of a [`ConfigError::Multiple`].
///
/// Without a file Herald runs the local development profile on `127.0.0.1` (see
/// [`super::HttpServerConfig::address`]).
pub fn load(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigError> {
    load_all(path, env)?.strict()
}

/// Like [`load`], but values of the wrong type are not fatal: they are listed in
/// [`Loaded::errors`] and their keys keep their defaults, so the rest can still be checked.
/// Fails only when there is nothing to check: the file is missing, unreadable or not a tree of
/// keys.
pub fn load_all(
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
    from_tree(tree, env)?.strict()
}

/// Starting point when there is no file: the local development profile. It listens on
/// 127.0.0.1 only, so it can be open: anonymous clients connect without a token, channels
/// without a namespace allow subscribe, publish, presence and history and keep a recoverable
/// history, every transport is on (HTTP-streaming, SSE and the unidirectional ones beside
/// WebSocket), and the HTTP API needs no key unless one is given in the environment (see
/// [`load`]).
/// `herald genconfig` writes a production starting point.
fn no_file_tree() -> Value {
    serde_json::json!({
        "http_server": {"address": "127.0.0.1"},
        "client": {"allow_anonymous_connect_without_token": true},
        "http_stream": {"enabled": true},
        "sse": {"enabled": true},
        "uni_websocket": {"enabled": true},
        "uni_sse": {"enabled": true},
        "uni_http_stream": {"enabled": true},
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
        Format::Yaml => serde_saphyr::from_str_with_options::<Value>(text, yaml_options())
            .map_err(|e| e.to_string())?,
        Format::Toml => toml::from_str::<Value>(text).map_err(|e| e.to_string())?,
    };
    match tree {
        Value::Object(_) => Ok(tree),
        // An empty YAML document.
        Value::Null => Ok(Value::Object(Map::new())),
        _ => Err("the top level must be an object of keys".to_owned()),
    }
}

/// YAML read as Go's yaml.v3 reads it into an untyped map, as Centrifugo does: plain `yes`,
/// `on`, `010` and `1_000` stay strings (YAML 1.2), merge keys (`<<`) are expanded, a repeated key
/// is an error. Errors are one line, like every other configuration problem.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        with_snippet: false,
    }
}

/// Reads `tree` into a [`Config`]. Deserialization stops at the first value of the wrong type,
/// so each one found is recorded and removed from the tree (its key falls back to the default)
/// and reading starts again, until the rest reads cleanly.
fn from_tree(
    mut tree: Value,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigError> {
    strip_nulls(&mut tree);
    let (unknown_env, mut errors) = env::apply_all(&mut tree, env);
    // Before any removal, which may drop a whole namespace list.
    let namespace_keys = unknown_namespace_keys(&tree);

    let (config, mut unknown_keys) = loop {
        let mut unknown_keys = Vec::new();
        let mut record = |path: serde_ignored::Path<'_>| unknown_keys.push(format_path(&path));
        let read: Result<Config, _> =
            serde_path_to_error::deserialize(serde_ignored::Deserializer::new(&tree, &mut record));
        match read {
            Ok(config) => break (config, unknown_keys),
            Err(err) => {
                let (error, steps) = located(&err);
                errors.push(error);
                // Each removal shrinks the tree, so this ends; a path that cannot be followed
                // (an enum variant) ends it too, with the problems found so far.
                if !steps.is_some_and(|steps| remove(&mut tree, &steps)) {
                    return Err(
                        ConfigError::combine(errors).expect("the error just found is in the list")
                    );
                }
            }
        }
    };
    unknown_keys.extend(namespace_keys);
    unknown_keys.sort();
    unknown_keys.dedup();
    let unimplemented = unimplemented::collect(&config, &mut unknown_keys);

    Ok(Loaded {
        config,
        source: None,
        unknown_keys,
        unknown_env,
        unimplemented,
        errors,
    })
}

/// One step of a path into the tree.
enum Step {
    Key(String),
    Index(usize),
}

/// The error of a value of the wrong type, named by its dotted key, and the path to that value
/// in the tree (`None` when it cannot be followed).
///
/// An error inside a namespace entry arrives as `channel.namespaces[0]` + `history_ttl: ...`
/// (see `NamespaceConfig`'s `Deserialize`); the two are joined into one key.
fn located(
    err: &serde_path_to_error::Error<serde_json::Error>,
) -> (ConfigError, Option<Vec<Step>>) {
    use serde_path_to_error::Segment;
    let path = err.path().to_string();
    let message = err.inner().to_string();
    let mut steps: Option<Vec<Step>> = err
        .path()
        .iter()
        .map(|segment| match segment {
            Segment::Map { key } => Some(Step::Key(key.clone())),
            Segment::Seq { index } => Some(Step::Index(*index)),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect();
    if path.ends_with(']')
        && let Some((key, rest)) = message.split_once(": ")
        && !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        if let Some(steps) = &mut steps {
            steps.push(Step::Key(key.to_owned()));
        }
        return (ConfigError::invalid(format!("{path}.{key}"), rest), steps);
    }
    (ConfigError::invalid(path, message), steps)
}

/// Removes the value at `steps` from `tree`. A wrong element of a list takes the whole list
/// with it, since removing one element would shift the positions of the next errors; returns
/// false when nothing could be removed.
fn remove(tree: &mut Value, steps: &[Step]) -> bool {
    let end = steps.iter().rposition(|step| matches!(step, Step::Key(_)));
    let Some(end) = end else { return false };
    let Step::Key(key) = &steps[end] else {
        return false;
    };
    let mut parent = &mut *tree;
    for step in &steps[..end] {
        let next = match step {
            Step::Key(key) => parent.get_mut(key.as_str()),
            Step::Index(index) => parent.get_mut(*index),
        };
        let Some(next) = next else { return false };
        parent = next;
    }
    parent
        .as_object_mut()
        .is_some_and(|map| map.remove(key).is_some())
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
    fn yaml_reads_as_go_yaml_v3() {
        // A merge key copies the first namespace; `no` stays a name, not `false`.
        let yaml = "channel:\n  namespaces:\n    - &chat\n      name: chat\n      presence: true\n\
                    \x20   - <<: *chat\n      name: no\n";
        let loaded = load_str(yaml, Format::Yaml, no_env()).expect("loads");
        let namespaces = &loaded.config.channel.namespaces;
        assert_eq!(namespaces[1].name, "no");
        assert!(namespaces[1].options.presence);
        assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);

        let yes = "client:\n  allow_anonymous_connect_without_token: yes\n";
        assert!(
            load_str(yes, Format::Yaml, no_env()).is_err(),
            "yes is not a boolean"
        );
        let twice = "http_server:\n  port: 9000\n  port: 9001\n";
        let err = load_str(twice, Format::Yaml, no_env()).expect_err("a repeated key");
        assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
        assert!(!err.to_string().contains('\n'), "one line: {err}");
    }

    #[test]
    fn unknown_keys_are_collected_with_paths() {
        let json = r#"{"client": {"tokne": {"hmac_secret_key": "k"}},
                       "engine": {"redis": {"address": "x", "adress": "y"}},
                       "channel": {"without_namespace": {"presnce": true},
                                   "namespaces": [{"name": "chat", "histroy_size": 5}]},
                       "admni": {"enabled": true}}"#;
        let loaded = load_str(json, Format::Json, no_env()).expect("loads");
        assert_eq!(
            loaded.unknown_keys,
            vec![
                "admni",
                "channel.namespaces[0].histroy_size",
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
    fn every_type_error_is_collected_and_the_rest_still_reads() {
        let tree = serde_json::json!({
            "client": {"ping_interval": 25, "concurrency": 4},
            "http_server": {"port": "eight thousand"},
            "channel": {"namespaces": [
                {"name": "chat", "presence": "yes"},
                {"name": "news", "history_ttl": 5, "histroy_size": 10}
            ]},
            "engine": {"redis": {"address": 7}}
        });
        let env = vec![
            ("HERALD_CLIENT_INSECURE".to_owned(), "maybe".to_owned()),
            ("HERALD_LOG_LEVEL".to_owned(), "debug".to_owned()),
        ];
        let loaded = from_tree(tree, env).expect("reads");
        let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
        let keys: Vec<&str> = errors
            .iter()
            .map(|e| e.split(':').next().unwrap_or_default())
            .collect();
        assert_eq!(
            keys,
            vec![
                "environment variable HERALD_CLIENT_INSECURE",
                "channel.namespaces[0].presence",
                "channel.namespaces[1].history_ttl",
                "client.ping_interval",
                "engine.redis.address",
                "http_server.port",
            ],
            "{errors:#?}"
        );
        assert_eq!(
            loaded.unknown_keys,
            vec!["channel.namespaces[1].histroy_size"]
        );
        // Wrong values fall back to their defaults; the others are read.
        let config = &loaded.config;
        assert_eq!(
            config.client.ping_interval,
            Config::default().client.ping_interval
        );
        assert_eq!(config.client.concurrency, 4);
        assert_eq!(config.http_server.port, 8000);
        assert_eq!(config.log.level, "debug");
        assert_eq!(config.channel.namespaces.len(), 2);
        assert!(!config.channel.namespaces[0].options.presence);

        // `load_str` fails with all of them, one per line.
        let text = r#"{"client": {"ping_interval": 25}, "http_server": {"port": -1}}"#;
        let err = load_str(text, Format::Json, no_env()).expect_err("two type errors");
        assert_eq!(err.problems().len(), 2, "{err}");
        let lines: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
        assert!(lines[0].starts_with("client.ping_interval: "), "{lines:?}");
        assert!(lines[1].starts_with("http_server.port: "), "{lines:?}");
    }

    #[test]
    fn a_wrong_list_element_drops_the_list_and_reading_goes_on() {
        let tree = serde_json::json!({
            "channel": {"namespaces": [{"name": "ok"}, 5, {"name": "x", "presence": 1}]},
            "client": {"allowed_origins": ["https://a", 7], "ping_interval": false}
        });
        let loaded = from_tree(tree, no_env()).expect("reads");
        let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "{errors:#?}");
        let starts = [
            "channel.namespaces[1]: ",
            "client.allowed_origins[1]: ",
            "client.ping_interval: ",
        ];
        for (error, start) in errors.iter().zip(starts) {
            assert!(error.starts_with(start), "{errors:#?}");
        }
        assert!(loaded.config.channel.namespaces.is_empty());
        assert!(loaded.config.client.allowed_origins.is_empty());
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
        assert!(open.config.http_stream.0.enabled && open.config.sse.0.enabled);
        assert!(open.config.uni_websocket.enabled && open.config.uni_sse.0.enabled);
        assert!(open.config.uni_http_stream.0.enabled);
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
