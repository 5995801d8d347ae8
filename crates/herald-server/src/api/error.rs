//! API errors: the `{"code","message"}` object, the two ways it reaches the caller (inside an
//! HTTP 200 body, or as an HTTP status in "transport" mode), and the plain-text answers for
//! requests that never reached a method (unreadable or malformed bodies).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use herald_hub::HubError;
use serde::Serialize;

/// Header with which a caller asks for transport error mode on one request.
const ERROR_MODE_HEADER: &str = "x-centrifugo-error-mode";

/// An error answered to an API call: a protocol error code and its message. Serialized as
/// Centrifugo's `Error` message (both fields omitted when zero/empty, as Go's `omitempty`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub(crate) struct ApiError {
    /// Protocol error code (100 internal, 102 unknown channel, 104 not found, 107 bad request,
    /// 108 not available, 112 unrecoverable position, 113 conflict).
    #[serde(skip_serializing_if = "is_zero")]
    pub code: u32,
    /// Human-readable message sent with the code.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub message: &'static str,
}

impl ApiError {
    /// Something inside the node failed (100).
    pub(crate) const INTERNAL: Self = Self {
        code: 100,
        message: "internal server error",
    };
    /// An unknown method inside a batch, or an RPC method nobody registered (104). The server
    /// API says "not found" here, not the client protocol's "method not found".
    pub(crate) const NOT_FOUND: Self = Self {
        code: 104,
        message: "not found",
    };
    /// A missing or invalid field (107).
    pub(crate) const BAD_REQUEST: Self = Self {
        code: 107,
        message: "bad request",
    };

    /// The HTTP status used for this error in transport error mode; the same table as
    /// Centrifugo's `MapErrorToHTTPCode`, including its 500 for codes it does not list.
    pub(crate) fn http_status(&self) -> StatusCode {
        match self.code {
            100 => StatusCode::INTERNAL_SERVER_ERROR,
            102 | 104 => StatusCode::NOT_FOUND,
            107 | 108 => StatusCode::BAD_REQUEST,
            112 => StatusCode::RANGE_NOT_SATISFIABLE,
            113 => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<HubError> for ApiError {
    fn from(err: HubError) -> Self {
        let code = err.code();
        Self {
            code: code.code,
            message: code.message,
        }
    }
}

fn is_zero(code: &u32) -> bool {
    *code == 0
}

/// How a failed API call is reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ErrorMode {
    /// Centrifugo's default: HTTP 200 with `{"error":{"code":N,"message":"..."}}`.
    #[default]
    Body,
    /// HTTP status from the error code (Centrifugo's table: 100→500, 102/104→404,
    /// 107/108→400, 112→416, 113→409, others 500) with the bare
    /// `{"code":N,"message":"..."}` as body (`http_api.error_mode: transport`).
    Transport,
}

impl ErrorMode {
    /// The mode for one request: transport when configured, or when the request carries
    /// `X-Centrifugo-Error-Mode: transport` (compared exactly, as Centrifugo does).
    pub(crate) fn for_request(configured: ErrorMode, headers: &HeaderMap) -> ErrorMode {
        let asked = headers
            .get(ERROR_MODE_HEADER)
            .is_some_and(|value| value == "transport");
        if asked {
            ErrorMode::Transport
        } else {
            configured
        }
    }
}

/// A JSON response; a value that cannot be serialized (it never should) becomes a plain 500.
pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let content_type = HeaderValue::from_static("application/json");
            (status, [(header::CONTENT_TYPE, content_type)], bytes).into_response()
        }
        Err(err) => {
            tracing::warn!(%err, "API response could not be encoded");
            plain_response(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// Go's `http.Error(w, http.StatusText(status), status)`: the status text and a newline as
/// `text/plain`, which is what Centrifugo answers to unreadable or malformed request bodies.
pub(crate) fn plain_response(status: StatusCode) -> Response {
    let text = format!("{}\n", status.canonical_reason().unwrap_or("Error"));
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    (status, headers, text).into_response()
}

/// The answer to a failed method call in the given mode.
pub(crate) fn error_response(err: ApiError, mode: ErrorMode) -> Response {
    #[derive(Serialize)]
    struct Wrapped {
        error: ApiError,
    }
    match mode {
        ErrorMode::Body => json_response(StatusCode::OK, &Wrapped { error: err }),
        ErrorMode::Transport => json_response(err.http_status(), &err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_statuses_follow_centrifugo() {
        let status = |code| ApiError { code, message: "x" }.http_status().as_u16();
        assert_eq!(status(100), 500);
        assert_eq!(status(102), 404);
        assert_eq!(status(104), 404);
        assert_eq!(status(107), 400);
        assert_eq!(status(108), 400);
        assert_eq!(status(112), 416);
        assert_eq!(status(113), 409);
        // Not in Centrifugo's table: it falls back to 500.
        assert_eq!(status(103), 500);
        assert_eq!(status(110), 500);
    }

    #[test]
    fn hub_errors_keep_code_and_message() {
        let err = ApiError::from(HubError::UnknownChannel);
        assert_eq!(
            err,
            ApiError {
                code: 102,
                message: "unknown channel"
            }
        );
        assert_eq!(ApiError::from(HubError::Internal).code, 100);
    }

    #[test]
    fn error_serializes_without_temporary() {
        let json = serde_json::to_string(&ApiError::BAD_REQUEST).expect("serializes");
        assert_eq!(json, r#"{"code":107,"message":"bad request"}"#);
    }

    #[test]
    fn mode_header_must_say_transport_exactly() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            ErrorMode::for_request(ErrorMode::Body, &headers),
            ErrorMode::Body
        );
        assert_eq!(
            ErrorMode::for_request(ErrorMode::Transport, &headers),
            ErrorMode::Transport
        );
        headers.insert(
            "X-Centrifugo-Error-Mode",
            HeaderValue::from_static("Transport"),
        );
        assert_eq!(
            ErrorMode::for_request(ErrorMode::Body, &headers),
            ErrorMode::Body
        );
        headers.insert(
            "X-Centrifugo-Error-Mode",
            HeaderValue::from_static("transport"),
        );
        assert_eq!(
            ErrorMode::for_request(ErrorMode::Body, &headers),
            ErrorMode::Transport
        );
    }
}
