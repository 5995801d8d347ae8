//! Herald (Centrifugo client protocol v2) over WebSocket, JSON or Protobuf, through the
//! workspace's own codec in `herald-proto`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use herald_proto::{Command, ConnectRequest, Protocol, PublishRequest, Reply, SubscribeRequest};
use tokio_websockets::Message;

use super::{Event, Flavor, Resume, Subscribed, Ws, excerpt, recv, send};
use crate::error::ConnectError;

/// How long a pong write may take before the connection counts as dead.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The codec of a Herald flavor.
pub(super) fn protocol(flavor: Flavor) -> Protocol {
    if flavor == Flavor::HeraldProtobuf {
        Protocol::Protobuf
    } else {
        Protocol::Json
    }
}

/// An HS256 connection token for `user`, valid for a day.
pub(super) fn token(secret: &str, user: &str) -> Result<String, ConnectError> {
    #[derive(serde::Serialize)]
    struct Claims<'a> {
        sub: &'a str,
        exp: u64,
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = Claims {
        sub: user,
        exp: now + 24 * 3600,
    };
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())
        .map_err(|e| ConnectError::Handshake(format!("reading the HMAC secret: {e}")))?;
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)
        .map_err(|e| ConnectError::Handshake(format!("signing the token: {e}")))
}

/// What a handshake needs.
pub(super) struct Handshake<'a> {
    pub(super) token: String,
    pub(super) channel: &'a str,
    pub(super) resume: Option<&'a Resume>,
    pub(super) timeout: Duration,
}

/// Connect (id 1) then subscribe (id 2), waiting for each reply like the SDKs do.
pub(super) async fn handshake(
    ws: &mut Ws,
    protocol: Protocol,
    hs: Handshake<'_>,
    early: &mut Vec<(u64, Bytes)>,
) -> Result<Subscribed, ConnectError> {
    let Handshake {
        token,
        channel,
        resume,
        timeout,
    } = hs;
    send_command(ws, protocol, &connect_command(token), "connect", timeout).await?;
    await_reply(ws, protocol, 1, "connect", timeout, early).await?;

    let subscribe = subscribe_command(channel, resume);
    send_command(ws, protocol, &subscribe, "subscribe", timeout).await?;
    let reply = await_reply(ws, protocol, 2, "subscribe", timeout, early).await?;
    Ok(subscribed(reply))
}

/// The connect command (id 1) of every Herald flavor.
pub(super) fn connect_command(token: String) -> Command {
    Command {
        id: 1,
        connect: Some(ConnectRequest {
            token,
            name: "herald-bench".to_owned(),
            ..ConnectRequest::default()
        }),
        ..Command::default()
    }
}

/// The subscribe command (id 2), with recovery from `resume` when given.
pub(super) fn subscribe_command(channel: &str, resume: Option<&Resume>) -> Command {
    Command {
        id: 2,
        subscribe: Some(SubscribeRequest {
            channel: channel.to_owned(),
            recover: resume.is_some(),
            offset: resume.map_or(0, |r| r.offset),
            epoch: resume.map(|r| r.epoch.clone()).unwrap_or_default(),
            ..SubscribeRequest::default()
        }),
        ..Command::default()
    }
}

/// What a successful subscribe reply says.
pub(super) fn subscribed(reply: Reply) -> Subscribed {
    let result = reply.subscribe.unwrap_or_default();
    Subscribed {
        epoch: result.epoch,
        offset: result.offset,
        recoverable: result.recoverable,
        recovered: result.recovered,
        publications: result
            .publications
            .into_iter()
            .map(|p| (p.offset, p.data))
            .collect(),
    }
}

/// Sends a client-side publish with command `id`.
pub(super) async fn publish(
    ws: &mut Ws,
    protocol: Protocol,
    id: u32,
    channel: &str,
    data: Bytes,
) -> Result<(), ConnectError> {
    let command = Command {
        id,
        publish: Some(PublishRequest {
            channel: channel.to_owned(),
            data,
            ..PublishRequest::default()
        }),
        ..Command::default()
    };
    send_command(ws, protocol, &command, "publish", WRITE_TIMEOUT).await
}

/// Hands over the publications of one frame and answers pings.
pub(super) async fn read_frame(
    ws: &mut Ws,
    protocol: Protocol,
    message: &Message,
    on_event: &mut impl FnMut(Event<'_>),
) -> Result<(), String> {
    if !(message.is_text() || message.is_binary()) {
        return Ok(()); // WebSocket pings and pongs are answered by tokio-websockets.
    }
    let replies = herald_proto::decode_reply(protocol, message.as_payload())
        .map_err(|e| format!("undecodable frame ({e}): {}", excerpt(message.as_payload())))?;
    for reply in replies {
        if is_ping(&reply) {
            send_command(ws, protocol, &Command::default(), "pong", WRITE_TIMEOUT)
                .await
                .map_err(|e| e.to_string())?;
        } else if let Some(publication) = reply.push.and_then(|push| push.r#pub) {
            on_event(Event::Publication {
                offset: publication.offset,
                data: &publication.data,
            });
        } else if reply.id != 0 {
            on_event(Event::Reply {
                id: reply.id,
                error: reply.error.map(|e| format!("{}: {}", e.code, e.message)),
            });
        }
    }
    Ok(())
}

/// A server ping is a reply with neither id nor push (`{}` / `0x00`); the answer is an empty
/// command, else the server closes with 3012 after `pong_timeout`.
pub(super) fn is_ping(reply: &Reply) -> bool {
    reply.id == 0 && reply.push.is_none() && reply.error.is_none()
}

async fn send_command(
    ws: &mut Ws,
    protocol: Protocol,
    command: &Command,
    stage: &'static str,
    timeout: Duration,
) -> Result<(), ConnectError> {
    let bytes =
        herald_proto::encode_command(protocol, command).map_err(|e| ConnectError::Protocol {
            stage,
            detail: format!("encoding the command: {e}"),
        })?;
    let message = if protocol.is_binary() {
        Message::binary(bytes)
    } else {
        Message::text(bytes)
    };
    send(ws, message, stage, timeout).await
}

/// Reads until the reply with `id`; publications met on the way go to `early`, pings are
/// answered, an error reply is a rejection.
async fn await_reply(
    ws: &mut Ws,
    protocol: Protocol,
    id: u32,
    stage: &'static str,
    timeout: Duration,
    early: &mut Vec<(u64, Bytes)>,
) -> Result<Reply, ConnectError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let message = recv(ws, stage, left).await?;
        if !(message.is_text() || message.is_binary()) {
            continue;
        }
        let replies = herald_proto::decode_reply(protocol, message.as_payload()).map_err(|e| {
            ConnectError::Protocol {
                stage,
                detail: format!("{e}: {}", excerpt(message.as_payload())),
            }
        })?;
        let mut done = None;
        for reply in replies {
            if reply.id == id {
                if let Some(error) = reply.error {
                    return Err(ConnectError::Rejected {
                        stage,
                        code: error.code,
                        message: error.message,
                    });
                }
                done = Some(reply);
            } else if is_ping(&reply) {
                send_command(ws, protocol, &Command::default(), stage, timeout).await?;
            } else if let Some(publication) = reply.push.and_then(|push| push.r#pub) {
                early.push((publication.offset, publication.data));
            }
        }
        if let Some(reply) = done {
            return Ok(reply);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_carries_the_user() {
        let token = token("secret", "user-7").expect("signs");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(b"secret").expect("a non-empty secret"),
            &validation,
        )
        .expect("verifies");
        assert_eq!(data.claims["sub"], "user-7");
    }

    #[test]
    fn pings_are_empty_replies() {
        let ping = herald_proto::decode_reply(Protocol::Json, b"{}").expect("decodes");
        assert!(is_ping(&ping[0]));
        let ping = herald_proto::decode_reply(Protocol::Protobuf, &[0]).expect("decodes");
        assert!(is_ping(&ping[0]));
        let push = herald_proto::decode_reply(
            Protocol::Json,
            br#"{"push":{"channel":"c","pub":{"data":{"a":1},"offset":3}}}"#,
        )
        .expect("decodes");
        assert!(!is_ping(&push[0]));
    }
}
