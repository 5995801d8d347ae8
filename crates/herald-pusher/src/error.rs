//! Why a client's message or a credential is refused. Each variant says what the client gets
//! in the docs of the caller; the text is what goes into `pusher:error` or
//! `pusher:subscription_error`.

/// A client frame, a channel name, a signature or a presence payload that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The frame is not a JSON object with a string `event`, or a field has the wrong type.
    #[error("invalid message: {0}")]
    Malformed(String),
    /// A known event without a field it needs (`channel` of a subscribe, ...).
    #[error("{event} without {field}")]
    MissingField {
        /// The event.
        event: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A channel name that is empty, too long, or has a character Pusher does not allow.
    #[error("invalid channel name {0:?}")]
    InvalidChannel(String),
    /// An `auth` that is not `<key>:<hex signature>`, names another app's key, or whose
    /// signature does not match.
    #[error("invalid signature")]
    InvalidSignature,
    /// A subscription to a private, encrypted or presence channel without `auth`.
    #[error("authorization required for {0}")]
    AuthRequired(String),
    /// A presence subscription without `channel_data`, or one that is not
    /// `{"user_id": ..., "user_info"?: ...}`.
    #[error("invalid channel_data: {0}")]
    InvalidChannelData(String),
    /// A sign-in's `user_data` that is not an object with a non-empty string `id`.
    #[error("invalid user_data: {0}")]
    InvalidUserData(String),
}
