//! The admin web UI (`admin.*`): a page, a small script and a stylesheet built into the binary,
//! and the endpoints they call. Every piece of data goes through the server API's own
//! implementation (`crate::api::call`), so the UI shows the cluster as `/api` does.
//!
//! Routes, under `admin.handler_prefix` (`P`, `""` by default):
//!
//! - `GET P/`: the page; `GET P/admin/admin.js`, `GET P/admin/admin.css`: its assets;
//! - `POST P/admin/auth` with `{"password":".."}`: `{"token":".."}`, or 401. The token
//!   (`token.rs`) expires after [`TOKEN_TTL`];
//! - `POST P/admin/api/<method>`: any `/api` method, with `Authorization: token <token>`
//!   instead of the API key (401 without a valid one), answered exactly as `/api` answers;
//! - `GET P/admin/live?channel=<name>`: the channel's publications as Server-Sent Events
//!   (`live.rs`), same authorization.
//!
//! With `admin.insecure` no token is asked for.

mod live;
mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Redirect, Response};
use axum::routing::{get, post};
use herald_hub::Hub;
use serde::Deserialize;

use crate::api::ErrorMode;
use crate::api::dispatch::Method;
use crate::config::AdminSettings;

/// How long an admin token is valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(12 * 60 * 60);

const INDEX_HTML: &str = include_str!("assets/index.html");
const ADMIN_JS: &str = include_str!("assets/admin.js");
const ADMIN_CSS: &str = include_str!("assets/admin.css");

/// The UI's routes (call only with `admin.enabled`).
pub fn router(hub: Hub, settings: AdminSettings) -> Router {
    let prefix = settings.handler_prefix.clone();
    let state = Arc::new(AdminState { hub, settings });
    let mut router = Router::new()
        .route(
            &format!("{prefix}/"),
            get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            &format!("{prefix}/admin/admin.js"),
            get(|| async { asset(ADMIN_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            &format!("{prefix}/admin/admin.css"),
            get(|| async { asset(ADMIN_CSS, "text/css; charset=utf-8") }),
        )
        .route(&format!("{prefix}/admin/auth"), post(login))
        .route(&format!("{prefix}/admin/live"), get(live_view));
    if !prefix.is_empty() {
        let to = format!("{prefix}/");
        router = router.route(
            &prefix,
            get(move || async move { Redirect::permanent(&to) }),
        );
    }
    for method in Method::ALL {
        let path = format!("{prefix}/admin/api/{}", method.name());
        let handler = move |State(state): State<Arc<AdminState>>,
                            headers: HeaderMap,
                            body: Body| async move {
            call(&state, method, &headers, body).await
        };
        router = router.route(&path, post(handler));
    }
    router.with_state(state)
}

struct AdminState {
    hub: Hub,
    settings: AdminSettings,
}

impl AdminState {
    /// Whether the request carries a valid token (or none is needed).
    fn authorized(&self, headers: &HeaderMap) -> bool {
        if self.settings.insecure {
            return true;
        }
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("token "));
        token.is_some_and(|t| token::verify(&self.settings.secret, t, now_secs()))
    }
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
struct Login {
    #[serde(default)]
    password: String,
}

async fn login(State(state): State<Arc<AdminState>>, body: Body) -> Response {
    let Ok(bytes) = crate::api::read_body(body).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let Ok(login) = serde_json::from_slice::<Login>(&bytes) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let settings = &state.settings;
    if !settings.insecure && !token::password_matches(&settings.password, &login.password) {
        tracing::info!("admin login refused: wrong password");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let ttl = i64::try_from(TOKEN_TTL.as_secs()).unwrap_or(i64::MAX);
    let token = token::issue(&settings.secret, now_secs().saturating_add(ttl));
    axum::Json(serde_json::json!({ "token": token })).into_response()
}

async fn call(state: &AdminState, method: Method, headers: &HeaderMap, body: Body) -> Response {
    if !state.authorized(headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match crate::api::read_body(body).await {
        Ok(bytes) => {
            // The admin UI's own calls are not API calls to trace.
            let untraced = crate::telemetry::Span::none();
            crate::api::call(&state.hub, method, &bytes, ErrorMode::Body, &untraced).await
        }
        Err(response) => response,
    }
}

#[derive(Deserialize)]
struct LiveQuery {
    #[serde(default)]
    channel: String,
}

async fn live_view(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    Query(query): Query<LiveQuery>,
) -> Response {
    if !state.authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    live::live(&state.hub, &query.channel).await
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
