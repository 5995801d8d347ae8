//! Clients of the servers under test, one per protocol, behind one type: [`Client`].
//!
//! A client is opened with [`Client::open`] (TCP from a chosen source address, WebSocket
//! upgrade, the protocol's connect, one subscription), then read with [`Client::next`], which
//! hands over the data of each publication and answers the protocol's heartbeats on the way.
//! Adding a protocol means a module with a `handshake` and a `read_frame`, and a [`Flavor`].

mod herald;
mod socketio;
pub mod socketio_packet;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::HeaderValue;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio_websockets::{ClientBuilder, Message, WebSocketStream};

use crate::error::ConnectError;
use crate::net;

/// The WebSocket of one benchmark connection.
pub(crate) type Ws = WebSocketStream<TcpStream>;

/// Which protocol a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    /// Herald / Centrifugo client protocol v2, JSON text frames.
    HeraldJson,
    /// Herald / Centrifugo client protocol v2, Protobuf binary frames (`centrifuge-protobuf`).
    HeraldProtobuf,
    /// Socket.IO v5 over Engine.IO v4, WebSocket transport only.
    Socketio,
}

impl Flavor {
    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::HeraldJson => "herald-json",
            Flavor::HeraldProtobuf => "herald-protobuf",
            Flavor::Socketio => "socketio",
        }
    }

    /// Whether the server speaks Herald's protocol and HTTP API.
    pub fn is_herald(self) -> bool {
        matches!(self, Flavor::HeraldJson | Flavor::HeraldProtobuf)
    }

    fn path(self) -> &'static str {
        match self {
            Flavor::HeraldJson | Flavor::HeraldProtobuf => "/connection/websocket",
            Flavor::Socketio => "/socket.io/?EIO=4&transport=websocket",
        }
    }
}

/// Where and how to connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The protocol.
    pub flavor: Flavor,
    /// The server's address (WebSocket and HTTP API share it).
    pub addr: SocketAddr,
    /// HMAC secret for connection JWTs (`client.token.hmac_secret_key`); none: no token.
    pub token_secret: Option<String>,
    /// Key for the HTTP API (`http_api.key`), sent as `X-API-Key`.
    pub api_key: Option<String>,
    /// Deadline of each step of opening a connection.
    pub connect_timeout: Duration,
}

/// One open, subscribed connection.
#[derive(Debug)]
pub struct Client {
    ws: Ws,
    flavor: Flavor,
    /// Publication data that arrived together with the handshake replies.
    early: Vec<Bytes>,
}

impl Client {
    /// Connects from `source`, authenticates as `user` and subscribes to `channel` (a room for
    /// Socket.IO). Every step has `target.connect_timeout`.
    pub async fn open(
        target: &Target,
        source: IpAddr,
        user: &str,
        channel: &str,
    ) -> Result<Client, ConnectError> {
        let timeout = target.connect_timeout;
        let stream = net::connect(source, target.addr, timeout).await?;
        let uri = format!("ws://{}{}", target.addr, target.flavor.path());
        let mut builder = ClientBuilder::new()
            .uri(&uri)
            .map_err(|e| ConnectError::Handshake(format!("uri {uri}: {e}")))?;
        if target.flavor == Flavor::HeraldProtobuf {
            builder = builder
                .add_header(
                    http::header::SEC_WEBSOCKET_PROTOCOL,
                    HeaderValue::from_static("centrifuge-protobuf"),
                )
                .map_err(|e| ConnectError::Handshake(e.to_string()))?;
        }
        let (mut ws, _) = tokio::time::timeout(timeout, builder.connect_on(stream))
            .await
            .map_err(|_| ConnectError::Timeout { stage: "upgrade" })?
            .map_err(|e| match e {
                tokio_websockets::Error::Io(source) => ConnectError::Io {
                    stage: "upgrade",
                    source,
                },
                other => ConnectError::Handshake(other.to_string()),
            })?;
        let mut early = Vec::new();
        match target.flavor {
            Flavor::HeraldJson | Flavor::HeraldProtobuf => {
                let token = match &target.token_secret {
                    Some(secret) => herald::token(secret, user)?,
                    None => String::new(),
                };
                let protocol = herald::protocol(target.flavor);
                herald::handshake(&mut ws, protocol, token, channel, timeout, &mut early).await?;
            }
            Flavor::Socketio => {
                socketio::handshake(&mut ws, channel, timeout, &mut early).await?;
            }
        }
        Ok(Client {
            ws,
            flavor: target.flavor,
            early,
        })
    }

    /// Waits for the next frame and calls `on_data` with the data of every publication in it
    /// (zero or more); heartbeats are answered here. `Err` says why the connection is over.
    /// There is no deadline: an idle subscriber is normal, and the caller ends the task.
    pub async fn next(&mut self, mut on_data: impl FnMut(&[u8])) -> Result<(), String> {
        if !self.early.is_empty() {
            for data in self.early.drain(..) {
                on_data(&data);
            }
            return Ok(());
        }
        let message = match self.ws.next().await {
            Some(Ok(message)) => message,
            Some(Err(err)) => return Err(format!("read: {err}")),
            None => return Err("closed without a close frame".to_owned()),
        };
        if let Some(reason) = close_reason(&message) {
            return Err(format!("closed by the server{reason}"));
        }
        match self.flavor {
            Flavor::HeraldJson | Flavor::HeraldProtobuf => {
                herald::read_frame(
                    &mut self.ws,
                    herald::protocol(self.flavor),
                    &message,
                    &mut on_data,
                )
                .await
            }
            Flavor::Socketio => socketio::read_frame(&mut self.ws, &message, &mut on_data).await,
        }
    }
}

/// `: <code> <reason>` for a close frame, `None` for other messages.
fn close_reason(message: &Message) -> Option<String> {
    if !message.is_close() {
        return None;
    }
    Some(match message.as_close() {
        Some((code, reason)) => format!(": {} {reason}", u16::from(code)),
        None => String::new(),
    })
}

/// Reads the next message during a handshake, within `timeout`.
async fn recv(
    ws: &mut Ws,
    stage: &'static str,
    timeout: Duration,
) -> Result<Message, ConnectError> {
    let message = tokio::time::timeout(timeout, ws.next())
        .await
        .map_err(|_| ConnectError::Timeout { stage })?;
    let message = match message {
        Some(Ok(message)) => message,
        Some(Err(tokio_websockets::Error::Io(source))) => {
            return Err(ConnectError::Io { stage, source });
        }
        Some(Err(err)) => {
            return Err(ConnectError::Protocol {
                stage,
                detail: err.to_string(),
            });
        }
        None => {
            return Err(ConnectError::Closed {
                stage,
                reason: String::new(),
            });
        }
    };
    if let Some(reason) = close_reason(&message) {
        return Err(ConnectError::Closed { stage, reason });
    }
    Ok(message)
}

/// Sends one message during a handshake, within `timeout`.
async fn send(
    ws: &mut Ws,
    message: Message,
    stage: &'static str,
    timeout: Duration,
) -> Result<(), ConnectError> {
    use futures_util::SinkExt;
    tokio::time::timeout(timeout, ws.send(message))
        .await
        .map_err(|_| ConnectError::Timeout { stage })?
        .map_err(|err| match err {
            tokio_websockets::Error::Io(source) => ConnectError::Io { stage, source },
            other => ConnectError::Protocol {
                stage,
                detail: other.to_string(),
            },
        })
}

/// A short, printable excerpt of a frame for error messages.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]);
    text.into_owned()
}
