//! Subject names, as in Centrifugo's NATS broker: `{prefix}.client.{channel}` per channel and
//! `{prefix}.control` for the control plane; plus Herald's `{prefix}.probe.{id}`, which only the
//! broker that picked `id` uses (see `link.rs`).
//!
//! A channel becomes subject tokens as it is, so a channel name the NATS subject syntax cannot
//! carry is refused, as Centrifugo does for wildcards: `*` or `>` anywhere (they would subscribe
//! to other channels), whitespace (it ends a subject in the protocol), an empty name or empty
//! `.`-separated segment, or a name so long that the protocol line could exceed the server's
//! limit.

use herald_engine::EngineError;

/// Longest channel name accepted, in bytes. NATS servers refuse protocol lines longer than
/// `max_control_line` (4 096 bytes by default) and drop the connection; a subject this long
/// leaves room for the prefix and the rest of the line.
pub(crate) const MAX_CHANNEL_LEN: usize = 2_048;

/// What [`EngineError::NotSupported`] says about a refused channel name.
pub(crate) const UNSUPPORTED_CHANNEL: &str = "a channel name that is no NATS subject (empty, whitespace, `*`, `>`, empty `.` segment or over 2048 bytes)";

/// The subjects of one broker.
#[derive(Debug, Clone)]
pub(crate) struct Subjects {
    /// `{prefix}.client.`, followed by the channel.
    client_prefix: String,
    control: String,
    probe: String,
}

impl Subjects {
    /// Subjects under `prefix` (already validated) for the broker with id `broker_id`.
    pub(crate) fn new(prefix: &str, broker_id: &str) -> Self {
        Self {
            client_prefix: format!("{prefix}.client."),
            control: format!("{prefix}.control"),
            probe: format!("{prefix}.probe.{broker_id}"),
        }
    }

    /// `{prefix}.client.{channel}`, or `NotSupported` for a channel the subject syntax cannot
    /// carry.
    pub(crate) fn client(&self, channel: &str) -> Result<String, EngineError> {
        if !is_valid_channel(channel) {
            return Err(EngineError::NotSupported {
                what: UNSUPPORTED_CHANNEL,
            });
        }
        Ok(format!("{}{channel}", self.client_prefix))
    }

    /// `{prefix}.control`.
    pub(crate) fn control(&self) -> &str {
        &self.control
    }

    /// `{prefix}.probe.{broker_id}`.
    pub(crate) fn probe(&self) -> &str {
        &self.probe
    }
}

/// Whether `prefix` can start subjects: tokens without wildcards or whitespace.
pub(crate) fn is_valid_prefix(prefix: &str) -> bool {
    is_valid_channel(prefix)
}

fn is_valid_channel(channel: &str) -> bool {
    !channel.is_empty()
        && channel.len() <= MAX_CHANNEL_LEN
        && channel.split('.').all(|token| !token.is_empty())
        && !channel
            .bytes()
            .any(|b| matches!(b, b'*' | b'>' | b' ' | b'\t' | b'\r' | b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_subjects_as_centrifugo() {
        let subjects = Subjects::new("centrifugo", "AbC");
        assert_eq!(
            subjects.client("chat:index").as_deref(),
            Ok("centrifugo.client.chat:index")
        );
        assert_eq!(
            subjects.client("news.sport").as_deref(),
            Ok("centrifugo.client.news.sport")
        );
        assert_eq!(
            subjects.client("$user#42,7").as_deref(),
            Ok("centrifugo.client.$user#42,7")
        );
        assert_eq!(subjects.control(), "centrifugo.control");
        assert_eq!(subjects.probe(), "centrifugo.probe.AbC");
    }

    #[test]
    fn refuses_channels_the_subject_syntax_cannot_carry() {
        let subjects = Subjects::new("p", "id");
        let long = "x".repeat(MAX_CHANNEL_LEN + 1);
        for channel in [
            "", "a*", "*", "a.>", ">", "a b", "a\tb", "a\r\n", ".a", "a.", "a..b", &long,
        ] {
            assert_eq!(
                subjects.client(channel),
                Err(EngineError::NotSupported {
                    what: UNSUPPORTED_CHANNEL
                }),
                "{channel:?}"
            );
        }
        assert!(subjects.client(&"x".repeat(MAX_CHANNEL_LEN)).is_ok());
    }

    #[test]
    fn checks_prefixes() {
        assert!(is_valid_prefix("centrifugo"));
        assert!(is_valid_prefix("herald.prod"));
        for bad in ["", "a.*", "a b", "a."] {
            assert!(!is_valid_prefix(bad), "{bad:?}");
        }
    }
}
