//! Herald over HTTP-streaming and SSE (JSON), with commands through `/emulation`: the
//! transports the SDK falls back to when WebSocket is blocked.
//!
//! A connection is one raw HTTP/1.1 request on a `TcpStream` from the chosen source address:
//! `POST /connection/http_stream` with the connect and subscribe commands as the body, or
//! `GET /connection/sse?cf_connect=` with them in the query. The response is read
//! incrementally ([`codec::BodyDecoder`]): de-chunked, cut into lines or events, each a reply.
//! The connect reply carries the `session` and `node` that address later commands; the only
//! later command this client sends is the pong that answers each ping, as a short
//! `POST /emulation` on a new connection from the same source address. Pings come every 25 s
//! by default, so 19,000 streams make about 760 such requests a second, and the generator
//! holds no second long-lived socket per client; [`PONG_CONCURRENCY`] bounds how many are
//! open at once in a process.

mod codec;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use herald_proto::{DecodeError, Protocol, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use self::codec::{BodyDecoder, Layout};
use super::{Event, Flavor, Resume, Subscribed, Target, excerpt, herald};
use crate::error::ConnectError;
use crate::net;

/// The emulation endpoint (Herald's default `emulation.handler_prefix`).
const EMULATION_PATH: &str = "/emulation";

/// Pong requests open at once in this process; more wait for a permit. Below the open-file
/// reserve the workloads keep beside their connections.
pub(super) const PONG_CONCURRENCY: usize = 64;

/// Deadline of one pong request, connect to answer.
const PONG_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes asked of the socket per read.
const READ_SIZE: usize = 4096;

static PONGS: Semaphore = Semaphore::const_new(PONG_CONCURRENCY);

/// One open, subscribed streaming connection.
#[derive(Debug)]
pub(super) struct Stream {
    io: TcpStream,
    layout: Layout,
    decoder: BodyDecoder,
    /// Bytes read and not yet decoded (a partial chunk-size line at most, between reads).
    raw: BytesMut,
    /// Messages of the last read, kept for its allocation.
    messages: Vec<Bytes>,
    /// The pong, ready to send: `POST /emulation` with the `{}` command for this session.
    pong: Box<[u8]>,
    source: IpAddr,
    server: SocketAddr,
}

/// Whether `flavor` is one of the streaming ones this module opens.
pub(super) fn is_stream(flavor: Flavor) -> bool {
    layout(flavor).is_some()
}

/// The message layout of a streaming flavor; `None` for the WebSocket ones.
fn layout(flavor: Flavor) -> Option<Layout> {
    match flavor {
        Flavor::HeraldHttpStream => Some(Layout::Lines),
        Flavor::HeraldSse => Some(Layout::Events),
        Flavor::HeraldJson | Flavor::HeraldProtobuf | Flavor::Socketio | Flavor::Pusher => None,
    }
}

/// Opens the stream with the connect and subscribe commands in one request and waits for
/// both replies; publications that arrive before the subscribe reply go to `early`.
pub(super) async fn open(
    target: &Target,
    source: IpAddr,
    user: &str,
    channel: &str,
    resume: Option<&Resume>,
    early: &mut Vec<(u64, Bytes)>,
) -> Result<(Stream, Subscribed), ConnectError> {
    let layout = layout(target.flavor).ok_or(ConnectError::Protocol {
        stage: "connect",
        detail: format!("{} is not a streaming flavor", target.flavor.name()),
    })?;
    let timeout = target.connect_timeout;
    let mut io = net::connect(source, target.addr, timeout).await?;
    let token = match &target.token_secret {
        Some(secret) => herald::token(secret, user)?,
        None => String::new(),
    };
    let mut frame = Vec::new();
    for command in [
        herald::connect_command(token),
        herald::subscribe_command(channel, resume),
    ] {
        let bytes = herald_proto::encode_command(Protocol::Json, &command).map_err(|e| {
            ConnectError::Protocol {
                stage: "connect",
                detail: format!("encoding the command: {e}"),
            }
        })?;
        if !frame.is_empty() {
            frame.push(b'\n');
        }
        frame.extend_from_slice(&bytes);
    }
    let host = target.addr.to_string();
    let request = codec::open_request(layout, &host, target.flavor.path(), &frame);
    let deadline = Instant::now() + timeout;
    tokio::time::timeout_at(deadline, io.write_all(&request))
        .await
        .map_err(|_| ConnectError::Timeout { stage: "request" })?
        .map_err(|source| ConnectError::Io {
            stage: "request",
            source,
        })?;

    let mut raw = BytesMut::with_capacity(READ_SIZE);
    let head = loop {
        let parsed = codec::parse_head(&raw).map_err(|detail| ConnectError::Protocol {
            stage: "response",
            detail,
        })?;
        match parsed {
            Some(head) => break head,
            None => read(&mut io, &mut raw, deadline, "response").await?,
        }
    };
    if head.status != 200 {
        return Err(refused(&mut io, raw, head.status, deadline).await);
    }
    raw.advance(head.len);
    let mut stream = Stream {
        io,
        layout,
        decoder: BodyDecoder::new(layout, head.chunked),
        raw,
        messages: Vec::new(),
        pong: Box::default(),
        source,
        server: target.addr,
    };
    let subscribed = stream.await_replies(&host, deadline, early).await?;
    Ok((stream, subscribed))
}

impl Stream {
    /// Reads once from the socket and hands over every publication it completes; pings are
    /// answered here. `Err` says why the connection is over.
    pub(super) async fn next_event(
        &mut self,
        on_event: &mut impl FnMut(Event<'_>),
    ) -> Result<(), String> {
        self.raw.reserve(READ_SIZE);
        let n = self
            .io
            .read_buf(&mut self.raw)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err(if self.decoder.ended() {
                "the server ended the stream".to_owned()
            } else {
                "closed without ending the stream".to_owned()
            });
        }
        self.decoder.feed(&mut self.raw, &mut self.messages)?;
        let mut pings = 0;
        let mut closed = None;
        for message in self.messages.drain(..) {
            let replies = decode(self.layout, &message)
                .map_err(|e| format!("undecodable message ({e}): {}", excerpt(&message)))?;
            for reply in replies {
                if herald::is_ping(&reply) {
                    pings += 1;
                } else if let Some(push) = reply.push {
                    if let Some(publication) = push.r#pub {
                        on_event(Event::Publication {
                            offset: publication.offset,
                            data: &publication.data,
                        });
                    } else if let Some(disconnect) = push.disconnect {
                        closed.get_or_insert(format!(
                            "closed by the server: {} {}",
                            disconnect.code, disconnect.reason
                        ));
                    }
                } else if reply.id != 0 {
                    on_event(Event::Reply {
                        id: reply.id,
                        error: reply.error.map(|e| format!("{}: {}", e.code, e.message)),
                    });
                }
            }
        }
        if let Some(reason) = closed {
            return Err(reason);
        }
        for _ in 0..pings {
            self.send_pong().await?;
        }
        Ok(())
    }

    /// Reads until the connect reply (id 1) and the subscribe reply (id 2) have arrived.
    async fn await_replies(
        &mut self,
        host: &str,
        deadline: Instant,
        early: &mut Vec<(u64, Bytes)>,
    ) -> Result<Subscribed, ConnectError> {
        let mut connected = false;
        let mut pings = 0;
        loop {
            let stage = if connected { "subscribe" } else { "connect" };
            let protocol_error = |detail| ConnectError::Protocol { stage, detail };
            self.decoder
                .feed(&mut self.raw, &mut self.messages)
                .map_err(protocol_error)?;
            let mut subscribed = None;
            for message in std::mem::take(&mut self.messages) {
                let replies = decode(self.layout, &message)
                    .map_err(|e| protocol_error(format!("{e}: {}", excerpt(&message))))?;
                for mut reply in replies {
                    if matches!(reply.id, 1 | 2)
                        && let Some(error) = reply.error.take()
                    {
                        return Err(ConnectError::Rejected {
                            stage: if reply.id == 1 {
                                "connect"
                            } else {
                                "subscribe"
                            },
                            code: error.code,
                            message: error.message,
                        });
                    }
                    if reply.id == 1 {
                        let result = reply.connect.unwrap_or_default();
                        if result.session.is_empty() {
                            return Err(protocol_error(
                                "a connect reply without a session: is this an emulated \
                                 transport?"
                                    .to_owned(),
                            ));
                        }
                        self.pong = codec::emulation_request(
                            host,
                            EMULATION_PATH,
                            &result.session,
                            &result.node,
                            "{}",
                        )
                        .into_boxed_slice();
                        connected = true;
                    } else if reply.id == 2 {
                        subscribed = Some(herald::subscribed(reply));
                    } else if herald::is_ping(&reply) {
                        pings += 1;
                    } else if let Some(push) = reply.push {
                        if let Some(publication) = push.r#pub {
                            early.push((publication.offset, publication.data));
                        } else if let Some(disconnect) = push.disconnect {
                            return Err(ConnectError::Closed {
                                stage,
                                reason: format!(": {} {}", disconnect.code, disconnect.reason),
                            });
                        }
                    }
                }
            }
            if connected {
                for _ in 0..std::mem::take(&mut pings) {
                    self.send_pong().await.map_err(protocol_error)?;
                }
            }
            if let Some(subscribed) = subscribed.filter(|_| connected) {
                return Ok(subscribed);
            }
            if self.decoder.ended() {
                return Err(ConnectError::Closed {
                    stage,
                    reason: ": the stream ended".to_owned(),
                });
            }
            read(&mut self.io, &mut self.raw, deadline, stage).await?;
        }
    }

    /// Answers a ping: the `{}` command through `/emulation`, on a connection of its own from
    /// the stream's source address, closed by the server after its answer (204).
    async fn send_pong(&self) -> Result<(), String> {
        // The semaphore is never closed, so a permit always comes.
        let _permit = PONGS.acquire().await.map_err(|e| format!("pong: {e}"))?;
        let mut io = net::connect(self.source, self.server, PONG_TIMEOUT)
            .await
            .map_err(|e| format!("pong: {e}"))?;
        let deadline = Instant::now() + PONG_TIMEOUT;
        tokio::time::timeout_at(deadline, io.write_all(&self.pong))
            .await
            .map_err(|_| "pong: write timed out".to_owned())?
            .map_err(|e| format!("pong: write: {e}"))?;
        // Read to the end, so the server closes first and keeps the TIME_WAIT.
        let mut buf = BytesMut::with_capacity(512);
        loop {
            match tokio::time::timeout_at(deadline, io.read_buf(&mut buf)).await {
                Ok(Ok(0)) | Err(_) => break,
                Ok(Ok(_)) if buf.len() > codec::MAX_HEAD => {
                    return Err("pong: answer too long".to_owned());
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("pong: read: {e}")),
            }
        }
        let response = crate::http::take_response(&mut buf)
            .map_err(|e| format!("pong: {e}"))?
            .ok_or("pong: no complete answer")?;
        match response.status {
            200..=299 => Ok(()),
            status => Err(format!(
                "pong refused: HTTP {status} {}",
                excerpt(&response.body).trim()
            )),
        }
    }
}

/// The replies of one message: a line holds one (the codec takes several, newline-separated,
/// all the same); an event's data is one reply, whose JSON may span lines.
fn decode(layout: Layout, message: &[u8]) -> Result<Vec<Reply>, DecodeError> {
    match layout {
        Layout::Lines => herald_proto::decode_reply(Protocol::Json, message),
        Layout::Events => herald_proto::decode_message::<Reply>(Protocol::Json, message)
            .map(|reply| vec![reply])
            .or_else(|_| herald_proto::decode_reply(Protocol::Json, message)),
    }
}

/// Reads more of the response into `raw` before `deadline`.
async fn read(
    io: &mut TcpStream,
    raw: &mut BytesMut,
    deadline: Instant,
    stage: &'static str,
) -> Result<(), ConnectError> {
    raw.reserve(READ_SIZE);
    match tokio::time::timeout_at(deadline, io.read_buf(raw)).await {
        Err(_) => Err(ConnectError::Timeout { stage }),
        Ok(Err(source)) => Err(ConnectError::Io { stage, source }),
        Ok(Ok(0)) => Err(ConnectError::Closed {
            stage,
            reason: String::new(),
        }),
        Ok(Ok(_)) => Ok(()),
    }
}

/// The error for a refused stream (a status other than 200), with the start of the answer's
/// body when it arrives in time.
async fn refused(
    io: &mut TcpStream,
    mut raw: BytesMut,
    status: u16,
    deadline: Instant,
) -> ConnectError {
    let body = loop {
        match crate::http::take_response(&mut raw) {
            Ok(Some(response)) => break response.body,
            Ok(None) if read(io, &mut raw, deadline, "response").await.is_ok() => {}
            _ => break Bytes::new(),
        }
    };
    ConnectError::Handshake(format!("HTTP {status} {}", excerpt(&body).trim()))
}
