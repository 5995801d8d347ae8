//! Channel names: which namespace a channel belongs to, whether it is private or user-limited,
//! and whether the name is acceptable at all (Centrifugo's rules, `docs/protocol.md` §4.1).

use std::collections::HashMap;

use crate::{ChannelConfig, ChannelOptions, HubError};

/// Channel naming rules with namespaces indexed by name, built once at start-up.
#[derive(Debug, Clone)]
pub(crate) struct ChannelRules {
    config: ChannelConfig,
    namespaces: HashMap<String, usize>,
}

/// What a channel name says about the channel.
#[derive(Debug)]
pub(crate) struct ResolvedChannel<'a> {
    /// Options of the channel's namespace.
    pub options: &'a ChannelOptions,
    /// Starts with the private prefix (`$`): needs a subscription token.
    pub private: bool,
    /// Users allowed by a `#` user-limited channel name (empty when the name has no `#`).
    pub allowed_users: Vec<&'a str>,
    /// The name has a user boundary (`#`).
    pub user_limited: bool,
}

impl ChannelRules {
    pub(crate) fn new(config: ChannelConfig) -> Self {
        let namespaces = config
            .namespaces
            .iter()
            .enumerate()
            .map(|(index, ns)| (ns.name.clone(), index))
            .collect();
        Self { config, namespaces }
    }

    /// Resolves `channel`. Unknown namespace: 102; too long, non-ASCII without a regex, or not
    /// matching the namespace's regex: 107. The caller handles the empty name (its code differs
    /// between client commands and the API).
    pub(crate) fn resolve<'a>(&'a self, channel: &'a str) -> Result<ResolvedChannel<'a>, HubError> {
        if channel.len() > self.config.max_length {
            return Err(HubError::BadRequest);
        }
        // Reserved for the cluster-wide user connection count (`session/user_limit.rs`) and
        // for other protocol families' channels (`verbatim.rs`).
        if channel.starts_with(crate::session::USER_CONNECTIONS_PREFIX)
            || channel.starts_with(crate::VERBATIM_PREFIX)
        {
            return Err(HubError::UnknownChannel);
        }
        let private = !self.config.private_prefix.is_empty()
            && channel.starts_with(self.config.private_prefix.as_str());
        let unprefixed = if private {
            &channel[self.config.private_prefix.len()..]
        } else {
            channel
        };
        let (options, rest) = match unprefixed.split_once(self.config.namespace_boundary.as_str()) {
            Some((name, rest)) if !self.config.namespace_boundary.is_empty() => {
                let index = *self.namespaces.get(name).ok_or(HubError::UnknownChannel)?;
                (&self.config.namespaces[index].options, rest)
            }
            _ => (&self.config.without_namespace, unprefixed),
        };
        match &options.channel_regex {
            Some(regex) if !regex.is_match(rest) => return Err(HubError::BadRequest),
            None if !channel.is_ascii() => return Err(HubError::BadRequest),
            _ => {}
        }
        let boundary = self.config.user_boundary.as_str();
        let (user_limited, allowed_users) = match channel.rsplit_once(boundary) {
            Some((_, users)) if !boundary.is_empty() => (
                true,
                users.split(self.config.user_separator.as_str()).collect(),
            ),
            _ => (false, Vec::new()),
        };
        Ok(ResolvedChannel {
            options,
            private,
            allowed_users,
            user_limited,
        })
    }

    /// The personal channel of `user` (`ns:#user`, or `#user` without a namespace).
    pub(crate) fn personal_channel(&self, namespace: &str, user: &str) -> String {
        if namespace.is_empty() {
            format!("{}{user}", self.config.user_boundary)
        } else {
            format!(
                "{namespace}{}{}{user}",
                self.config.namespace_boundary, self.config.user_boundary
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Namespace;

    fn rules() -> ChannelRules {
        let mut config = ChannelConfig::default();
        config.namespaces.push(Namespace {
            name: "chat".into(),
            options: ChannelOptions {
                presence: true,
                ..Default::default()
            },
        });
        config.namespaces.push(Namespace {
            name: "strict".into(),
            options: ChannelOptions {
                channel_regex: Some(regex::Regex::new("^[a-z]+$").expect("valid regex")),
                ..Default::default()
            },
        });
        ChannelRules::new(config)
    }

    #[test]
    fn namespaces_resolve_and_unknown_ones_fail_with_102() {
        let rules = rules();
        assert!(rules.resolve("chat:1").expect("known").options.presence);
        assert!(
            !rules
                .resolve("news")
                .expect("no namespace")
                .options
                .presence
        );
        assert_eq!(
            rules.resolve("nope:1").unwrap_err(),
            HubError::UnknownChannel
        );
        assert!(rules.resolve("$chat:1").expect("private").private);
    }

    #[test]
    fn bad_names_fail_with_107() {
        let rules = rules();
        assert_eq!(
            rules.resolve(&"a".repeat(256)).unwrap_err(),
            HubError::BadRequest
        );
        assert_eq!(rules.resolve("chat:é").unwrap_err(), HubError::BadRequest);
        assert_eq!(
            rules.resolve("strict:ABC").unwrap_err(),
            HubError::BadRequest
        );
        assert!(rules.resolve("strict:abc").is_ok());
    }

    #[test]
    fn user_limited_channels_list_their_users() {
        let rules = rules();
        let resolved = rules.resolve("dialog#42,43").expect("valid");
        assert!(resolved.user_limited);
        assert_eq!(resolved.allowed_users, vec!["42", "43"]);
        assert_eq!(rules.personal_channel("", "7"), "#7");
        assert_eq!(rules.personal_channel("chat", "7"), "chat:#7");
    }
}
