//! What the hub needs from token verification. The JWT implementation lives in the server crate
//! (it reads keys from configuration); the hub only sees verified claims.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

/// Work a verifier must finish before it can check a token (see [`TokenVerifier::prepare`]).
pub type Preparation = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Verifies connection and subscription tokens.
pub trait TokenVerifier: Send + Sync + 'static {
    /// Verifies a connection token.
    fn verify_connect_token(&self, token: &str) -> Result<ConnectTokenClaims, TokenError>;
    /// Verifies a subscription token (for `$` private channels and token-based subscribe).
    fn verify_subscribe_token(&self, token: &str) -> Result<SubscribeTokenClaims, TokenError>;
    /// What must happen before `token` can be verified, when something must: a verifier whose
    /// keys come from the network (JWKS) fetches the key the token names. The session awaits it
    /// before the (synchronous) verify call, inside the command's turn, so a slow key server
    /// delays only that connection's commands. `subscription`: the token is a subscription
    /// token. Default: nothing to do.
    fn prepare(&self, token: &str, subscription: bool) -> Option<Preparation> {
        let _ = (token, subscription);
        None
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token's `exp` has passed (error 109: the SDK fetches a new token).
    #[error("token expired")]
    Expired,
    /// Bad signature, bad claims, unknown algorithm, no key configured (3500 for connection
    /// tokens, 103 for subscription tokens).
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Verified claims of a connection token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectTokenClaims {
    /// `sub`: the user id (`""` is anonymous).
    pub user: String,
    /// When the connection expires, Unix seconds: `expire_at` if present (0 = never, giving
    /// `None`), else `exp`; `None` for no expiry.
    pub expire_at: Option<i64>,
    /// `info` (raw JSON) or decoded `b64info`.
    pub info: Bytes,
    /// `channels`: server-side subscriptions.
    pub channels: Vec<String>,
    /// `subs`: server-side subscriptions with options; take priority over `channels`.
    pub subs: HashMap<String, SubscribeOptionsClaim>,
    /// `meta`: server-only JSON, kept for proxies.
    pub meta: Bytes,
}

/// Options for one server-side subscription from a connection token's `subs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeOptionsClaim {
    /// Channel info (`info` or decoded `b64info`).
    pub info: Bytes,
    /// Data for the subscribe result (`data` or decoded `b64data`).
    pub data: Bytes,
    /// Per-subscription overrides of namespace options.
    pub overrides: SubscribeOverride,
}

/// `override` object: each `Some` replaces the namespace option for this subscription.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscribeOverride {
    /// `presence.value`.
    pub presence: Option<bool>,
    /// `join_leave.value`.
    pub join_leave: Option<bool>,
    /// `force_push_join_leave.value`.
    pub force_push_join_leave: Option<bool>,
    /// `force_positioning.value`.
    pub force_positioning: Option<bool>,
    /// `force_recovery.value`.
    pub force_recovery: Option<bool>,
}

/// Verified claims of a subscription token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeTokenClaims {
    /// `sub`: must equal the connection's user.
    pub user: String,
    /// `channel`: must equal the channel subscribed to.
    pub channel: String,
    /// `client`: when non-empty, must equal the connection id.
    pub client: String,
    /// Subscription expiry (same rule as for connection tokens).
    pub expire_at: Option<i64>,
    /// Channel info (`info` or decoded `b64info`).
    pub info: Bytes,
    /// Subscribe result data (`data` or decoded `b64data`).
    pub data: Bytes,
    /// Overrides of namespace options.
    pub overrides: SubscribeOverride,
}
