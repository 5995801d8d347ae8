//! The starting configuration written by `herald genconfig`.

use serde_json::{Value, json};

use super::load::Format;

/// A JSON configuration in Centrifugo v6 shape with fresh random secrets: a connection token
/// key, an API key, no allowed origins, and channels without namespace that keep presence,
/// join/leave and a recoverable 100-message / 300s history, open to authenticated users.
pub fn default_config_file() -> String {
    let mut text =
        serde_json::to_string_pretty(&default_config_value()).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// [`default_config_file`] in the given format (`herald genconfig -c config.yaml`).
pub fn default_config_file_in(format: Format) -> String {
    match format {
        Format::Json => default_config_file(),
        Format::Yaml => serde_saphyr::to_string(&default_config_value())
            .expect("a JSON object serializes to YAML"),
        Format::Toml => toml::to_string_pretty(&default_config_value())
            .expect("a JSON object serializes to TOML"),
    }
}

fn default_config_value() -> Value {
    json!({
        "client": {
            "token": {
                "hmac_secret_key": uuid::Uuid::new_v4().to_string()
            },
            "allowed_origins": []
        },
        "http_api": {
            "key": uuid::Uuid::new_v4().to_string()
        },
        "channel": {
            "without_namespace": {
                "presence": true,
                "join_leave": true,
                "history_size": 100,
                "history_ttl": "300s",
                "force_recovery": true,
                "allow_subscribe_for_client": true,
                "allow_publish_for_subscriber": true,
                "allow_presence_for_subscriber": true,
                "allow_history_for_subscriber": true
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Format, load_str};

    #[test]
    fn generated_config_is_clean_and_valid() {
        let text = default_config_file();
        let loaded = load_str(&text, Format::Json, Vec::new()).expect("loads");
        assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
        let validated = loaded.config.validate().expect("validates");
        assert!(validated.node.channel.without_namespace.history_enabled());
        assert_eq!(loaded.config.client.token.hmac_secret_key.len(), 36);
        assert_ne!(
            loaded.config.client.token.hmac_secret_key,
            loaded.config.http_api.key
        );
        assert_ne!(text, default_config_file(), "secrets are fresh each time");
    }

    #[test]
    fn yaml_and_toml_variants_are_valid_too() {
        for format in [Format::Yaml, Format::Toml] {
            let text = default_config_file_in(format);
            let loaded = load_str(&text, format, Vec::new()).expect("loads");
            assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
            let validated = loaded.config.validate().expect("validates");
            assert!(validated.node.channel.without_namespace.force_recovery);
        }
    }
}
