//! The admin web UI as written (`admin.*`, Centrifugo v6's keys) and as validated.
//!
//! Off by default. On, it is served by the main HTTP server under `admin.handler_prefix`: the
//! page at `{prefix}/`, its API under `{prefix}/admin/`. Logging in with `admin.password`
//! gives a token signed with `admin.secret` (HMAC-SHA256) that expires after
//! [`crate::admin::TOKEN_TTL`]; `admin.insecure` turns the login off (for a UI behind an
//! authenticating proxy, as in Centrifugo).

use serde::{Deserialize, Serialize};

/// `admin.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdminConfig {
    /// Serve the admin web UI. Default false.
    pub enabled: bool,
    /// The password to log in with. Required with `enabled` unless `insecure`. Default `""`.
    pub password: String,
    /// The key admin tokens are signed with (HMAC-SHA256). Required with `enabled` unless
    /// `insecure`. Default `""`.
    pub secret: String,
    /// No login: every request to the admin endpoints is allowed. Only behind something that
    /// authenticates. Default false.
    pub insecure: bool,
    /// Path prefix of the UI and its endpoints; `""` (default) serves the page at `/`. Must
    /// start with `/` when set.
    pub handler_prefix: String,
}

/// `admin.*`, validated.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct AdminSettings {
    /// Serve the UI.
    pub enabled: bool,
    /// Login password.
    pub password: String,
    /// Token signing key.
    pub secret: String,
    /// No login.
    pub insecure: bool,
    /// Path prefix without a trailing `/` (`""` for the root).
    pub handler_prefix: String,
}

impl std::fmt::Debug for AdminSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password and the secret stay out of logs.
        f.debug_struct("AdminSettings")
            .field("enabled", &self.enabled)
            .field("insecure", &self.insecure)
            .field("handler_prefix", &self.handler_prefix)
            .finish_non_exhaustive()
    }
}

impl AdminConfig {
    /// Checks the section; each problem is reported through `fail` with its key.
    pub(super) fn settings(&self, fail: &mut dyn FnMut(&str, String)) -> AdminSettings {
        if !self.enabled {
            return AdminSettings::default();
        }
        if !self.insecure {
            if self.password.is_empty() {
                fail(
                    "admin.password",
                    "required when admin.enabled is true (unless admin.insecure)".into(),
                );
            }
            if self.secret.is_empty() {
                fail(
                    "admin.secret",
                    "required when admin.enabled is true (unless admin.insecure)".into(),
                );
            }
        }
        let prefix = &self.handler_prefix;
        if !prefix.is_empty() && !prefix.starts_with('/') {
            fail(
                "admin.handler_prefix",
                format!("must start with /, got {prefix:?}"),
            );
        }
        AdminSettings {
            enabled: true,
            password: self.password.clone(),
            secret: self.secret.clone(),
            insecure: self.insecure,
            handler_prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(config: &AdminConfig) -> Vec<String> {
        let mut out = Vec::new();
        config.settings(&mut |key, message| out.push(format!("{key}: {message}")));
        out
    }

    #[test]
    fn enabled_needs_a_password_and_a_secret_unless_insecure() {
        let on = AdminConfig {
            enabled: true,
            ..Default::default()
        };
        let found = problems(&on);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("admin.password"));
        assert!(found[1].starts_with("admin.secret"));
        let insecure = AdminConfig {
            insecure: true,
            ..on.clone()
        };
        assert!(problems(&insecure).is_empty());
        assert!(problems(&AdminConfig::default()).is_empty());
    }

    #[test]
    fn the_prefix_must_start_with_a_slash_and_loses_its_trailing_one() {
        let config = AdminConfig {
            enabled: true,
            insecure: true,
            handler_prefix: "ui".into(),
            ..Default::default()
        };
        assert!(problems(&config)[0].starts_with("admin.handler_prefix"));
        let config = AdminConfig {
            handler_prefix: "/ui/".into(),
            ..config
        };
        let mut none = |_: &str, _: String| panic!("no problem expected");
        assert_eq!(config.settings(&mut none).handler_prefix, "/ui");
    }
}
