//! Channel names and the kinds their prefixes make them (Pusher's `channels.md`).

use std::fmt;

use crate::ProtocolError;

/// Longest channel name Pusher accepts, in bytes (all allowed characters are ASCII).
pub const MAX_CHANNEL_NAME_LEN: usize = 164;

/// The prefix of the channel pusher-js subscribes after a sign-in: the user's own channel,
/// which only that user may subscribe to and which `sendToUser` triggers on.
const SERVER_TO_USER: &str = "#server-to-user-";

/// A channel name that passed [`Channel::parse`]: 1 to [`MAX_CHANNEL_NAME_LEN`] bytes of
/// `A-Z a-z 0-9 _ - = @ , . ;`, or `#server-to-user-` and a user id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Channel(String);

/// What a channel's name makes it. `cache` channels (`cache-`, `private-cache-`,
/// `private-encrypted-cache-`, `presence-cache-`) keep their last event for new subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// No prefix, or `cache-`: anyone may subscribe, no client events.
    Public {
        /// `cache-`.
        cache: bool,
    },
    /// `private-`: a signature over `socket_id:channel` is needed; client events allowed.
    Private {
        /// `private-cache-`.
        cache: bool,
    },
    /// `private-encrypted-`: as private, and the server never reads the data (end-to-end
    /// encrypted by the clients); client events are not allowed.
    Encrypted {
        /// `private-encrypted-cache-`.
        cache: bool,
    },
    /// `presence-`: signed `channel_data` names the member; members are announced.
    Presence {
        /// `presence-cache-`.
        cache: bool,
    },
    /// `#server-to-user-<id>`: the user's own channel; only a connection signed in as that
    /// user may subscribe.
    User,
}

impl Channel {
    /// Checks a name a client or the API sent.
    pub fn parse(name: &str) -> Result<Self, ProtocolError> {
        let invalid = || ProtocolError::InvalidChannel(name.chars().take(200).collect());
        if name.is_empty() || name.len() > MAX_CHANNEL_NAME_LEN {
            return Err(invalid());
        }
        let rest = match name.strip_prefix(SERVER_TO_USER) {
            Some("") => return Err(invalid()),
            Some(user) => user,
            None => name,
        };
        if rest.bytes().all(allowed) {
            Ok(Self(name.to_owned()))
        } else {
            Err(invalid())
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the name's prefix makes the channel.
    pub fn kind(&self) -> ChannelKind {
        kind_of(&self.0)
    }

    /// The user whose own channel this is (`#server-to-user-<id>`).
    pub fn user(&self) -> Option<&str> {
        self.0.strip_prefix(SERVER_TO_USER)
    }

    /// The channel a signed-in user's events go to.
    pub fn for_user(user_id: &str) -> Result<Self, ProtocolError> {
        Self::parse(&format!("{SERVER_TO_USER}{user_id}"))
    }
}

impl ChannelKind {
    /// Whether subscribing needs a signature (`auth`).
    pub fn needs_auth(self) -> bool {
        matches!(
            self,
            ChannelKind::Private { .. }
                | ChannelKind::Encrypted { .. }
                | ChannelKind::Presence { .. }
        )
    }

    /// Whether clients may trigger `client-*` events on it (when the app allows them).
    pub fn allows_client_events(self) -> bool {
        matches!(
            self,
            ChannelKind::Private { .. } | ChannelKind::Presence { .. }
        )
    }

    /// Whether the channel keeps its last event for new subscribers.
    pub fn is_cache(self) -> bool {
        match self {
            ChannelKind::Public { cache }
            | ChannelKind::Private { cache }
            | ChannelKind::Encrypted { cache }
            | ChannelKind::Presence { cache } => cache,
            ChannelKind::User => false,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The characters of Pusher's channel names.
fn allowed(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"_-=@,.;".contains(&byte)
}

fn kind_of(name: &str) -> ChannelKind {
    if name.starts_with(SERVER_TO_USER) {
        return ChannelKind::User;
    }
    if let Some(rest) = name.strip_prefix("private-encrypted-") {
        return ChannelKind::Encrypted {
            cache: rest.starts_with("cache-"),
        };
    }
    if let Some(rest) = name.strip_prefix("private-") {
        return ChannelKind::Private {
            cache: rest.starts_with("cache-"),
        };
    }
    if let Some(rest) = name.strip_prefix("presence-") {
        return ChannelKind::Presence {
            cache: rest.starts_with("cache-"),
        };
    }
    ChannelKind::Public {
        cache: name.starts_with("cache-"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> ChannelKind {
        Channel::parse(name).expect("valid name").kind()
    }

    #[test]
    fn prefixes_make_the_kinds() {
        assert_eq!(kind("news"), ChannelKind::Public { cache: false });
        assert_eq!(kind("cache-news"), ChannelKind::Public { cache: true });
        assert_eq!(kind("private-a"), ChannelKind::Private { cache: false });
        assert_eq!(
            kind("private-cache-a"),
            ChannelKind::Private { cache: true }
        );
        assert_eq!(
            kind("private-encrypted-a"),
            ChannelKind::Encrypted { cache: false }
        );
        assert_eq!(
            kind("private-encrypted-cache-a"),
            ChannelKind::Encrypted { cache: true }
        );
        assert_eq!(
            kind("presence-room"),
            ChannelKind::Presence { cache: false }
        );
        assert_eq!(
            kind("presence-cache-room"),
            ChannelKind::Presence { cache: true }
        );
        assert_eq!(kind("#server-to-user-42"), ChannelKind::User);
        // A prefix is only a prefix.
        assert_eq!(kind("my-private-a"), ChannelKind::Public { cache: false });
    }

    #[test]
    fn what_each_kind_allows() {
        assert!(!kind("news").needs_auth());
        assert!(kind("private-a").needs_auth() && kind("private-a").allows_client_events());
        assert!(kind("private-encrypted-a").needs_auth());
        assert!(!kind("private-encrypted-a").allows_client_events());
        assert!(kind("presence-a").allows_client_events());
        assert!(!kind("cache-a").allows_client_events());
        assert!(!kind("#server-to-user-1").needs_auth());
    }

    #[test]
    fn names_are_checked() {
        for good in ["a", "A-Z_a.z=0@9,x;y", &"x".repeat(MAX_CHANNEL_NAME_LEN)] {
            assert!(Channel::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "has space",
            "slash/",
            "é",
            "#other",
            "#server-to-user-",
            "#server-to-user-a b",
            &"x".repeat(MAX_CHANNEL_NAME_LEN + 1),
        ] {
            assert!(Channel::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_channels() {
        let channel = Channel::for_user("u-1").expect("valid");
        assert_eq!(channel.as_str(), "#server-to-user-u-1");
        assert_eq!(channel.user(), Some("u-1"));
        assert_eq!(Channel::parse("news").expect("valid").user(), None);
    }
}
