//! The whole server in the test process (the mini-redis pattern): `server::serve` on a
//! 127.0.0.1:0 listener with a oneshot as its shutdown signal, and clients over real sockets.
//! `tokio-websockets` plays a well-behaved client; [`RawClient`] writes hand-made upgrade
//! requests and (masked) frames and reads the server's (unmasked) frames byte by byte, for
//! what a library client would not do: fragment, break the protocol, stop reading.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use herald_server::config::{self, Format};
use herald_server::jwt::JwtVerifier;

/// Bound on every wait for the server. Generous: only a hang or a bug reaches it.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// `websocket.message_size_limit` of these tests.
const SIZE_LIMIT: usize = 1024;

const HMAC_SECRET: &str = "websocket-test-secret";

/// The configuration most tests use: anonymous clients connect without a token, HMAC tokens
/// for named users, an open channel without namespace that keeps presence and history, and
/// an API without a key.
pub(crate) fn base_config() -> Value {
    json!({
        "client": {
            "allow_anonymous_connect_without_token": true,
            "token": {"hmac_secret_key": HMAC_SECRET},
        },
        "http_api": {"insecure": true},
        "websocket": {"message_size_limit": SIZE_LIMIT},
        "shutdown": {"timeout": "5s"},
        "channel": {"without_namespace": {
            "allow_subscribe_for_client": true,
            "allow_subscribe_for_anonymous": true,
            "allow_publish_for_subscriber": true,
            "allow_publish_for_anonymous": true,
            "allow_presence_for_subscriber": true,
            "allow_presence_for_anonymous": true,
            "allow_history_for_subscriber": true,
            "allow_history_for_anonymous": true,
            "presence": true,
            "history_size": 100,
            "history_ttl": "300s",
        }},
    })
}

/// A running server; dropping it (or [`Server::stop`]) fires the shutdown signal.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    pub(crate) async fn start(config: Value) -> Self {
        let loaded = config::load_str(&config.to_string(), Format::Json, Vec::new())
            .expect("the test configuration loads");
        assert!(loaded.warnings().is_empty(), "{:?}", loaded.warnings());
        let validated = loaded.config.validate().expect("valid configuration");
        let verifier = JwtVerifier::from_config(&validated.tokens).expect("token keys");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            // A dropped sender stops the server too.
            let _ = stopped.await;
        };
        let task = tokio::spawn(herald_server::server::serve(
            validated,
            Arc::new(verifier),
            listener,
            shutdown,
        ));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    fn url(&self) -> String {
        format!("ws://{}/connection/websocket", self.addr)
    }

    /// Fires the shutdown signal.
    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One frame as the server sent it.
#[derive(Debug)]
struct Frame {
    fin: bool,
    opcode: u8,
    payload: Vec<u8>,
}

const OP_CONTINUATION: u8 = 0x0;
pub(crate) const OP_TEXT: u8 = 0x1;
pub(crate) const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;
pub(crate) const FIN: u8 = 0x80;
pub(crate) const RSV1: u8 = 0x40;

/// What a client must put on every frame (RFC 6455 §5.3); any value does.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A client frame: `first` is the first byte (FIN, RSV and opcode), `mask` `None` for the
/// unmasked frame only a server may send.
fn frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![first];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        len @ 0..=125 => out.push(mask_bit | len as u8),
        len @ 126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    match mask {
        Some(mask) => {
            out.extend_from_slice(&mask);
            out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A masked frame, as a client sends it.
pub(crate) fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    frame(first, payload, Some(MASK))
}

/// A whole text message in one frame.
fn text(payload: &str) -> Vec<u8> {
    masked(FIN | OP_TEXT, payload.as_bytes())
}

/// A WebSocket client on a plain socket.
struct RawClient {
    stream: TcpStream,
    /// Bytes read but not parsed into a frame yet.
    buf: Vec<u8>,
}

impl RawClient {
    async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Self::upgrade(stream).await
    }

    /// A client whose socket has a receive buffer of about `bytes`, so the server's writes
    /// block soon once it stops reading.
    async fn connect_with_small_buffer(addr: SocketAddr, bytes: u32) -> Self {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        let stream = socket.connect(addr).await.expect("connect");
        Self::upgrade(stream).await
    }

    async fn upgrade(mut stream: TcpStream) -> Self {
        let request = "GET /connection/websocket HTTP/1.1\r\n\
            Host: localhost\r\n\
            Upgrade: websocket\r\n\
            Connection: Upgrade\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
            Sec-WebSocket-Version: 13\r\n\r\n";
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        let end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 1024];
            let read = tokio::time::timeout(WAIT, stream.read(&mut chunk))
                .await
                .expect("the upgrade response came")
                .expect("read");
            assert!(read > 0, "closed during the upgrade");
            buf.extend_from_slice(&chunk[..read]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        // The RFC 6455 §1.3 example key and its accept value.
        assert!(
            head.to_ascii_lowercase()
                .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
            "{head}"
        );
        buf.drain(..end);
        Self { stream, buf }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// The next frame from the server; `None` when the stream ends (EOF or reset).
    async fn next_frame(&mut self) -> Option<Frame> {
        tokio::time::timeout(WAIT, self.read_frame())
            .await
            .expect("the server sent a frame or closed in time")
    }

    async fn read_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, used)) = parse_server_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(read) => self.buf.extend_from_slice(&chunk[..read]),
            }
        }
    }

    /// The replies and pushes of the next data frame (newline-separated JSON); pings (`{}`)
    /// are left out.
    async fn next_messages(&mut self) -> Vec<Value> {
        let frame = self.next_frame().await.expect("a frame, not the end");
        assert_eq!(frame.opcode, OP_TEXT, "{frame:?}");
        assert!(frame.fin, "the server does not fragment: {frame:?}");
        messages(&frame.payload)
    }

    /// Reads until the reply with id `last_id` came; returns every message in arrival order.
    async fn messages_until(&mut self, last_id: u64) -> Vec<Value> {
        let mut all = Vec::new();
        while !all.iter().any(|m: &Value| m["id"] == last_id) {
            all.extend(self.next_messages().await);
        }
        all
    }

    /// Reads until the server's close frame and returns its code; data frames before it are
    /// skipped. Panics if the stream ends without one.
    async fn close_code(&mut self) -> u16 {
        loop {
            let frame = self
                .next_frame()
                .await
                .expect("a close frame before the end");
            if frame.opcode == OP_CLOSE {
                return close_code_of(&frame);
            }
        }
    }
}

/// One server frame at the start of `buf` and the bytes it took, or `None` if it has not fully
/// arrived.
fn parse_server_frame(buf: &[u8]) -> Option<(Frame, usize)> {
    let (first, payload, used) = split_frame(buf)?;
    assert_eq!(
        first & 0x70,
        0,
        "no extension was negotiated: RSV bits must be 0"
    );
    let frame = Frame {
        fin: first & FIN != 0,
        opcode: first & 0x0f,
        payload,
    };
    Some((frame, used))
}

/// One whole server frame at the start of `buf`: its first byte (FIN, RSV bits, opcode), its
/// payload and its length on the wire; `None` until all of it has arrived.
pub(crate) fn split_frame(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let [first, second, rest @ ..] = buf else {
        return None;
    };
    assert_eq!(second & 0x80, 0, "a server must not mask its frames");
    let (len, header) = match second & 0x7f {
        126 => (
            u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize,
            4,
        ),
        127 => {
            let bytes: [u8; 8] = rest.get(..8)?.try_into().ok()?;
            (u64::from_be_bytes(bytes) as usize, 10)
        }
        len => (len as usize, 2),
    };
    let payload = buf.get(header..header + len)?.to_vec();
    Some((*first, payload, header + len))
}

fn close_code_of(frame: &Frame) -> u16 {
    match frame.payload.as_slice() {
        [high, low, reason @ ..] => {
            assert!(std::str::from_utf8(reason).is_ok(), "{frame:?}");
            u16::from_be_bytes([*high, *low])
        }
        other => panic!("close frame without a code: {other:?}"),
    }
}

/// The JSON messages of one frame, without pings (`{}`).
fn messages(payload: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(payload).expect("text frames are UTF-8");
    text.split('\n')
        .map(|line| serde_json::from_str::<Value>(line).expect("each line is JSON"))
        .filter(|message| message != &json!({}))
        .collect()
}

/// Ids of the replies (pushes have none) in arrival order.
fn reply_ids(messages: &[Value]) -> Vec<u64> {
    messages.iter().filter_map(|m| m["id"].as_u64()).collect()
}

fn reply(messages: &[Value], id: u64) -> &Value {
    messages
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no reply {id} in {messages:?}"))
}

/// A keep-alive HTTP/1 client of the server API.
pub(crate) struct Api {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Api {
    pub(crate) async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        Self { sender }
    }

    pub(crate) async fn call(&mut self, method: &str, body: &Value) -> Value {
        let request = Request::post(format!("/api/{method}"))
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("request");
        let response = tokio::time::timeout(WAIT, self.sender.send_request(request))
            .await
            .expect("the API answered in time")
            .expect("response");
        assert_eq!(response.status(), 200, "{method}");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let value: Value = serde_json::from_slice(&body).expect("JSON");
        assert!(value.get("error").is_none(), "{method}: {value}");
        value
    }

    async fn connected_clients(&mut self) -> u64 {
        let info = self.call("info", &json!({})).await;
        info["result"]["nodes"][0]["num_clients"]
            .as_u64()
            .expect("info carries num_clients")
    }
}

fn hmac_token(user: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": user}),
        &jsonwebtoken::EncodingKey::from_secret(HMAC_SECRET.as_bytes()).expect("a secret"),
    )
    .expect("token")
}

#[tokio::test]
async fn a_ping_is_answered_with_a_pong_carrying_its_payload() {
    let server = Server::start(base_config()).await;
    let (mut client, _) = tokio_websockets::ClientBuilder::new()
        .uri(&server.url())
        .expect("uri")
        .connect()
        .await
        .expect("upgrade");
    for payload in ["", "hello herald", &"p".repeat(125)] {
        client
            .send(tokio_websockets::Message::ping(payload.to_owned()))
            .await
            .expect("ping sent");
        let answer = tokio::time::timeout(WAIT, client.next())
            .await
            .expect("answered in time")
            .expect("the connection is open")
            .expect("a valid frame");
        assert!(answer.is_pong(), "{answer:?}");
        assert_eq!(&answer.as_payload()[..], payload.as_bytes());
    }

    // Byte-level: the pong is one unmasked frame, with FIN, that echoes the payload.
    let mut raw = RawClient::connect(server.addr).await;
    raw.send(&masked(FIN | OP_PING, b"\x00\x01binary\xff"))
        .await;
    let pong = raw.next_frame().await.expect("pong");
    assert_eq!((pong.fin, pong.opcode), (true, OP_PONG));
    assert_eq!(pong.payload, b"\x00\x01binary\xff");
}

#[tokio::test]
async fn a_command_fragmented_across_frames_and_writes_is_handled_as_one() {
    let server = Server::start(base_config()).await;
    let mut client = RawClient::connect(server.addr).await;
    let command = br#"{"id":1,"connect":{"name":"fragments"}}"#;
    let (a, rest) = command.split_at(7);
    let (b, c) = rest.split_at(15);
    let fragments = [
        masked(OP_TEXT, a),
        masked(OP_CONTINUATION, b),
        // A control frame may come between the fragments of a message.
        masked(FIN | OP_PING, b"between"),
        masked(FIN | OP_CONTINUATION, c),
    ];
    for fragment in &fragments {
        // Each frame in two writes, with pauses, so the server reads it in pieces.
        let (head, tail) = fragment.split_at(fragment.len() / 2);
        client.send(head).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        client.send(tail).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let pong = client.next_frame().await.expect("pong");
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (OP_PONG, &b"between"[..])
    );
    let replies = client.next_messages().await;
    assert_eq!(reply_ids(&replies), vec![1], "{replies:?}");
    assert!(
        replies[0]["connect"]["client"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{replies:?}"
    );

    // The connection goes on: the next (whole) command is answered.
    client
        .send(&text(r#"{"id":2,"presence_stats":{"channel":"room"}}"#))
        .await;
    let replies = client.next_messages().await;
    assert_eq!(reply_ids(&replies), vec![2], "{replies:?}");
}

#[tokio::test]
async fn protocol_violations_get_the_close_code_of_rfc_6455() {
    let server = Server::start(base_config()).await;
    let utf8_split = "é".as_bytes();
    let too_big = "x".repeat(SIZE_LIMIT + 1);
    let half = "y".repeat(SIZE_LIMIT / 2 + 1);
    let cases: Vec<(&str, Vec<Vec<u8>>, u16)> = vec![
        (
            "unmasked frame",
            vec![frame(FIN | OP_TEXT, b"{}", None)],
            1002,
        ),
        (
            "RSV1 without an extension",
            vec![masked(FIN | RSV1 | OP_TEXT, b"{}")],
            1002,
        ),
        ("reserved opcode 0x3", vec![masked(FIN | 0x3, b"")], 1002),
        (
            "reserved control opcode 0xB",
            vec![masked(FIN | 0xB, b"")],
            1002,
        ),
        ("fragmented ping", vec![masked(OP_PING, b"x")], 1002),
        (
            "ping over 125 bytes",
            vec![masked(FIN | OP_PING, &[b'p'; 126])],
            1002,
        ),
        (
            "continuation without a start",
            vec![masked(FIN | OP_CONTINUATION, b"{}")],
            1002,
        ),
        (
            "new message inside a fragmented one",
            vec![masked(OP_TEXT, b"{"), masked(FIN | OP_TEXT, b"{}")],
            1002,
        ),
        (
            "one-byte close payload",
            vec![masked(FIN | OP_CLOSE, &[0x03])],
            1002,
        ),
        (
            "close code 999",
            vec![masked(FIN | OP_CLOSE, &999u16.to_be_bytes())],
            1002,
        ),
        (
            "text that is not UTF-8",
            vec![masked(FIN | OP_TEXT, b"{\"id\":\xff}")],
            1007,
        ),
        (
            "UTF-8 broken across fragments",
            vec![
                masked(OP_TEXT, &utf8_split[..1]),
                masked(FIN | OP_CONTINUATION, b"("),
            ],
            1007,
        ),
        (
            "close reason that is not UTF-8",
            vec![masked(FIN | OP_CLOSE, b"\x03\xe8\xff")],
            1007,
        ),
        ("message over the limit", vec![text(&too_big)], 1009),
        (
            "fragments over the limit together",
            vec![
                masked(OP_TEXT, half.as_bytes()),
                masked(FIN | OP_CONTINUATION, half.as_bytes()),
            ],
            1009,
        ),
    ];
    for (case, frames, expected) in cases {
        let mut client = RawClient::connect(server.addr).await;
        // Connected first, so the violation meets a live session.
        client.send(&text(r#"{"id":1,"connect":{}}"#)).await;
        assert_eq!(reply_ids(&client.next_messages().await), vec![1], "{case}");
        client.send(&frames.concat()).await;
        assert_eq!(client.close_code().await, expected, "{case}");
        // Our close answers theirs; then the server closes the TCP connection.
        client
            .send(&masked(FIN | OP_CLOSE, &expected.to_be_bytes()))
            .await;
        assert!(
            client.next_frame().await.is_none(),
            "{case}: the stream ends"
        );
    }

    // Not a violation: a client's close is answered with its own code.
    let mut client = RawClient::connect(server.addr).await;
    client
        .send(&masked(FIN | OP_CLOSE, b"\x03\xe8going away"))
        .await;
    assert_eq!(client.close_code().await, 1000);
    assert!(client.next_frame().await.is_none());
}

#[tokio::test]
async fn commands_of_one_connection_are_answered_in_order() {
    let server = Server::start(base_config()).await;
    let mut client = RawClient::connect(server.addr).await;
    let token = hmac_token("alice");
    let commands = [
        format!(r#"{{"id":1,"connect":{{"token":"{token}"}}}}"#),
        r#"{"id":2,"subscribe":{"channel":"room"}}"#.to_owned(),
        r#"{"id":3,"publish":{"channel":"room","data":{"n":1}}}"#.to_owned(),
        r#"{"id":4,"history":{"channel":"room","limit":10}}"#.to_owned(),
        r#"{"id":5,"presence":{"channel":"room"}}"#.to_owned(),
        r#"{"id":6,"rpc":{"method":"nothing","data":{}}}"#.to_owned(),
        r#"{"id":7,"publish":{"channel":"room","data":{"n":2}}}"#.to_owned(),
        r#"{"id":8,"unsubscribe":{"channel":"room"}}"#.to_owned(),
        r#"{"id":9,"presence_stats":{"channel":"room"}}"#.to_owned(),
        r#"{"id":10,"history":{"channel":"room","limit":10}}"#.to_owned(),
        r#"{"id":11,"subscribe":{"channel":"room"}}"#.to_owned(),
        r#"{"id":12,"history":{"channel":"room","limit":10}}"#.to_owned(),
    ];
    // One TCP write: the first commands one per frame, the rest newline-joined in one frame.
    let mut bytes: Vec<u8> = commands[..4].iter().flat_map(|c| text(c)).collect();
    bytes.extend(text(&commands[4..].join("\n")));
    client.send(&bytes).await;

    let all = client.messages_until(12).await;
    assert_eq!(reply_ids(&all), (1..=12).collect::<Vec<_>>(), "{all:?}");
    let me = reply(&all, 1)["connect"]["client"].clone();
    assert!(me.is_string(), "{all:?}");
    assert!(reply(&all, 2)["subscribe"].is_object(), "{all:?}");
    // The history read after publish 3 and before publish 7 holds exactly the first.
    let history = &reply(&all, 4)["history"]["publications"];
    assert_eq!(history.as_array().map(Vec::len), Some(1), "{all:?}");
    assert_eq!(history[0]["data"], json!({"n": 1}));
    assert_eq!(
        reply(&all, 5)["presence"]["presence"][me.as_str().unwrap_or("")]["user"],
        "alice"
    );
    assert_eq!(reply(&all, 6)["error"]["code"], 108, "no RPC handler");
    // After the unsubscribe, presence and history (for subscribers only) are refused.
    assert_eq!(reply(&all, 9)["error"]["code"], 103, "{all:?}");
    assert_eq!(reply(&all, 10)["error"]["code"], 103, "{all:?}");

    // Both publications reached the subscriber, each after the reply of its publish and
    // before the unsubscribe's.
    let position = |wanted: &dyn Fn(&Value) -> bool| {
        all.iter()
            .position(wanted)
            .unwrap_or_else(|| panic!("missing in {all:?}"))
    };
    let first = position(&|m| m["push"]["pub"]["data"] == json!({"n": 1}));
    let second = position(&|m| m["push"]["pub"]["data"] == json!({"n": 2}));
    let reply_at = |id: u64| position(&|m| m["id"] == id);
    assert!(
        reply_at(2) < first && first < second && second < reply_at(8),
        "{all:?}"
    );
}

/// `websocket.write_timeout` bounds how long the server keeps a client whose socket refuses
/// its bytes. 3009 is a write error: the socket is considered broken, so no close frame is
/// written (it could not be) and the client sees the stream end once it reads again. The
/// queue bound is far away here (`client.queue_max_size` 256 MiB), so the timeout is what
/// closes it; with the default 1 MiB queue and a fast publisher the overflow (3008, next test)
/// usually comes first.
#[tokio::test]
async fn a_client_that_never_reads_is_dropped_after_the_write_timeout() {
    let mut config = base_config();
    config["websocket"]["write_timeout"] = json!("200ms");
    config["client"]["queue_max_size"] = json!(256 << 20);
    let server = Server::start(config).await;
    let (published, mut client) = stall(&server).await;

    let (offsets, close) = read_to_end(&mut client).await;
    if let Some(code) = close {
        assert_eq!(
            code, 3009,
            "a close frame, if any got out, says write error"
        );
    }
    assert!(
        offsets.len() < published,
        "the server gave up on the client rather than delivering everything \
         ({} of {published})",
        offsets.len()
    );
}

/// `client.queue_max_size` bounds what the server keeps for a client that does not read:
/// past it the queue is dropped and the connection closed with 3008. The write timeout is far
/// away (60 s), so the close frame waits behind the bytes the socket refused and reaches the
/// client once it reads again.
#[tokio::test]
async fn a_client_that_falls_behind_by_the_queue_bound_is_closed_with_3008() {
    const QUEUE: usize = 256 * 1024;
    let mut config = base_config();
    config["websocket"]["write_timeout"] = json!("60s");
    config["client"]["queue_max_size"] = json!(QUEUE);
    let server = Server::start(config).await;
    let (published, mut client) = stall(&server).await;

    let (offsets, close) = read_to_end(&mut client).await;
    assert_eq!(close, Some(3008), "closed as slow");
    // What was queued at the overflow (about the bound) was dropped, not delivered.
    let dropped = published - offsets.len();
    assert!(
        dropped * PUBLICATION >= QUEUE / 2,
        "{dropped} of {published} publications dropped"
    );
}

/// Size of the publications [`stall`] sends.
const PUBLICATION: usize = 16 * 1024;

/// Connects a client with a small receive buffer, subscribes it, then stops reading and
/// publishes into its channel until the server lets go of it. Returns how many publications
/// were sent, and the client (still unread).
async fn stall(server: &Server) -> (usize, RawClient) {
    let mut client = RawClient::connect_with_small_buffer(server.addr, 4096).await;
    client
        .send(&text(concat!(
            r#"{"id":1,"connect":{}}"#,
            "\n",
            r#"{"id":2,"subscribe":{"channel":"slow"}}"#
        )))
        .await;
    let replies = client.messages_until(2).await;
    assert!(reply(&replies, 2)["subscribe"].is_object(), "{replies:?}");

    let mut api = Api::connect(server.addr).await;
    assert_eq!(api.connected_clients().await, 1);
    let data = "d".repeat(PUBLICATION);
    let publication = json!({"channel": "slow", "data": data});
    // 64 MiB: far more than kernel buffers hold, far less than the 3009 test's queue bound.
    const MAX_PUBLICATIONS: usize = 4096;
    let publish = async {
        let mut published = 0;
        loop {
            assert!(
                published < MAX_PUBLICATIONS,
                "the client is still connected after {published} publications"
            );
            api.call("publish", &publication).await;
            published += 1;
            if published % 8 == 0 && api.connected_clients().await == 0 {
                return published;
            }
        }
    };
    let published = tokio::time::timeout(Duration::from_secs(60), publish)
        .await
        .expect("the server let go of the client in time");
    (published, client)
}

/// Reads what the server still delivers: the offsets of the publications, and the close code
/// if a close frame came. Publications must be whole and in order, with no gap; the stream
/// may end inside a frame (the server dropped a socket it could not write to).
async fn read_to_end(client: &mut RawClient) -> (Vec<u64>, Option<u16>) {
    let mut offsets = Vec::new();
    let read = async {
        loop {
            let frame = client.read_frame().await?;
            match frame.opcode {
                OP_CLOSE => return Some(close_code_of(&frame)),
                OP_TEXT => {
                    for message in messages(&frame.payload) {
                        if let Some(offset) = message["push"]["pub"]["offset"].as_u64() {
                            offsets.push(offset);
                        }
                    }
                }
                other => panic!("unexpected opcode {other}"),
            }
        }
    };
    let close = tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the server closed the connection in time");
    let expected: Vec<u64> = (1..=offsets.len() as u64).collect();
    assert_eq!(offsets, expected, "delivered in order without a gap");
    (offsets, close)
}

#[tokio::test]
async fn shutdown_closes_every_client_with_3001_and_serve_returns() {
    let mut server = Server::start(base_config()).await;
    // A connected client...
    let (mut connected, _) = tokio_websockets::ClientBuilder::new()
        .uri(&server.url())
        .expect("uri")
        .connect()
        .await
        .expect("upgrade");
    connected
        .send(tokio_websockets::Message::text(
            r#"{"id":1,"connect":{}}"#.to_owned(),
        ))
        .await
        .expect("sent");
    let reply = tokio::time::timeout(WAIT, connected.next())
        .await
        .expect("in time")
        .expect("open")
        .expect("valid");
    assert!(
        reply.as_text().is_some_and(|t| t.contains(r#""connect""#)),
        "{reply:?}"
    );
    // ...and one that has not sent its connect command yet.
    let mut connecting = RawClient::connect(server.addr).await;

    server.stop();
    let close = tokio::time::timeout(WAIT, connected.next())
        .await
        .expect("closed in time")
        .expect("a close frame before the end")
        .expect("valid");
    let (code, reason) = close.as_close().expect("a close frame");
    assert_eq!((u16::from(code), reason), (3001, "shutdown"));
    assert_eq!(connecting.close_code().await, 3001);
    connecting
        .send(&masked(FIN | OP_CLOSE, &3001u16.to_be_bytes()))
        .await;
    // tokio-websockets answers the close on the next poll.
    assert!(
        tokio::time::timeout(WAIT, connected.next())
            .await
            .expect("in time")
            .is_none()
    );

    let served = tokio::time::timeout(WAIT, &mut server.task)
        .await
        .expect("serve returned in time")
        .expect("serve did not panic");
    assert!(served.is_ok(), "{served:?}");
    // Stopped accepting.
    assert!(TcpStream::connect(server.addr).await.is_err());
}
