//! Client-visible codes, defined once: error replies, disconnects and unsubscribe pushes.
//!
//! Numbers and texts match Centrifugo exactly, because SDKs branch on them: the SDK retries an
//! error that is `temporary` (or 109), reconnects or not depending on the disconnect code range,
//! and resubscribes after an unsubscribe code of 2500 or more.

use crate::messages;

/// An error code sent in `Reply.error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    /// Numeric code; 0-399 are reserved for the protocol, applications use 400-1999.
    pub code: u32,
    /// Human-readable message sent with the code.
    pub message: &'static str,
    /// The SDK retries the command (with backoff) when set.
    pub temporary: bool,
}

impl ErrorCode {
    /// An unexpected failure on the server; worth retrying.
    pub const INTERNAL: Self = Self::new(100, "internal server error", true);
    /// The connection is not authenticated (bad or missing credentials).
    pub const UNAUTHORIZED: Self = Self::new(101, "unauthorized", false);
    /// The channel's namespace is not configured.
    pub const UNKNOWN_CHANNEL: Self = Self::new(102, "unknown channel", false);
    /// Not allowed; also sent for an invalid subscription token.
    pub const PERMISSION_DENIED: Self = Self::new(103, "permission denied", false);
    /// No RPC handler matches the method.
    pub const METHOD_NOT_FOUND: Self = Self::new(104, "method not found", false);
    /// One subscription per channel per connection.
    pub const ALREADY_SUBSCRIBED: Self = Self::new(105, "already subscribed", false);
    /// A configured limit (e.g. channels per connection) was hit.
    pub const LIMIT_EXCEEDED: Self = Self::new(106, "limit exceeded", false);
    /// The request is malformed (e.g. channel too long, bad publish data).
    pub const BAD_REQUEST: Self = Self::new(107, "bad request", false);
    /// The feature is not enabled (history, presence, RPC handler...).
    pub const NOT_AVAILABLE: Self = Self::new(108, "not available", false);
    /// The token expired; the SDK fetches a new one and retries.
    pub const TOKEN_EXPIRED: Self = Self::new(109, "token expired", false);
    /// The connection or subscription expiry is already in the past.
    pub const EXPIRED: Self = Self::new(110, "expired", false);
    /// Rate limited; worth retrying.
    pub const TOO_MANY_REQUESTS: Self = Self::new(111, "too many requests", true);
    /// History `since` lies outside the stream, or its epoch changed.
    pub const UNRECOVERABLE_POSITION: Self = Self::new(112, "unrecoverable position", false);
    /// A map subscription's pagination collided with another one; worth retrying.
    pub const CONCURRENT_PAGINATION: Self = Self::new(113, "concurrent pagination", true);

    /// A code of the application's own (use 400-1999).
    pub const fn new(code: u32, message: &'static str, temporary: bool) -> Self {
        Self {
            code,
            message,
            temporary,
        }
    }

    /// The `Reply.error` body for this code.
    pub fn to_proto(&self) -> messages::Error {
        messages::Error {
            code: self.code,
            message: self.message.to_owned(),
            temporary: self.temporary,
        }
    }
}

impl From<ErrorCode> for messages::Error {
    fn from(code: ErrorCode) -> Self {
        code.to_proto()
    }
}

/// A disconnect: the WebSocket Close code and reason, or the body of a `disconnect` push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisconnectCode {
    /// Close code; 3000-3999 protocol, 4000-4999 application, 5000+ reserved.
    pub code: u16,
    /// Plain-text reason; must stay under 123 bytes to fit a Close frame.
    pub reason: &'static str,
}

impl DisconnectCode {
    /// The client closed the connection; no advice.
    pub const CONNECTION_CLOSED: Self = Self::new(3000, "connection closed");
    /// The node is shutting down gracefully.
    pub const SHUTDOWN: Self = Self::new(3001, "shutdown");
    /// An unexpected failure on the server.
    pub const INTERNAL: Self = Self::new(3004, "internal server error");
    /// The connection TTL passed without a refresh.
    pub const EXPIRED: Self = Self::new(3005, "connection expired");
    /// A server-side subscription expired.
    pub const SUB_EXPIRED: Self = Self::new(3006, "subscription expired");
    /// The client's outbound queue overflowed.
    pub const SLOW: Self = Self::new(3008, "slow");
    /// Writing to the transport failed or timed out.
    pub const WRITE_ERROR: Self = Self::new(3009, "write error");
    /// A server-side subscription lost stream continuity (gap or epoch change).
    pub const INSUFFICIENT_STATE: Self = Self::new(3010, "insufficient state");
    /// The server asks the client to reconnect.
    pub const FORCE_RECONNECT: Self = Self::new(3011, "force reconnect");
    /// No pong arrived within the pong timeout.
    pub const NO_PONG: Self = Self::new(3012, "no pong");
    /// The client exceeded a rate limit.
    pub const TOO_MANY_REQUESTS: Self = Self::new(3013, "too many requests");
    /// The client must drop its token and cached state (SDK 5.7+).
    pub const STATE_INVALIDATED: Self = Self::new(3014, "state invalidated");
    /// Bad token signature or claims; the SDK does not reconnect.
    pub const INVALID_TOKEN: Self = Self::new(3500, "invalid token");
    /// Malformed frame or protocol violation; the SDK does not reconnect.
    pub const BAD_REQUEST: Self = Self::new(3501, "bad request");
    /// No connect command arrived in time.
    pub const STALE: Self = Self::new(3502, "stale");
    /// Disconnected through the server API.
    pub const FORCE_DISCONNECT: Self = Self::new(3503, "force disconnect");
    /// The user has too many connections.
    pub const CONNECTION_LIMIT: Self = Self::new(3504, "connection limit");
    /// Server-side subscriptions exceed the channel limit.
    pub const CHANNEL_LIMIT: Self = Self::new(3505, "channel limit");
    /// The payload cannot travel over this protocol (e.g. binary data to a JSON client).
    pub const INAPPROPRIATE_PROTOCOL: Self = Self::new(3506, "inappropriate protocol");
    /// The connection is not allowed (e.g. anonymous tokens disallowed).
    pub const PERMISSION_DENIED: Self = Self::new(3507, "permission denied");
    /// The feature is not available (e.g. `send` with no handler).
    pub const NOT_AVAILABLE: Self = Self::new(3508, "not available");
    /// The client caused too many errors.
    pub const TOO_MANY_ERRORS: Self = Self::new(3509, "too many errors");

    /// A code of the application's own (4000-4499 reconnect, 4500-4999 terminal).
    pub const fn new(code: u16, reason: &'static str) -> Self {
        Self { code, reason }
    }

    /// Whether the SDK reconnects after this code: not for 3500-3999 and 4500-4999 (terminal
    /// ranges), nor for 1009 (message too big); yes for everything else.
    pub const fn reconnect(&self) -> bool {
        !matches!(self.code, 1009 | 3500..=3999 | 4500..=4999)
    }

    /// The body of a `disconnect` push (emulation and unidirectional transports).
    pub fn to_proto(&self) -> messages::Disconnect {
        messages::Disconnect {
            code: u32::from(self.code),
            reason: self.reason.to_owned(),
            reconnect: self.reconnect(),
        }
    }
}

/// The code and reason of an `unsubscribe` push. The SDK stays unsubscribed when the code is
/// below 2500 and resubscribes otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsubscribeCode {
    /// Numeric code sent in `Unsubscribe.code`.
    pub code: u32,
    /// Text sent in `Unsubscribe.reason`.
    pub reason: &'static str,
}

impl UnsubscribeCode {
    /// The server unsubscribed the client for good.
    pub const SERVER: Self = Self::new(2000, "server unsubscribe");
    /// The subscription lost stream continuity; the SDK resubscribes and recovers.
    pub const INSUFFICIENT_STATE: Self = Self::new(2500, "insufficient state");
    /// The subscription token expired; the SDK resubscribes with a fresh one.
    pub const EXPIRED: Self = Self::new(2501, "subscription expired");
    /// The client must drop cached state and resubscribe (newer SDKs).
    pub const STATE_INVALIDATED: Self = Self::new(2502, "state invalidated");

    /// A code of the application's own.
    pub const fn new(code: u32, reason: &'static str) -> Self {
        Self { code, reason }
    }

    /// Whether the SDK resubscribes after this code.
    pub const fn resubscribe(&self) -> bool {
        self.code >= 2500
    }

    /// The body of an `unsubscribe` push.
    pub fn to_proto(&self) -> messages::Unsubscribe {
        messages::Unsubscribe {
            code: self.code,
            reason: self.reason.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_error_codes() {
        let temporary: Vec<u32> = [
            ErrorCode::INTERNAL,
            ErrorCode::UNAUTHORIZED,
            ErrorCode::TOO_MANY_REQUESTS,
            ErrorCode::CONCURRENT_PAGINATION,
            ErrorCode::TOKEN_EXPIRED,
        ]
        .iter()
        .filter(|c| c.temporary)
        .map(|c| c.code)
        .collect();
        assert_eq!(temporary, [100, 111, 113]);
    }

    #[test]
    fn error_to_proto() {
        let e = ErrorCode::BAD_REQUEST.to_proto();
        assert_eq!(
            (e.code, e.message.as_str(), e.temporary),
            (107, "bad request", false)
        );
    }

    #[test]
    fn reconnect_ranges() {
        assert!(DisconnectCode::SHUTDOWN.reconnect());
        assert!(DisconnectCode::SLOW.reconnect());
        assert!(DisconnectCode::STATE_INVALIDATED.reconnect());
        assert!(!DisconnectCode::INVALID_TOKEN.reconnect());
        assert!(!DisconnectCode::BAD_REQUEST.reconnect());
        assert!(!DisconnectCode::TOO_MANY_ERRORS.reconnect());
        assert!(DisconnectCode::new(4499, "app").reconnect());
        assert!(!DisconnectCode::new(4500, "app").reconnect());
        assert!(!DisconnectCode::new(4999, "app").reconnect());
        assert!(DisconnectCode::new(5000, "reserved").reconnect());
        assert!(!DisconnectCode::new(1009, "message too big").reconnect());
    }

    #[test]
    fn disconnect_reasons_fit_a_close_frame() {
        let all = [
            DisconnectCode::CONNECTION_CLOSED,
            DisconnectCode::SHUTDOWN,
            DisconnectCode::INTERNAL,
            DisconnectCode::EXPIRED,
            DisconnectCode::SUB_EXPIRED,
            DisconnectCode::SLOW,
            DisconnectCode::WRITE_ERROR,
            DisconnectCode::INSUFFICIENT_STATE,
            DisconnectCode::FORCE_RECONNECT,
            DisconnectCode::NO_PONG,
            DisconnectCode::TOO_MANY_REQUESTS,
            DisconnectCode::STATE_INVALIDATED,
            DisconnectCode::INVALID_TOKEN,
            DisconnectCode::BAD_REQUEST,
            DisconnectCode::STALE,
            DisconnectCode::FORCE_DISCONNECT,
            DisconnectCode::CONNECTION_LIMIT,
            DisconnectCode::CHANNEL_LIMIT,
            DisconnectCode::INAPPROPRIATE_PROTOCOL,
            DisconnectCode::PERMISSION_DENIED,
            DisconnectCode::NOT_AVAILABLE,
            DisconnectCode::TOO_MANY_ERRORS,
        ];
        assert_eq!(all.len(), 22);
        assert!(all.iter().all(|c| c.reason.len() < 123));
        let push = DisconnectCode::NO_PONG.to_proto();
        assert_eq!(
            (push.code, push.reason.as_str(), push.reconnect),
            (3012, "no pong", true)
        );
    }

    #[test]
    fn unsubscribe_codes() {
        assert!(!UnsubscribeCode::SERVER.resubscribe());
        assert!(UnsubscribeCode::INSUFFICIENT_STATE.resubscribe());
        assert_eq!(
            UnsubscribeCode::EXPIRED.to_proto().reason,
            "subscription expired"
        );
    }
}
