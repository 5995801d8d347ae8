//! Socket.IO v5 over Engine.IO v4, WebSocket transport only, against the reference peer in
//! `bench/peers/socketio`: it joins a room on a `subscribe` event (acknowledged) and emits
//! `message` events with the published data. Socket.IO has no standard token check, so no
//! token is sent (the peer would ignore it): its connects do less work than Herald's.

use std::time::Duration;

use bytes::Bytes;
use tokio_websockets::Message;

use super::socketio_packet::{
    self as packet, CONNECT, EnginePacket, Handshake, PONG, SocketKind, encode_event,
};
use super::{Ws, excerpt, recv, send};
use crate::error::ConnectError;

/// How long a pong write may take before the connection counts as dead.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Ack id of the `subscribe` event.
const SUBSCRIBE_ACK: u64 = 1;

/// Engine.IO open, Socket.IO connect to `/`, then `subscribe` with an ack.
pub(super) async fn handshake(
    ws: &mut Ws,
    room: &str,
    timeout: Duration,
    early: &mut Vec<Bytes>,
) -> Result<(), ConnectError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(tokio::time::Instant::now());

    let message = recv(ws, "engine.io open", left()).await?;
    let text = message.as_text().unwrap_or("");
    match packet::parse_engine(text) {
        Some(EnginePacket::Open(json)) => {
            serde_json::from_str::<Handshake>(json).map_err(|e| ConnectError::Protocol {
                stage: "engine.io open",
                detail: format!("{e}: {}", excerpt(json.as_bytes())),
            })?;
        }
        _ => return Err(unexpected("engine.io open", &message)),
    }

    send(ws, Message::text(CONNECT), "socket.io connect", left()).await?;
    loop {
        let message = recv(ws, "socket.io connect", left()).await?;
        match handshake_step(ws, &message, "socket.io connect", early).await? {
            Some(packet) if packet.0 == SocketKind::Connect => break,
            Some((SocketKind::ConnectError, data)) => {
                return Err(ConnectError::Rejected {
                    stage: "socket.io connect",
                    code: 0,
                    message: data,
                });
            }
            _ => {}
        }
    }

    let room_json = serde_json::Value::from(room).to_string();
    let subscribe = encode_event("subscribe", &[&room_json], Some(SUBSCRIBE_ACK));
    send(ws, Message::text(subscribe), "subscribe", left()).await?;
    loop {
        let message = recv(ws, "subscribe", left()).await?;
        if let Some((SocketKind::Ack, _)) = handshake_step(ws, &message, "subscribe", early).await?
        {
            return Ok(());
        }
    }
}

/// Hands over the `message` events of one frame and answers pings.
pub(super) async fn read_frame(
    ws: &mut Ws,
    message: &Message,
    on_data: &mut impl FnMut(&[u8]),
) -> Result<(), String> {
    let Some(text) = message.as_text() else {
        return Ok(()); // WebSocket control frames; binary attachments are not used.
    };
    match packet::parse_engine(text) {
        Some(EnginePacket::Ping) => send(ws, Message::text(PONG), "pong", WRITE_TIMEOUT)
            .await
            .map_err(|e| e.to_string()),
        Some(EnginePacket::Message(body)) => match packet::parse_socket(body) {
            Some(p) if p.kind == SocketKind::Event => {
                if let Some((name, args)) = packet::event_args(p.data)
                    && name == "message"
                    && let Some(data) = args.first()
                {
                    on_data(data.get().as_bytes());
                }
                Ok(())
            }
            Some(p) if p.kind == SocketKind::Disconnect => {
                Err("disconnected by the server (socket.io 1)".to_owned())
            }
            Some(_) => Ok(()),
            None => Err(format!(
                "malformed socket.io packet: {}",
                excerpt(body.as_bytes())
            )),
        },
        Some(EnginePacket::Close) => Err("closed by the server (engine.io 1)".to_owned()),
        Some(_) => Ok(()),
        None => Err(format!(
            "malformed engine.io packet: {}",
            excerpt(text.as_bytes())
        )),
    }
}

/// One frame during the handshake: pings are answered, `message` events kept in `early`;
/// returns the Socket.IO packet kind and data, if the frame held one.
async fn handshake_step(
    ws: &mut Ws,
    message: &Message,
    stage: &'static str,
    early: &mut Vec<Bytes>,
) -> Result<Option<(SocketKind, String)>, ConnectError> {
    let Some(text) = message.as_text() else {
        return Ok(None);
    };
    match packet::parse_engine(text) {
        Some(EnginePacket::Ping) => {
            send(ws, Message::text(PONG), stage, WRITE_TIMEOUT).await?;
            Ok(None)
        }
        Some(EnginePacket::Message(body)) => {
            let Some(p) = packet::parse_socket(body) else {
                return Err(unexpected(stage, message));
            };
            if p.kind == SocketKind::Event
                && let Some((name, args)) = packet::event_args(p.data)
                && name == "message"
                && let Some(data) = args.first()
            {
                early.push(Bytes::copy_from_slice(data.get().as_bytes()));
            }
            Ok(Some((p.kind, p.data.to_owned())))
        }
        Some(EnginePacket::Close) => Err(ConnectError::Closed {
            stage,
            reason: ": engine.io close".to_owned(),
        }),
        Some(_) => Ok(None),
        None => Err(unexpected(stage, message)),
    }
}

fn unexpected(stage: &'static str, message: &Message) -> ConnectError {
    ConnectError::Protocol {
        stage,
        detail: excerpt(message.as_payload()),
    }
}
