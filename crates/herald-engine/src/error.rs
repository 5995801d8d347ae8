//! The one error type every engine returns, so the hub can map each case to a protocol code.

/// What can go wrong in an engine call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// A history `since` position whose epoch differs from the stream's, or whose offset has been
    /// trimmed away: the caller cannot continue from it (protocol error 112).
    #[error("unrecoverable position")]
    UnrecoverablePosition,
    /// The backend (Redis, NATS) cannot be reached or answered with an error; retrying later may
    /// work (protocol error 100, temporary).
    #[error("engine unavailable: {reason}")]
    Unavailable {
        /// What the backend said, for logs.
        reason: String,
    },
    /// The broker has not been started with [`Broker::run`](crate::Broker::run).
    #[error("broker is not running")]
    NotRunning,
    /// The broker cannot do this at all (history on a broker without streams, say): maps to
    /// protocol error 108 (not available).
    #[error("{what} is not supported by this broker")]
    NotSupported {
        /// What was asked for, for logs: `"history"`, ...
        what: &'static str,
    },
}
