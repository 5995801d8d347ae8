//! The Pusher HTTP API, `/apps/<id>/...`, as the Pusher server libraries call it: events
//! (one or many channels, `socket_id` exclusion, `info`), batches, channel listings and
//! attributes, presence users, and terminating a user's connections.
//!
//! Every request is signed (`auth_key`, `auth_timestamp` within 600 s of the server's clock,
//! `auth_signature`, `body_md5` when there is a body): a request that is not gets 401 with the
//! reason (the string that should have been signed, for a wrong signature); a disabled app
//! 403; an event over the app's `max_event_size` 413; anything malformed 400; an unknown app
//! 404. Events go through the hub like the WebSocket's client events, so they reach the
//! app's clients on every node.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, RawPathParams, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use herald_hub::{Disconnect, Hub, Target, VerbatimPublish};
use herald_pusher::api::{self, ApiError, InfoAttribute, Trigger};
use herald_pusher::api_auth::{self, ApiRequest};
use herald_pusher::{Channel, ChannelKind, close, server};
use serde_json::{Map, Value, json};

use super::apps::{App, Apps};
use super::{CACHE_TTL, members};

#[derive(Clone)]
struct ApiState {
    hub: Hub,
    apps: Arc<Apps>,
}

/// The API's routes.
pub(crate) fn router(hub: Hub, apps: Arc<Apps>) -> Router {
    Router::new()
        .route("/apps/{id}/events", post(events))
        .route("/apps/{id}/batch_events", post(batch_events))
        .route("/apps/{id}/channels", get(channels))
        .route("/apps/{id}/channels/{name}", get(channel))
        .route("/apps/{id}/channels/{name}/users", get(users))
        .route(
            "/apps/{id}/users/{user}/terminate_connections",
            post(terminate_connections),
        )
        .with_state(ApiState { hub, apps })
}

/// A refused request: its status and the text of the body.
#[derive(Debug)]
struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let Refused(status, message) = self;
        (status, [(header::CONTENT_TYPE, "text/plain")], message).into_response()
    }
}

impl From<ApiError> for Refused {
    fn from(error: ApiError) -> Self {
        let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
        Self(status, error.message)
    }
}

impl From<herald_hub::HubError> for Refused {
    fn from(error: herald_hub::HubError) -> Self {
        tracing::warn!(%error, "pusher api call failed in the node");
        Self(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
    }
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A request whose signature checked out, for the app its path names (`{id}`): what every
/// handler starts from.
struct Signed {
    app: Arc<App>,
    query: Vec<(String, String)>,
    body: Bytes,
}

impl Signed {
    /// A query parameter.
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl FromRequest<ApiState> for Signed {
    type Rejection = Refused;

    async fn from_request(request: Request, state: &ApiState) -> Result<Self, Refused> {
        let bad = |why: String| Refused(StatusCode::BAD_REQUEST, why);
        let (mut parts, body) = request.into_parts();
        let params = RawPathParams::from_request_parts(&mut parts, state)
            .await
            .map_err(|e| bad(e.body_text()))?;
        let id = params
            .iter()
            .find(|(name, _)| *name == "id")
            .map(|(_, id)| id.to_owned())
            .ok_or_else(|| bad("no app id in the path".to_owned()))?;
        let Query(query) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|e| bad(e.body_text()))?;
        let (method, path) = (parts.method.clone(), parts.uri.path().to_owned());
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| Refused(e.status(), e.body_text()))?;
        let app = state
            .apps
            .by_id(&id)
            .ok_or_else(|| Refused(StatusCode::NOT_FOUND, format!("unknown app {id:?}")))?
            .clone();
        let request = ApiRequest {
            method: method.as_str(),
            path: &path,
            query: &query,
            body: &body,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        api_auth::verify(&request, &app.settings.key, &app.settings.secret, now).map_err(
            |err| {
                tracing::info!(app = %id, %path, %err, "pusher api request refused");
                Refused(StatusCode::UNAUTHORIZED, err.to_string())
            },
        )?;
        if !app.settings.enabled {
            return Err(Refused(StatusCode::FORBIDDEN, "app disabled".to_owned()));
        }
        Ok(Self { app, query, body })
    }
}

async fn events(State(state): State<ApiState>, signed: Signed) -> Result<Response, Refused> {
    let app = &signed.app;
    let trigger = Trigger::parse(&signed.body, app.settings.max_event_size)?;
    for channel in &trigger.channels {
        api::check_info_applies(channel, &trigger.info)?;
    }
    trigger_event(&state.hub, app, &trigger).await?;
    if trigger.info.is_empty() {
        return Ok(ok(json!({})));
    }
    let counts = Counts::read(&state.hub, app, &trigger.info).await?;
    let mut channels = Map::new();
    for channel in &trigger.channels {
        let info = attributes(&state.hub, app, channel, &trigger.info, &counts).await?;
        channels.insert(channel.to_string(), Value::Object(info));
    }
    Ok(ok(json!({ "channels": channels })))
}

async fn batch_events(State(state): State<ApiState>, signed: Signed) -> Result<Response, Refused> {
    let app = &signed.app;
    let batch = Trigger::parse_batch(&signed.body, app.settings.max_event_size)?;
    for trigger in &batch {
        for channel in &trigger.channels {
            api::check_info_applies(channel, &trigger.info)?;
        }
    }
    for trigger in &batch {
        trigger_event(&state.hub, app, trigger).await?;
    }
    if batch.iter().all(|t| t.info.is_empty()) {
        return Ok(ok(json!({})));
    }
    let asked: Vec<InfoAttribute> = batch.iter().flat_map(|t| t.info.clone()).collect();
    let counts = Counts::read(&state.hub, app, &asked).await?;
    let mut answers = Vec::with_capacity(batch.len());
    for trigger in &batch {
        let mut info = Map::new();
        if let Some(channel) = trigger.channels.first() {
            info = attributes(&state.hub, app, channel, &trigger.info, &counts).await?;
        }
        answers.push(Value::Object(info));
    }
    Ok(ok(json!({ "batch": answers })))
}

/// Publishes one trigger to each of its channels, encoded once per channel.
async fn trigger_event(hub: &Hub, app: &App, trigger: &Trigger) -> Result<(), Refused> {
    // The API's `data` is a string; clients get it as a JSON string.
    let data = serde_json::value::to_raw_value(&trigger.data)
        .map_err(|err| Refused(StatusCode::BAD_REQUEST, err.to_string()))?;
    for channel in &trigger.channels {
        let frame = server::channel_event(channel, &trigger.name, &data, None);
        let options = VerbatimPublish {
            exclude: trigger.socket_id.map(|id| id.to_string()),
            keep: channel.kind().is_cache().then_some((1, CACHE_TTL)),
        };
        hub.publish_verbatim(&app.channel_key(channel), frame.into(), options)
            .await?;
    }
    Ok(())
}

/// Subscription counts of the app's channels on every node, read once per request (one
/// survey of the cluster) when the request asks for them.
struct Counts(Option<HashMap<String, usize>>);

impl Counts {
    /// Reads them if `info` asks for `subscription_count`.
    async fn read(hub: &Hub, app: &App, info: &[InfoAttribute]) -> Result<Self, Refused> {
        if !info.contains(&InfoAttribute::SubscriptionCount) {
            return Ok(Self(None));
        }
        Self::read_all(hub, app).await
    }

    async fn read_all(hub: &Hub, app: &App) -> Result<Self, Refused> {
        let listed = hub.verbatim_channels(app.scope()).await?;
        Ok(Self(Some(listed.into_iter().collect())))
    }

    /// The count of a channel key (0 when no node has a subscriber, or none was read).
    fn of(&self, key: &str) -> usize {
        self.0
            .as_ref()
            .and_then(|counts| counts.get(key))
            .copied()
            .unwrap_or(0)
    }
}

/// The attributes `info` asks about `channel`.
async fn attributes(
    hub: &Hub,
    app: &App,
    channel: &Channel,
    info: &[InfoAttribute],
    counts: &Counts,
) -> Result<Map<String, Value>, Refused> {
    let key = app.channel_key(channel);
    let mut out = Map::new();
    for attribute in info {
        match attribute {
            InfoAttribute::UserCount => {
                let present = hub.verbatim_presence(&key).await?;
                out.insert("user_count".into(), members::count(&present).into());
            }
            InfoAttribute::SubscriptionCount => {
                out.insert("subscription_count".into(), counts.of(&key).into());
            }
            InfoAttribute::Cache => {
                if let Some(frame) = hub.verbatim_last(&key).await? {
                    out.insert("cache".into(), cached(&frame));
                }
            }
        }
    }
    Ok(out)
}

/// `info=cache`'s answer: the cached event's `event` and `data`, and its remaining TTL (the
/// whole TTL: the engines do not tell how much of it is left).
fn cached(frame: &[u8]) -> Value {
    let event: Value = serde_json::from_slice(frame).unwrap_or(Value::Null);
    json!({
        "event": event.get("event").cloned().unwrap_or(Value::Null),
        "data": event.get("data").cloned().unwrap_or(Value::Null),
        "ttl": CACHE_TTL.as_secs(),
    })
}

async fn channels(State(state): State<ApiState>, signed: Signed) -> Result<Response, Refused> {
    let app = &signed.app;
    let prefix = signed.param("filter_by_prefix");
    let info = api::parse_info(signed.param("info").unwrap_or(""))?;
    api::check_channels_query(prefix, &info)?;
    let counts = Counts::read_all(&state.hub, app).await?;
    let mut keys: Vec<&String> = counts.0.iter().flat_map(|c| c.keys()).collect();
    keys.sort_unstable();
    let mut channels = Map::new();
    for key in keys {
        let Some(name) = app.channel_of(key) else {
            continue;
        };
        if prefix.is_some_and(|p| !name.starts_with(p)) {
            continue;
        }
        let Ok(channel) = Channel::parse(name) else {
            continue;
        };
        let attributes = attributes(&state.hub, app, &channel, &info, &counts).await?;
        channels.insert(name.to_owned(), Value::Object(attributes));
    }
    Ok(ok(json!({ "channels": channels })))
}

/// The channel a path's `{name}` names (400 for an invalid name).
fn named(name: &str) -> Result<Channel, Refused> {
    Channel::parse(name).map_err(|e| Refused(StatusCode::BAD_REQUEST, e.to_string()))
}

async fn channel(
    State(state): State<ApiState>,
    Path((_, name)): Path<(String, String)>,
    signed: Signed,
) -> Result<Response, Refused> {
    let app = &signed.app;
    let channel = named(&name)?;
    let info = api::parse_info(signed.param("info").unwrap_or(""))?;
    api::check_info_applies(&channel, &info)?;
    // `occupied` needs the count whatever `info` asks.
    let counts = Counts::read_all(&state.hub, app).await?;
    let mut body = attributes(&state.hub, app, &channel, &info, &counts).await?;
    let occupied = counts.of(&app.channel_key(&channel)) > 0;
    body.insert("occupied".into(), occupied.into());
    Ok(ok(Value::Object(body)))
}

async fn users(
    State(state): State<ApiState>,
    Path((_, name)): Path<(String, String)>,
    signed: Signed,
) -> Result<Response, Refused> {
    let app = &signed.app;
    let channel = named(&name)?;
    if !matches!(channel.kind(), ChannelKind::Presence { .. }) {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            "users are only listed for presence channels".to_owned(),
        ));
    }
    let present = state
        .hub
        .verbatim_presence(&app.channel_key(&channel))
        .await?;
    let users: Vec<Value> = members::members(&present)
        .into_iter()
        .map(|(id, _)| json!({ "id": id }))
        .collect();
    Ok(ok(json!({ "users": users })))
}

async fn terminate_connections(
    State(state): State<ApiState>,
    Path((_, user)): Path<(String, String)>,
    signed: Signed,
) -> Result<Response, Refused> {
    let target = Target {
        user: signed.app.user_key(&user),
        ..Default::default()
    };
    let disconnect = Disconnect {
        code: close::UNAUTHORIZED,
        reason: "connection terminated by the app".to_owned(),
    };
    state.hub.disconnect(&target, disconnect).await?;
    Ok(ok(json!({})))
}
