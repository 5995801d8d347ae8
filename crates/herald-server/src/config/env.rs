//! Environment overrides: `HERALD_<PATH>` and `CENTRIFUGO_<PATH>`, where PATH is the key path
//! upper-cased and joined with `_` (`client.token.hmac_secret_key` is
//! `HERALD_CLIENT_TOKEN_HMAC_SECRET_KEY`).
//!
//! Key names contain `_` themselves, so a variable name cannot be split blindly: it is looked up
//! among the names of every known leaf key, derived from the serialized default [`Config`] so the
//! list never drifts from the structs. Values are converted by the type of the default at that
//! key. As in Centrifugo, options of an existing namespace can be set with
//! `HERALD_CHANNEL_NAMESPACES_<NAME>_<OPTION>` (NAME upper-cased, `-` and `.` written as `_`).
//!
//! `CENTRIFUGO_` variables are applied first and `HERALD_` ones after, so `HERALD_` wins.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::error::ConfigError;
use super::raw::{ChannelOptionsConfig, Config};

/// Prefixes in the order they are applied: the later one wins.
const PREFIXES: [&str; 2] = ["CENTRIFUGO_", "HERALD_"];

const NAMESPACES_PREFIX: &str = "CHANNEL_NAMESPACES_";

/// Variables Kubernetes injects for a Service named like the prefix (`HERALD_PORT`,
/// `CENTRIFUGO_SERVICE_HOST`, ...) and `*_VAR_*` placeholders are not configuration: they are
/// never reported as unknown.
static NOT_CONFIG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:CENTRIFUGO|HERALD)(?:_VAR_|(?:_[A-Z0-9_]+)?_(?:PORT|SERVICE_))")
        .expect("static regex is valid")
});

/// Applies the overrides found in `env` to `tree`; returns the prefixed variables that match no
/// key. Fails on the first value that cannot be applied.
#[cfg(test)]
pub(super) fn apply(
    tree: &mut Value,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<String>, ConfigError> {
    let (unknown, errors) = apply_all(tree, env);
    ConfigError::check(errors).map(|()| unknown)
}

/// Applies every override found in `env` to `tree` that can be applied; returns the prefixed
/// variables that match no key and, one each, the variables whose value could not be applied.
pub(super) fn apply_all(
    tree: &mut Value,
    env: impl IntoIterator<Item = (String, String)>,
) -> (Vec<String>, Vec<ConfigError>) {
    let mut vars: Vec<(usize, String, String, String)> = env
        .into_iter()
        .filter_map(|(name, value)| {
            let (rank, prefix) = PREFIXES
                .iter()
                .enumerate()
                .find(|(_, p)| name.starts_with(*p))?;
            let rest = name[prefix.len()..].to_ascii_uppercase();
            Some((rank, name, rest, value))
        })
        .collect();
    vars.sort();

    let leaves = known_leaves(&default_tree());
    let mut errors = Vec::new();
    let mut set = |tree: &mut Value, name: &str, path: &[String], default: &Value, value: &str| {
        let applied = convert(name, path, default, value).and_then(|converted| {
            set_path(tree, path, converted).map_err(|message| env_error(name, message))
        });
        if let Err(err) = applied {
            errors.push(err);
        }
    };
    let mut later = Vec::new();
    for (rank, name, rest, value) in vars {
        match leaves.get(&rest) {
            Some((path, default)) => set(tree, &name, path, default, &value),
            None => later.push((rank, name, rest, value)),
        }
    }

    // Namespace options go second so that a whole `CHANNEL_NAMESPACES` list is in place first.
    let options = known_leaves(&option_defaults());
    let mut unknown = Vec::new();
    for (_, name, rest, value) in later {
        match namespace_target(tree, &rest, &options) {
            Some((path, default)) => set(tree, &name, &path, default, &value),
            None if NOT_CONFIG.is_match(&name) => {}
            None => unknown.push(name),
        }
    }
    (unknown, errors)
}

/// Dotted path of a leaf and its default value, by environment name (`CLIENT_TOKEN_...`).
type Leaves = HashMap<String, (Vec<String>, Value)>;

fn default_tree() -> Value {
    serde_json::to_value(Config::default()).expect("the default config serializes")
}

fn option_defaults() -> Value {
    serde_json::to_value(ChannelOptionsConfig::default()).expect("default options serialize")
}

/// Every non-object value of `tree` (arrays included) by its environment name.
pub(super) fn known_leaves(tree: &Value) -> Leaves {
    fn walk(value: &Value, path: &mut Vec<String>, out: &mut Leaves) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, child) in map {
                    path.push(key.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            leaf => {
                out.insert(env_name(path), (path.clone(), leaf.clone()));
            }
        }
    }
    let mut out = HashMap::new();
    walk(tree, &mut Vec::new(), &mut out);
    out
}

fn env_name(path: &[String]) -> String {
    path.join("_").replace(['.', '-'], "_").to_ascii_uppercase()
}

/// `CHANNEL_NAMESPACES_<NAME>_<OPTION>` for a namespace present in `tree`.
fn namespace_target<'a>(
    tree: &Value,
    rest: &str,
    options: &'a Leaves,
) -> Option<(Vec<String>, &'a Value)> {
    let tail = rest.strip_prefix(NAMESPACES_PREFIX)?;
    let namespaces = tree.get("channel")?.get("namespaces")?.as_array()?;
    namespaces.iter().enumerate().find_map(|(index, ns)| {
        let name = ns.get("name")?.as_str()?;
        let option = tail
            .strip_prefix(&env_name(&[name.to_owned()]))?
            .strip_prefix('_')?;
        let (option_path, default) = options.get(option)?;
        let mut path = vec![
            "channel".to_owned(),
            "namespaces".to_owned(),
            index.to_string(),
        ];
        path.extend(option_path.iter().cloned());
        Some((path, default))
    })
}

/// Reads `raw` as the type of `default`.
fn convert(var: &str, path: &[String], default: &Value, raw: &str) -> Result<Value, ConfigError> {
    match default {
        Value::Bool(_) => parse_bool(raw)
            .map(Value::Bool)
            .ok_or_else(|| env_error(var, format!("expected true or false, got {raw:?}"))),
        Value::Number(n) if n.is_f64() => raw
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| env_error(var, format!("expected a number, got {raw:?}"))),
        Value::Number(_) => {
            let text = raw.trim();
            if let Ok(n) = text.parse::<i64>() {
                Ok(Value::from(n))
            } else {
                text.parse::<u64>()
                    .map(Value::from)
                    .map_err(|_| env_error(var, format!("expected an integer, got {raw:?}")))
            }
        }
        Value::String(_) => Ok(Value::String(raw.to_owned())),
        Value::Array(_) => {
            let list = if raw.trim_start().starts_with('[') {
                match serde_json::from_str::<Value>(raw) {
                    Ok(list @ Value::Array(_)) => list,
                    _ => return Err(env_error(var, "expected a JSON array")),
                }
            } else {
                // Centrifugo separates list items with spaces; commas are accepted too, except
                // in `sentinel_address`, where they join the sentinels of one shard.
                let commas = path.last().is_none_or(|key| key != "sentinel_address");
                let items = raw
                    .split(|c: char| c.is_whitespace() || (commas && c == ','))
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()));
                Value::Array(items.collect())
            };
            if path == ["channel", "namespaces"] {
                Ok(names_to_namespaces(list))
            } else {
                Ok(list)
            }
        }
        Value::Object(_) | Value::Null => match serde_json::from_str::<Value>(raw) {
            Ok(value @ Value::Object(_)) => Ok(value),
            _ => Err(env_error(var, "expected a JSON object")),
        },
    }
}

/// `HERALD_CHANNEL_NAMESPACES="chat news"` declares namespaces by name only, as in Centrifugo.
fn names_to_namespaces(list: Value) -> Value {
    match list {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| match item {
                    Value::String(name) => {
                        let mut ns = Map::new();
                        ns.insert("name".to_owned(), Value::String(name));
                        Value::Object(ns)
                    }
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Writes `value` at `path`, creating objects on the way; array steps are indexes.
fn set_path(tree: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        *tree = value;
        return Ok(());
    };
    let mut node = tree;
    let mut walked = Vec::new();
    for step in parents {
        walked.push(step.as_str());
        node = match node {
            Value::Array(items) => step
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get_mut(i))
                .ok_or_else(|| format!("{} does not exist", walked.join(".")))?,
            Value::Object(map) => map
                .entry(step.clone())
                .or_insert_with(|| Value::Object(Map::new())),
            _ => {
                return Err(format!(
                    "{} in the config is not an object",
                    walked.join(".")
                ));
            }
        };
        if node.is_null() {
            *node = Value::Object(Map::new());
        }
    }
    match node {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        _ => Err(format!(
            "{} in the config is not an object",
            walked.join(".")
        )),
    }
}

fn env_error(var: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Env {
        var: var.to_owned(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn leaf_names_are_unambiguous() {
        let tree = default_tree();
        let mut count = 0;
        fn count_leaves(v: &Value, n: &mut usize) {
            match v {
                Value::Object(m) if !m.is_empty() => m.values().for_each(|c| count_leaves(c, n)),
                _ => *n += 1,
            }
        }
        count_leaves(&tree, &mut count);
        assert_eq!(
            known_leaves(&tree).len(),
            count,
            "two keys share an env name"
        );
        assert!(known_leaves(&tree).contains_key("CLIENT_TOKEN_HMAC_SECRET_KEY"));
        assert!(known_leaves(&tree).contains_key("CHANNEL_WITHOUT_NAMESPACE_PRESENCE"));
    }

    #[test]
    fn sentinel_addresses_keep_their_commas() {
        let mut tree = json!({});
        let unknown = apply(
            &mut tree,
            env(&[("HERALD_ENGINE_REDIS_SENTINEL_ADDRESS", "a:1,b:2 c:3")]),
        )
        .expect("applies");
        assert!(unknown.is_empty(), "{unknown:?}");
        assert_eq!(
            tree,
            json!({"engine": {"redis": {"sentinel_address": ["a:1,b:2", "c:3"]}}})
        );
    }

    #[test]
    fn converts_by_default_type() {
        let mut tree = json!({});
        let unknown = apply(
            &mut tree,
            env(&[
                ("HERALD_CLIENT_TOKEN_HMAC_SECRET_KEY", "secret"),
                ("HERALD_CHANNEL_WITHOUT_NAMESPACE_PRESENCE", "true"),
                ("HERALD_CLIENT_CONCURRENCY", "8"),
                ("HERALD_HTTP_API_KEY", "x"),
                (
                    "HERALD_CLIENT_ALLOWED_ORIGINS",
                    "https://a.com, https://b.com",
                ),
                ("HERALD_CLIENT_PING_INTERVAL", "-1"),
                ("PATH", "/usr/bin"),
            ]),
        )
        .expect("applies");
        assert!(unknown.is_empty(), "{unknown:?}");
        assert_eq!(
            tree,
            json!({
                "client": {
                    "token": {"hmac_secret_key": "secret"},
                    "concurrency": 8,
                    "allowed_origins": ["https://a.com", "https://b.com"],
                    "ping_interval": "-1"
                },
                "channel": {"without_namespace": {"presence": true}},
                "http_api": {"key": "x"}
            })
        );
    }

    #[test]
    fn herald_prefix_wins_over_centrifugo() {
        let mut tree = json!({"http_api": {"key": "file"}});
        apply(
            &mut tree,
            env(&[
                ("HERALD_HTTP_API_KEY", "herald"),
                ("CENTRIFUGO_HTTP_API_KEY", "centrifugo"),
            ]),
        )
        .expect("applies");
        assert_eq!(tree["http_api"]["key"], "herald");
    }

    #[test]
    fn namespaces_as_json_names_and_per_namespace_options() {
        let mut tree = json!({});
        apply(
            &mut tree,
            env(&[
                (
                    "HERALD_CHANNEL_NAMESPACES",
                    r#"[{"name":"chat-room","presence":false}]"#,
                ),
                ("CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_ROOM_PRESENCE", "1"),
                ("CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_ROOM_HISTORY_SIZE", "10"),
            ]),
        )
        .expect("applies");
        assert_eq!(
            tree["channel"]["namespaces"],
            json!([{"name": "chat-room", "presence": true, "history_size": 10}])
        );

        let mut tree = json!({});
        apply(&mut tree, env(&[("CENTRIFUGO_CHANNEL_NAMESPACES", "a b")])).expect("applies");
        assert_eq!(
            tree["channel"]["namespaces"],
            json!([{"name": "a"}, {"name": "b"}])
        );
    }

    #[test]
    fn unknown_and_bad_values() {
        let mut tree = json!({});
        let unknown = apply(
            &mut tree,
            env(&[
                ("HERALD_CLIENT_TOKNE_HMAC_SECRET_KEY", "x"),
                ("HERALD_PORT", "tcp://10.0.0.1:8000"),
                ("CENTRIFUGO_SERVICE_HOST", "10.0.0.1"),
                ("CENTRIFUGO_VAR_SECRET", "x"),
            ]),
        )
        .expect("applies");
        assert_eq!(unknown, vec!["HERALD_CLIENT_TOKNE_HMAC_SECRET_KEY"]);

        let err =
            apply(&mut json!({}), env(&[("HERALD_CLIENT_INSECURE", "yes")])).expect_err("bad bool");
        assert!(err.to_string().contains("HERALD_CLIENT_INSECURE"), "{err}");
        let err = apply(
            &mut json!({}),
            env(&[("HERALD_CLIENT_CONCURRENCY", "many")]),
        )
        .expect_err("bad int");
        assert!(
            err.to_string().contains("HERALD_CLIENT_CONCURRENCY"),
            "{err}"
        );
        let err = apply(
            &mut json!({"client": 5}),
            env(&[("HERALD_CLIENT_INSECURE", "1")]),
        )
        .expect_err("not an object");
        assert!(err.to_string().contains("not an object"), "{err}");
    }
}
