//! The HTTP server API: Centrifugo v6's `/api/<method>` endpoints, so backends and the Python
//! `cent` client work unchanged.
//!
//! Every method is `POST {handler_prefix}/{method}` with a JSON body (Content-Type is not
//! checked). A request goes through, in order:
//!
//! 1. routing: another HTTP method gets 405, an unknown method name 404 (both empty bodies);
//! 2. the API key (module `auth`): `X-API-Key`, then `Authorization: apikey <key>`, then
//!    `?api_key=`; a miss is 401 with an empty body; an empty configured key refuses every
//!    request unless `insecure`; then `http_api.rate_limit` (requests per second, 429 past it);
//! 3. the body: at most [`MAX_BODY_BYTES`] (413 beyond), valid JSON for the method's request
//!    (else 400 with the plain-text body `Bad Request`);
//! 4. the method: HTTP 200 with `{"result":{...}}`, or with `{"error":{"code":N,"message":"..."}}`.
//!    In transport error mode (configured, or the header `X-Centrifugo-Error-Mode: transport`)
//!    an error is an HTTP status with the bare `{"code","message"}` instead ([`ErrorMode`]).
//!
//! `/batch` is different: `{"commands":[{"publish":{...}},{"presence":{...}}],"parallel":bool}`
//! is answered at the top level with `{"replies":[{"publish":{...}},{"error":{...}},...]}`,
//! one reply per command, keyed by method name and never wrapped in `result`.
//!
//! Methods: `publish`, `broadcast`, `subscribe`, `unsubscribe`, `disconnect`, `refresh`,
//! `presence`, `presence_stats`, `history`, `history_remove`, `channels`, `info`, `rpc`,
//! `connections` (a PRO method in Centrifugo; across the cluster, paged: see `listing`) and
//! `batch`. Payloads (`data`, `info`) are raw JSON in both directions; binary payloads travel
//! base64-encoded in `b64`-prefixed fields (see `payload`).
//!
//! Differences from Centrifugo, each deliberate:
//! - history publications (and presence infos) that are not valid JSON are written as
//!   `b64data` (`b64conn_info`, `b64chan_info`) where Centrifugo fails the response with 500;
//! - `user` is required by `subscribe`, `unsubscribe`, `disconnect` and `refresh`, and
//!   `channel` by `unsubscribe` (Centrifugo would address anonymous users, or all channels);
//! - a custom disconnect code must be in 3000..=4999 with a reason under 123 bytes (else 107),
//!   because anything else cannot be sent in a WebSocket close frame as given;
//! - an invalid `channels` pattern is 107, not 100;
//! - request bodies are capped at [`MAX_BODY_BYTES`];
//! - not served: the legacy bare `/api` route (newline-separated `{"method","params"}`) and the
//!   PRO/map methods; `session` and `recover_since` are accepted and ignored.
//!
//! ```no_run
//! # async fn run(hub: herald_hub::Hub) -> std::io::Result<()> {
//! use herald_server::api::{ApiSettings, router};
//!
//! let settings = ApiSettings { key: "secret".into(), ..ApiSettings::default() };
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! axum::serve(listener, router(hub, settings)).await
//! # }
//! ```

pub(crate) mod auth;
mod channel;
mod connections;
pub(crate) mod dispatch;
pub(crate) mod error;
pub(crate) mod listing;
mod node;
mod payload;
mod publish;
pub(crate) mod request;
pub(crate) mod response;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse as _, Response};
use axum::routing::post;
use herald_hub::{Hub, RequestRateLimit};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

pub use error::ErrorMode;

use crate::telemetry::{self, Span};
use auth::Access;
use dispatch::{Call, Method};
use error::{error_response, json_response, plain_response};

/// Largest request body accepted (413 beyond). Centrifugo reads API bodies without a limit;
/// 16 MiB holds any realistic batch or broadcast while bounding what one request can make the
/// server buffer.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How the API is exposed (Centrifugo's `http_api.*`).
#[derive(Clone)]
pub struct ApiSettings {
    /// `http_api.key`: the key callers present. Empty refuses every call unless `insecure`.
    pub key: String,
    /// `http_api.insecure`: no key check at all.
    pub insecure: bool,
    /// `http_api.handler_prefix`: methods are served at `{prefix}/{method}`; a trailing `/` is
    /// ignored, and `""` serves them at `/{method}`.
    pub handler_prefix: String,
    /// `http_api.rate_limit` (Herald's): requests per second with the key (one bucket holding
    /// a second's worth; a batch counts once); past it 429. 0: no limit.
    pub rate_limit: u32,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            key: String::new(),
            insecure: false,
            handler_prefix: "/api".to_owned(),
            rate_limit: 0,
        }
    }
}

impl std::fmt::Debug for ApiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("ApiSettings")
            .field("key", &if self.key.is_empty() { "" } else { "<set>" })
            .field("insecure", &self.insecure)
            .field("handler_prefix", &self.handler_prefix)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// The API routes, with errors in response bodies unless a request asks for transport mode.
pub fn router(hub: Hub, settings: ApiSettings) -> Router {
    router_with_error_mode(hub, settings, ErrorMode::Body)
}

/// The API routes with a configured error mode (`http_api.error_mode`); a request can still
/// switch to transport mode with `X-Centrifugo-Error-Mode: transport`.
pub fn router_with_error_mode(hub: Hub, settings: ApiSettings, error_mode: ErrorMode) -> Router {
    let prefix = normalize_prefix(&settings.handler_prefix);
    let state = Arc::new(ApiState {
        hub,
        access: Access::new(settings.key, settings.insecure),
        rate_limit: RequestRateLimit::per_second(settings.rate_limit),
        error_mode,
    });
    let mut router = Router::new();
    for method in Method::ALL {
        let path = format!("{prefix}/{}", method.name());
        let handler = move |State(state): State<Arc<ApiState>>,
                            headers: HeaderMap,
                            uri: Uri,
                            body: Body| async move {
            handle(&state, method, &headers, &uri, body).await
        };
        router = router.route(&path, post(handler));
    }
    router.with_state(state)
}

struct ApiState {
    hub: Hub,
    access: Access,
    /// `http_api.rate_limit`; `None`: no limit.
    rate_limit: Option<RequestRateLimit>,
    error_mode: ErrorMode,
}

async fn handle(
    state: &ApiState,
    method: Method,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Response {
    if !state.access.allows(headers, uri) {
        tracing::debug!(
            method = method.name(),
            "API call refused: bad or missing key"
        );
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // After the key: a caller without it cannot spend the backend's requests.
    if let Some(limit) = &state.rate_limit
        && !limit.try_acquire()
    {
        state.hub.limit_counters().api_rate_limited();
        tracing::debug!(
            method = method.name(),
            "API call refused: http_api.rate_limit"
        );
        return plain_response(StatusCode::TOO_MANY_REQUESTS);
    }
    let started = Instant::now();
    // After the key and the limit too: only calls that run are traced.
    let span = telemetry::api_span(telemetry::Api::Http(uri.path()), method.name(), |name| {
        headers.get(name).and_then(|value| value.to_str().ok())
    });
    let response = span
        .run(async {
            match read_body(body).await {
                Ok(bytes) => {
                    let mode = ErrorMode::for_request(state.error_mode, headers);
                    call(&state.hub, method, &bytes, mode, &span).await
                }
                Err(response) => response,
            }
        })
        .await;
    span.http_status(response.status().as_u16());
    tracing::debug!(
        method = method.name(),
        status = response.status().as_u16(),
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "API call"
    );
    response
}

/// Reads the whole body, or the response for one that is too large (413) or broken (500).
pub(crate) async fn read_body(body: Body) -> Result<bytes::Bytes, Response> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            tracing::debug!(limit = MAX_BODY_BYTES, "API request body too large");
            Err(plain_response(StatusCode::PAYLOAD_TOO_LARGE))
        }
        Err(err) => {
            tracing::debug!(%err, "API request body could not be read");
            Err(plain_response(StatusCode::INTERNAL_SERVER_ERROR))
        }
    }
}

/// Decodes and runs one call; its error code (or a batch's size and errors) goes on `span`.
pub(crate) async fn call(
    hub: &Hub,
    method: Method,
    body: &[u8],
    mode: ErrorMode,
    span: &Span,
) -> Response {
    let call = match Call::decode(method, body) {
        Ok(call) => call,
        Err(err) => {
            tracing::debug!(method = method.name(), %err, "malformed API request");
            span.fail(None, "malformed request");
            return plain_response(StatusCode::BAD_REQUEST);
        }
    };
    match call {
        Call::Batch(batch) => {
            let response = dispatch::batch(hub, batch, "http").await;
            span.batch(response.replies.len(), response.errors());
            json_response(StatusCode::OK, &response)
        }
        Call::Command(command) => match dispatch::run(hub, command, "http").await {
            Ok(outcome) => json_response(StatusCode::OK, &outcome.as_result()),
            Err(err) => {
                span.fail(Some(err.code), err.message);
                error_response(err, mode)
            }
        },
    }
}

/// `/api/` and `/api` both give `/api`; `api` gives `/api`; `/` and `""` give `""`. axum
/// needs routes that start with `/`, so a prefix without one is fixed rather than rejected.
fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() || trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("/{trimmed}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(normalize_prefix("/api"), "/api");
        assert_eq!(normalize_prefix("/api/"), "/api");
        assert_eq!(normalize_prefix("api"), "/api");
        assert_eq!(normalize_prefix("/"), "");
        assert_eq!(normalize_prefix(""), "");
        assert_eq!(normalize_prefix("/v1/api//"), "/v1/api");
    }

    #[test]
    fn settings_debug_hides_the_key() {
        let settings = ApiSettings {
            key: "secret".into(),
            ..ApiSettings::default()
        };
        assert!(!format!("{settings:?}").contains("secret"));
    }
}
