//! How hub operations fail: an error reply to one command, or the end of the connection.

use herald_engine::EngineError;
use herald_proto::{DisconnectCode, ErrorCode};

/// A failed command or API call. Each variant maps to one protocol error code, so the client (or
/// the API caller) learns exactly what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    /// Something inside the node failed (100, temporary).
    #[error("internal server error")]
    Internal,
    /// The channel's namespace is not configured (102).
    #[error("unknown channel")]
    UnknownChannel,
    /// The connection may not do this (103).
    #[error("permission denied")]
    PermissionDenied,
    /// No handler for this method (104).
    #[error("method not found")]
    MethodNotFound,
    /// One subscription per channel per connection (105).
    #[error("already subscribed")]
    AlreadySubscribed,
    /// `client.channel_limit` reached (106).
    #[error("limit exceeded")]
    LimitExceeded,
    /// Malformed request: bad channel name, bad data, missing field (107).
    #[error("bad request")]
    BadRequest,
    /// The feature is off for this channel, or no handler exists (108).
    #[error("not available")]
    NotAvailable,
    /// The token's `exp` has passed (109).
    #[error("token expired")]
    TokenExpired,
    /// The connection or subscription expiry is already in the past (110).
    #[error("expired")]
    Expired,
    /// A command past the connection's rate (`client.rate_limit.client_command`) (111,
    /// temporary).
    #[error("too many requests")]
    TooManyRequests,
    /// A `since` position the stream no longer holds (112).
    #[error("unrecoverable position")]
    UnrecoverablePosition,
}

impl HubError {
    /// The protocol code sent to the client.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Internal => ErrorCode::INTERNAL,
            Self::UnknownChannel => ErrorCode::UNKNOWN_CHANNEL,
            Self::PermissionDenied => ErrorCode::PERMISSION_DENIED,
            Self::MethodNotFound => ErrorCode::METHOD_NOT_FOUND,
            Self::AlreadySubscribed => ErrorCode::ALREADY_SUBSCRIBED,
            Self::LimitExceeded => ErrorCode::LIMIT_EXCEEDED,
            Self::BadRequest => ErrorCode::BAD_REQUEST,
            Self::NotAvailable => ErrorCode::NOT_AVAILABLE,
            Self::TokenExpired => ErrorCode::TOKEN_EXPIRED,
            Self::Expired => ErrorCode::EXPIRED,
            Self::TooManyRequests => ErrorCode::TOO_MANY_REQUESTS,
            Self::UnrecoverablePosition => ErrorCode::UNRECOVERABLE_POSITION,
        }
    }
}

impl From<EngineError> for HubError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::UnrecoverablePosition => Self::UnrecoverablePosition,
            // History with a broker that has none (NATS): the feature is not available.
            EngineError::NotSupported { .. } => Self::NotAvailable,
            EngineError::Unavailable { reason } => {
                tracing::warn!(%reason, "engine call failed");
                Self::Internal
            }
            EngineError::NotRunning => {
                tracing::error!("engine used before it was started");
                Self::Internal
            }
        }
    }
}

/// Why the node closes a connection: a close code with its plain-text reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    /// Close code (3000-4999).
    pub code: u16,
    /// Plain-text reason, under 123 bytes.
    pub reason: String,
}

impl Disconnect {
    /// Whether the queue should still be written before the close frame. A slow client is
    /// closed at once: its queue is the problem.
    pub fn flushes_queue(&self) -> bool {
        self.code != DisconnectCode::SLOW.code
    }
}

impl From<DisconnectCode> for Disconnect {
    fn from(code: DisconnectCode) -> Self {
        Self {
            code: code.code,
            reason: code.reason.to_owned(),
        }
    }
}
