//! CORS for the HTTP transports (HTTP-streaming, SSE, their unidirectional forms and the
//! emulation endpoint), from `client.allowed_origins`, as Centrifugo does: an allowed `Origin`
//! is reflected with credentials allowed; a request from an origin that is not allowed is
//! refused with 403 (a request without `Origin`, from a server or a native app, always passes).

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::refusal::Refusal;
use crate::config::OriginPolicy;

/// How long a browser may cache a preflight answer (Centrifugo 6.1 sends the same).
const PREFLIGHT_MAX_AGE: &str = "300";

/// The CORS headers a request earns.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cors {
    /// The request's `Origin`, when it is allowed.
    origin: Option<HeaderValue>,
    /// The headers a preflight asked for.
    request_headers: Option<HeaderValue>,
}

impl Cors {
    /// Checks the request's `Origin`; a disallowed one gets 403.
    pub(crate) fn check(origins: &OriginPolicy, headers: &HeaderMap) -> Result<Self, Refusal> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(Self::default());
        };
        let text = origin.to_str().ok();
        if !origins.allows(text) {
            tracing::info!(origin = text.unwrap_or("(not text)"), "origin not allowed");
            return Err(Refusal::Origin);
        }
        Ok(Self {
            origin: Some(origin.clone()),
            request_headers: headers
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .filter(|v| v.as_bytes() != b"null")
                .cloned(),
        })
    }

    /// Adds the CORS headers to `response`.
    pub(crate) fn apply(&self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        if let Some(origin) = &self.origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            if let Some(requested) = &self.request_headers {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
            }
        }
        response
    }

    /// The answer to a preflight `OPTIONS` request for an endpoint taking `methods`.
    pub(crate) fn preflight(&self, methods: &'static str) -> Response {
        let response = (
            StatusCode::NO_CONTENT,
            [
                (header::ACCESS_CONTROL_ALLOW_METHODS, methods),
                (header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE),
            ],
        )
            .into_response();
        self.apply(response)
    }
}
