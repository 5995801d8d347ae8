//! Clients of the servers under test, one per protocol, behind one type: [`Client`].
//!
//! A client is opened with [`Client::open`] (TCP from a chosen source address, WebSocket
//! upgrade, the protocol's connect, one subscription), then read with [`Client::next`], which
//! hands over the data of each publication and answers the protocol's heartbeats on the way.
//! Adding a protocol means a module with a `handshake` and a `read_frame`, and a [`Flavor`].
//! Herald's HTTP-streaming and SSE transports are not WebSockets: their client is a
//! `stream` module of its own, and [`Client`] holds either connection.

mod herald;
mod pusher;
mod socketio;
pub mod socketio_packet;
mod stream;

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
pub use pusher::PusherApp;

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
    /// Herald over HTTP-streaming (`POST /connection/http_stream`), JSON; later commands
    /// (pongs) through `POST /emulation`. Needs `"http_stream":{"enabled":true}`.
    HeraldHttpStream,
    /// Herald over Server-Sent Events (`GET /connection/sse`), JSON; later commands (pongs)
    /// through `POST /emulation`. Needs `"sse":{"enabled":true}`.
    HeraldSse,
    /// The Pusher Channels protocol 7 (`/app/<key>`), a public channel; publishing through
    /// the Pusher HTTP API. Needs `--pusher-app ID:KEY:SECRET`.
    Pusher,
}

impl Flavor {
    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::HeraldJson => "herald-json",
            Flavor::HeraldProtobuf => "herald-protobuf",
            Flavor::Socketio => "socketio",
            Flavor::HeraldHttpStream => "herald-http-stream",
            Flavor::HeraldSse => "herald-sse",
            Flavor::Pusher => "pusher",
        }
    }

    /// Whether the server speaks Herald's protocol and HTTP API.
    pub fn is_herald(self) -> bool {
        !matches!(self, Flavor::Socketio | Flavor::Pusher)
    }

    /// Whether the connection is a WebSocket (client commands on the same socket).
    pub fn is_websocket(self) -> bool {
        !stream::is_stream(self)
    }

    fn path(self) -> &'static str {
        match self {
            Flavor::HeraldJson | Flavor::HeraldProtobuf => "/connection/websocket",
            Flavor::Socketio => "/socket.io/?EIO=4&transport=websocket",
            Flavor::HeraldHttpStream => "/connection/http_stream",
            Flavor::HeraldSse => "/connection/sse",
            // The key goes in the path: see `PusherApp::path`.
            Flavor::Pusher => "/app/",
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
    /// Offer permessage-deflate and insist that the server accepts it (`connect --deflate`).
    #[serde(default)]
    pub offer_deflate: bool,
    /// The app of the Pusher flavor.
    #[serde(default)]
    pub pusher_app: Option<PusherApp>,
}

/// One open, subscribed connection.
#[derive(Debug)]
pub struct Client {
    conn: Conn,
    flavor: Flavor,
    /// Publications (offset, data) that arrived together with the handshake replies.
    early: Vec<(u64, Bytes)>,
    /// Id of the next client command (connect and subscribe used 1 and 2).
    next_id: u32,
}

/// Where a Herald subscription resumes: `{"recover":true,"offset":..,"epoch":..}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resume {
    /// Offset of the last publication seen.
    pub offset: u64,
    /// Epoch of the stream, from the first subscribe reply.
    pub epoch: String,
}

/// What the subscribe reply said about the stream (Herald only).
#[derive(Debug, Clone, Default)]
pub struct Subscribed {
    /// The stream's epoch.
    pub epoch: String,
    /// The stream's top offset.
    pub offset: u64,
    /// Whether the subscription is recoverable.
    pub recoverable: bool,
    /// Whether a requested recovery succeeded.
    pub recovered: bool,
    /// Missed publications (offset, data) carried by the reply, in order.
    pub publications: Vec<(u64, Bytes)>,
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
        Self::open_resuming(target, source, user, channel, None)
            .await
            .map(|(client, _)| client)
    }

    /// [`Client::open`] that, for Herald, subscribes with recovery from `resume` when given
    /// and returns what the subscribe reply said (`None` for Socket.IO). Publications that
    /// arrived before the reply stay queued for [`Client::next`] and [`Client::next_event`].
    pub async fn open_resuming(
        target: &Target,
        source: IpAddr,
        user: &str,
        channel: &str,
        resume: Option<&Resume>,
    ) -> Result<(Client, Option<Subscribed>), ConnectError> {
        if !target.flavor.is_websocket() {
            let mut early = Vec::new();
            let (stream, subscribed) =
                stream::open(target, source, user, channel, resume, &mut early).await?;
            let client = Client {
                conn: Conn::Stream(stream),
                flavor: target.flavor,
                early,
                next_id: 3,
            };
            return Ok((client, Some(subscribed)));
        }
        let timeout = target.connect_timeout;
        let stream = net::connect(source, target.addr, timeout).await?;
        let path = match (&target.pusher_app, target.flavor) {
            (Some(app), Flavor::Pusher) => app.path(),
            (None, Flavor::Pusher) => {
                return Err(ConnectError::Handshake(
                    "the pusher protocol needs --pusher-app ID:KEY:SECRET".to_owned(),
                ));
            }
            _ => target.flavor.path().to_owned(),
        };
        let uri = format!("ws://{}{path}", target.addr);
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
        if target.offer_deflate {
            builder = builder
                .add_header(
                    http::header::SEC_WEBSOCKET_EXTENSIONS,
                    HeaderValue::from_static("permessage-deflate; client_max_window_bits"),
                )
                .map_err(|e| ConnectError::Handshake(e.to_string()))?;
        }
        let (mut ws, response) = tokio::time::timeout(timeout, builder.connect_on(stream))
            .await
            .map_err(|_| ConnectError::Timeout { stage: "upgrade" })?
            .map_err(|e| match e {
                tokio_websockets::Error::Io(source) => ConnectError::Io {
                    stage: "upgrade",
                    source,
                },
                other => ConnectError::Handshake(other.to_string()),
            })?;
        if target.offer_deflate {
            let accepted = response
                .headers()
                .get(http::header::SEC_WEBSOCKET_EXTENSIONS)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("permessage-deflate"));
            if !accepted {
                return Err(ConnectError::Handshake(
                    "the server did not accept permessage-deflate (websocket.compression off?)"
                        .to_owned(),
                ));
            }
        }
        let mut early = Vec::new();
        let mut subscribed = None;
        match target.flavor {
            Flavor::HeraldJson
            | Flavor::HeraldProtobuf
            | Flavor::HeraldHttpStream
            | Flavor::HeraldSse => {
                let token = match &target.token_secret {
                    Some(secret) => herald::token(secret, user)?,
                    None => String::new(),
                };
                let protocol = herald::protocol(target.flavor);
                let hs = herald::Handshake {
                    token,
                    channel,
                    resume,
                    timeout,
                };
                subscribed = Some(herald::handshake(&mut ws, protocol, hs, &mut early).await?);
            }
            Flavor::Socketio => {
                let mut data = Vec::new();
                socketio::handshake(&mut ws, channel, timeout, &mut data).await?;
                early.extend(data.into_iter().map(|d| (0, d)));
            }
            Flavor::Pusher => {
                let mut data = Vec::new();
                pusher::handshake(&mut ws, channel, timeout, &mut data).await?;
                early.extend(data.into_iter().map(|d| (0, d)));
            }
        }
        let client = Client {
            conn: Conn::Ws(ws),
            flavor: target.flavor,
            early,
            next_id: 3,
        };
        Ok((client, subscribed))
    }

    /// Sends a client-side `publish` of `data` to `channel` (Herald only); returns the
    /// command's id, which the reply carries (see [`Client::next_event`]).
    pub async fn publish(&mut self, channel: &str, data: Bytes) -> Result<u32, String> {
        let Conn::Ws(ws) = &mut self.conn else {
            return Err("client-side publish needs a WebSocket flavor".to_owned());
        };
        if !self.flavor.is_herald() {
            return Err("client-side publish needs the Herald protocol".to_owned());
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(3);
        herald::publish(ws, herald::protocol(self.flavor), id, channel, data)
            .await
            .map_err(|e| e.to_string())?;
        Ok(id)
    }

    /// Waits for the next frame and calls `on_data` with the data of every publication in it
    /// (zero or more); heartbeats are answered here. `Err` says why the connection is over.
    /// There is no deadline: an idle subscriber is normal, and the caller ends the task.
    pub async fn next(&mut self, mut on_data: impl FnMut(&[u8])) -> Result<(), String> {
        self.next_event(|event| {
            if let Event::Publication { data, .. } = event {
                on_data(data);
            }
        })
        .await
    }

    /// [`Client::next`] with every event: publications with their offsets (0 for Socket.IO)
    /// and replies to commands sent with [`Client::publish`].
    pub async fn next_event(&mut self, mut on_event: impl FnMut(Event<'_>)) -> Result<(), String> {
        if !self.early.is_empty() {
            for (offset, data) in self.early.drain(..) {
                on_event(Event::Publication {
                    offset,
                    data: &data,
                });
            }
            return Ok(());
        }
        let ws = match &mut self.conn {
            Conn::Ws(ws) => ws,
            Conn::Stream(stream) => return stream.next_event(&mut on_event).await,
        };
        let message = match ws.next().await {
            Some(Ok(message)) => message,
            Some(Err(err)) => return Err(format!("read: {err}")),
            None => return Err("closed without a close frame".to_owned()),
        };
        if let Some(reason) = close_reason(&message) {
            return Err(format!("closed by the server{reason}"));
        }
        match self.flavor {
            Flavor::HeraldJson
            | Flavor::HeraldProtobuf
            | Flavor::HeraldHttpStream
            | Flavor::HeraldSse => {
                herald::read_frame(ws, herald::protocol(self.flavor), &message, &mut on_event).await
            }
            Flavor::Socketio => {
                let mut on_data = |data: &[u8]| on_event(Event::Publication { offset: 0, data });
                socketio::read_frame(ws, &message, &mut on_data).await
            }
            Flavor::Pusher => {
                let mut on_data = |data: &[u8]| on_event(Event::Publication { offset: 0, data });
                pusher::read_frame(ws, &message, &mut on_data).await
            }
        }
    }
}

/// The connection of a [`Client`].
#[derive(Debug)]
enum Conn {
    /// Every flavor but the streaming ones.
    Ws(Ws),
    /// HTTP-streaming or SSE (about the size of a WebSocket, so not boxed).
    Stream(stream::Stream),
}

/// Something a connection received.
#[derive(Debug)]
pub enum Event<'a> {
    /// A publication on the subscribed channel.
    Publication {
        /// Its offset in the channel's stream (0 when the server sends none).
        offset: u64,
        /// Its data.
        data: &'a [u8],
    },
    /// The reply to command `id`, with the error message if it failed.
    Reply {
        /// The command's id.
        id: u32,
        /// `code: message` of an error reply.
        error: Option<String>,
    },
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
