//! Node-wide methods: `channels`, `info`, and `rpc` (no RPC extensions exist, so every
//! method is unknown, as on a Centrifugo without extensions).

use globset::{GlobBuilder, GlobMatcher};
use herald_hub::Hub;

use super::error::ApiError;
use super::request::{ChannelsRequest, RpcRequest};
use super::response::{
    ChannelInfo, ChannelsResult, InfoResult, NodeResult, Outcome, saturating_u32,
};

/// Channels with subscribers on any node of the cluster (their counts summed), filtered by a
/// glob pattern; other protocol families' channels (the Pusher endpoint's, under
/// `herald_hub::VERBATIM_PREFIX`) are not Centrifugo channels and are left out. An invalid
/// pattern is a bad request (107); Centrifugo answers 100 there, which hides the caller's
/// mistake. A node that does not answer in time fails the call (100).
pub(crate) async fn channels(hub: &Hub, req: ChannelsRequest) -> Result<ChannelsResult, ApiError> {
    let matcher = compile(&req.pattern)?;
    let channels = hub
        .cluster_channels()
        .await?
        .into_iter()
        .filter(|(_, subscribers)| *subscribers > 0)
        .filter(|(channel, _)| !channel.starts_with(herald_hub::VERBATIM_PREFIX))
        .filter(|(channel, _)| matcher.as_ref().is_none_or(|m| m.is_match(channel)))
        .map(|(channel, subscribers)| {
            (
                channel,
                ChannelInfo {
                    num_clients: saturating_u32(subscribers),
                },
            )
        })
        .collect();
    Ok(ChannelsResult { channels })
}

/// Every live node of the cluster with its counters.
pub(crate) fn info(hub: &Hub) -> InfoResult {
    InfoResult {
        nodes: hub.nodes().into_iter().map(NodeResult::from).collect(),
    }
}

/// Server-side RPC: 107 without a method, 104 for any method (none are registered).
pub(crate) fn rpc(req: RpcRequest) -> Result<Outcome, ApiError> {
    if req.method.is_empty() {
        Err(ApiError::BAD_REQUEST)
    } else {
        Err(ApiError::NOT_FOUND)
    }
}

/// Compiles a gobwas/glob-style pattern (`*`, `?`, `[abc]`, `[!a-z]`, `{a,b}`, `\` escapes);
/// `None` for the empty pattern, which matches everything.
///
/// Centrifugo compiles without separators, so `*` also matches `:` or `/`; `literal_separator`
/// stays off for the same reason. gobwas's `**` means the same as `*` then, while globset only
/// accepts `**` next to `/`: runs of unescaped `*` are folded into one first.
fn compile(pattern: &str) -> Result<Option<GlobMatcher>, ApiError> {
    if pattern.is_empty() {
        return Ok(None);
    }
    let glob = GlobBuilder::new(&fold_stars(pattern))
        .literal_separator(false)
        .backslash_escape(true)
        .empty_alternates(true)
        .build()
        .map_err(|err| {
            tracing::debug!(%err, "invalid channels pattern");
            ApiError::BAD_REQUEST
        })?;
    Ok(Some(glob.compile_matcher()))
}

fn fold_stars(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    let mut after_star = false;
    while let Some(c) = chars.next() {
        match c {
            '*' if after_star => {}
            '\\' => {
                out.push(c);
                out.extend(chars.next());
                after_star = false;
            }
            _ => {
                out.push(c);
                after_star = c == '*';
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, channel: &str) -> bool {
        compile(pattern)
            .expect("valid")
            .is_none_or(|m| m.is_match(channel))
    }

    #[test]
    fn empty_pattern_matches_everything() {
        assert!(matches("", "anything:at/all"));
    }

    #[test]
    fn star_crosses_namespace_and_slash() {
        assert!(matches("*", "ns:chat/1"));
        assert!(matches("ns:*", "ns:chat/1"));
        assert!(!matches("ns:*", "other:chat"));
        assert!(matches("ns**", "ns:a/b"));
        assert!(matches("*:index", "a:b:index"));
    }

    #[test]
    fn question_classes_and_alternates() {
        assert!(matches("chat?", "chat1"));
        assert!(!matches("chat?", "chat12"));
        assert!(matches("chat[12]", "chat2"));
        assert!(!matches("chat[!12]", "chat2"));
        assert!(matches("chat[a-c]", "chatb"));
        assert!(matches("{news,chat}:*", "news:1"));
        assert!(matches("{news,chat}:*", "chat:1"));
        assert!(!matches("{news,chat}:*", "other:1"));
    }

    #[test]
    fn escapes_are_literal() {
        assert!(matches(r"a\*", "a*"));
        assert!(!matches(r"a\*", "ab"));
        assert!(matches(r"a\**", "a*bc"));
    }

    #[test]
    fn invalid_patterns_are_bad_requests() {
        assert_eq!(compile("[abc").err(), Some(ApiError::BAD_REQUEST));
        assert_eq!(compile("{a,b").err(), Some(ApiError::BAD_REQUEST));
    }

    #[test]
    fn fold_stars_keeps_escaped_stars() {
        assert_eq!(fold_stars("a***b"), "a*b");
        assert_eq!(fold_stars(r"a\**"), r"a\**");
        assert_eq!(fold_stars(r"a\\**"), r"a\\*");
        assert_eq!(fold_stars("trailing\\"), "trailing\\");
    }
}
