//! Why an HTTP transport request was refused, and the status each reason gets.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// A refused transport request. The message is the response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// `Origin` not in `client.allowed_origins`: 403.
    #[error("origin not allowed")]
    Origin,
    /// A malformed request: 400.
    #[error("{0}")]
    BadRequest(String),
    /// A body (or `cf_connect`) over the endpoint's limit: 413.
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    /// A body in neither JSON nor Protobuf: 415.
    #[error("unsupported Content-Type {0:?}: use application/json or application/octet-stream")]
    ContentType(String),
    /// Protobuf sent to a JSON-only endpoint: 415.
    #[error("this endpoint speaks JSON only")]
    JsonOnly,
    /// The node is shutting down: 503.
    #[error("shutting down")]
    ShuttingDown,
    /// `client.connection_limit` or `client.connection_rate_limit` reached: 503;
    /// `client.ip_connection_limit` or `client.ip_connection_rate_limit`: 429.
    #[error("{0}")]
    Limited(herald_hub::ConnectionRefused),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = match self {
            Self::Origin => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ContentType(_) | Self::JsonOnly => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Limited(refused) if refused.is_per_ip() => StatusCode::TOO_MANY_REQUESTS,
            Self::ShuttingDown | Self::Limited(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        if let Self::Limited(refused) = self {
            // A static body: refusing a flood costs no allocation beyond the response.
            return (status, refused.as_str()).into_response();
        }
        (status, format!("{self}\n")).into_response()
    }
}
