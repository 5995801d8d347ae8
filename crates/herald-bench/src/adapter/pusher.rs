//! The Pusher Channels protocol 7 (Herald's `/app/<key>` endpoint, or any Pusher-compatible
//! server): `pusher:connection_established`, then `pusher:subscribe` to a public channel and
//! `pusher_internal:subscription_succeeded`; events carry the published data as a JSON string.
//! Publishing goes through the Pusher HTTP API (`POST /apps/<id>/events`, signed as the server
//! libraries sign it).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio_websockets::Message;

use super::{Ws, excerpt, recv, send};
use crate::error::ConnectError;

/// How long a pong write may take before the connection counts as dead.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The app the benchmark connects to and publishes through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PusherApp {
    /// `/apps/<id>/` of the HTTP API.
    pub id: String,
    /// `/app/<key>` of the WebSocket.
    pub key: String,
    /// Signs API requests.
    pub secret: String,
}

impl std::str::FromStr for PusherApp {
    type Err = String;

    /// `ID:KEY:SECRET`.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut parts = text.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(id), Some(key), Some(secret))
                if !id.is_empty() && !key.is_empty() && !secret.is_empty() =>
            {
                Ok(Self {
                    id: id.to_owned(),
                    key: key.to_owned(),
                    secret: secret.to_owned(),
                })
            }
            _ => Err(format!("expected ID:KEY:SECRET, got {text:?}")),
        }
    }
}

impl PusherApp {
    /// The WebSocket path of the app.
    pub(super) fn path(&self) -> String {
        format!("/app/{}?protocol=7&client=herald-bench&version=1", self.key)
    }

    /// The signed path and query of `POST /apps/<id>/events` for `body`.
    pub(crate) fn events_path(&self, body: &[u8]) -> String {
        let path = format!("/apps/{}/events", self.id);
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let query = format!(
            "auth_key={}&auth_timestamp={timestamp}&auth_version=1.0&body_md5={}",
            self.key,
            herald_pusher::api_auth::body_md5(body)
        );
        let signed = format!("POST\n{path}\n{query}");
        let signature = herald_pusher::sign::hmac_hex(&self.secret, signed.as_bytes());
        format!("{path}?{query}&auth_signature={signature}")
    }
}

/// One frame as the client reads it.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    event: std::borrow::Cow<'a, str>,
    /// A JSON string for events (the published data), an object for `pusher:error`.
    #[serde(default, borrow)]
    data: Option<&'a serde_json::value::RawValue>,
}

/// `pusher:connection_established`, then the subscription to `channel`.
pub(super) async fn handshake(
    ws: &mut Ws,
    channel: &str,
    timeout: Duration,
    early: &mut Vec<Bytes>,
) -> Result<(), ConnectError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
    let message = recv(ws, "pusher connection", left()).await?;
    let frame = parse(&message, "pusher connection")?;
    if frame.event == "pusher:error" {
        return Err(rejected("pusher connection", &frame));
    }
    if frame.event != "pusher:connection_established" {
        return Err(unexpected("pusher connection", &message));
    }
    let subscribe = serde_json::json!({
        "event": "pusher:subscribe",
        "data": { "channel": channel },
    });
    send(
        ws,
        Message::text(subscribe.to_string()),
        "subscribe",
        left(),
    )
    .await?;
    loop {
        let message = recv(ws, "subscribe", left()).await?;
        let frame = parse(&message, "subscribe")?;
        match &*frame.event {
            "pusher_internal:subscription_succeeded" => return Ok(()),
            "pusher:error" | "pusher:subscription_error" => {
                return Err(rejected("subscribe", &frame));
            }
            _ => {
                if let Some(data) = event_data(&frame) {
                    early.push(Bytes::from(data));
                }
            }
        }
    }
}

/// Hands over the data of an event frame and answers `pusher:ping`.
pub(super) async fn read_frame(
    ws: &mut Ws,
    message: &Message,
    on_data: &mut impl FnMut(&[u8]),
) -> Result<(), String> {
    if message.as_text().is_none() {
        return Ok(()); // WebSocket control frames.
    }
    let frame = parse(message, "read").map_err(|e| e.to_string())?;
    match &*frame.event {
        "pusher:ping" => {
            let pong = r#"{"event":"pusher:pong","data":{}}"#;
            send(ws, Message::text(pong), "pong", WRITE_TIMEOUT)
                .await
                .map_err(|e| e.to_string())
        }
        "pusher:error" => Err(format!(
            "pusher:error {}",
            frame.data.map_or("", |d| d.get())
        )),
        _ => {
            if let Some(data) = event_data(&frame) {
                on_data(data.as_bytes());
            }
            Ok(())
        }
    }
}

/// The published data of an event (its `data` string), `None` for the protocol's own events.
fn event_data(frame: &Frame<'_>) -> Option<String> {
    if frame.event.starts_with("pusher") {
        return None;
    }
    serde_json::from_str::<String>(frame.data?.get()).ok()
}

fn parse<'a>(message: &'a Message, stage: &'static str) -> Result<Frame<'a>, ConnectError> {
    let text = message.as_text().unwrap_or("");
    serde_json::from_str(text).map_err(|e| ConnectError::Protocol {
        stage,
        detail: format!("{e}: {}", excerpt(text.as_bytes())),
    })
}

fn rejected(stage: &'static str, frame: &Frame<'_>) -> ConnectError {
    let data = frame.data.map_or("", |d| d.get());
    let code = serde_json::from_str::<serde_json::Value>(data)
        .ok()
        .and_then(|v| v.get("code").and_then(serde_json::Value::as_i64))
        .unwrap_or(0);
    ConnectError::Rejected {
        stage,
        code: u32::try_from(code).unwrap_or(0),
        message: excerpt(data.as_bytes()),
    }
}

fn unexpected(stage: &'static str, message: &Message) -> ConnectError {
    ConnectError::Protocol {
        stage,
        detail: excerpt(message.as_payload()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_parse_from_the_command_line() {
        let app: PusherApp = "1:key:se:cret".parse().expect("valid");
        assert_eq!(app.secret, "se:cret");
        assert!("1:key".parse::<PusherApp>().is_err());
        assert!("::".parse::<PusherApp>().is_err());
    }

    #[test]
    fn event_data_is_the_string_inside() {
        let frame: Frame<'_> =
            serde_json::from_str(r#"{"event":"m","channel":"c","data":"{\"r\":1}"}"#)
                .expect("valid");
        assert_eq!(event_data(&frame).as_deref(), Some(r#"{"r":1}"#));
        let internal: Frame<'_> = serde_json::from_str(
            r#"{"event":"pusher_internal:subscription_succeeded","data":"{}"}"#,
        )
        .expect("valid");
        assert_eq!(event_data(&internal), None);
    }

    #[test]
    fn the_events_path_is_signed_like_the_server_libraries() {
        let app = PusherApp {
            id: "3".to_owned(),
            key: "278d425bdf160c739803".to_owned(),
            secret: "7ad3773142a6692b25b8".to_owned(),
        };
        let body = br#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
        let path = app.events_path(body);
        let (path_only, query) = path.split_once('?').expect("a query");
        assert_eq!(path_only, "/apps/3/events");
        let pairs: Vec<(String, String)> = query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let request = herald_pusher::api_auth::ApiRequest {
            method: "POST",
            path: path_only,
            query: &pairs,
            body,
        };
        let now = pairs
            .iter()
            .find(|(k, _)| k == "auth_timestamp")
            .and_then(|(_, v)| v.parse().ok())
            .expect("a timestamp");
        assert_eq!(
            herald_pusher::api_auth::verify(&request, &app.key, &app.secret, now),
            Ok(())
        );
    }
}
