//! permessage-deflate (RFC 7692) against the whole server: a raw client that negotiates the
//! extension and deflates and inflates with flate2 on its own (tokio-websockets has no
//! extensions), so the bytes on the wire are checked, not only what a library makes of them.

use std::net::SocketAddr;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::websocket::{
    Api, FIN, OP_CLOSE, OP_TEXT, RSV1, Server, WAIT, base_config, masked, split_frame,
};

/// `websocket.compression_min_size` of these tests.
const MIN_SIZE: usize = 200;

/// The extension offer browsers send.
const OFFER: &str = "permessage-deflate; client_max_window_bits";

fn config(compression: bool) -> Value {
    let mut config = base_config();
    config["websocket"]["compression"] = json!(compression);
    config["websocket"]["compression_min_size"] = json!(MIN_SIZE);
    config
}

/// One server frame.
#[derive(Debug)]
struct Frame {
    rsv1: bool,
    opcode: u8,
    payload: Vec<u8>,
}

/// A client that may offer permessage-deflate.
struct DeflateClient {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The server's `Sec-WebSocket-Extensions` answer, if any.
    extensions: Option<String>,
}

impl DeflateClient {
    async fn connect(addr: SocketAddr, offer: Option<&str>) -> Self {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let offer = offer
            .map(|offer| format!("Sec-WebSocket-Extensions: {offer}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "GET /connection/websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n{offer}\r\n"
        );
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
        let extensions = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-extensions")
                .then(|| value.trim().to_owned())
        });
        buf.drain(..end);
        Self {
            stream,
            buf,
            extensions,
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Sends a text message compressed, RSV1 set.
    async fn send_compressed(&mut self, message: &str) {
        let compressed = deflate(message.as_bytes());
        self.send(&masked(FIN | RSV1 | OP_TEXT, &compressed)).await;
    }

    /// The next frame; `None` when the stream ends.
    async fn next_frame(&mut self) -> Option<Frame> {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some((frame, used)) = parse_frame(&self.buf) {
                    self.buf.drain(..used);
                    return Some(frame);
                }
                let mut chunk = [0u8; 16 * 1024];
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return None,
                    Ok(read) => self.buf.extend_from_slice(&chunk[..read]),
                }
            }
        })
        .await
        .expect("a frame or the end in time")
    }

    /// The messages of the next data frame, inflated when RSV1 says so, and whether it was
    /// compressed. Pings (`{}`) are left out.
    async fn next_messages(&mut self) -> (bool, Vec<Value>) {
        let frame = self.next_frame().await.expect("a frame");
        assert_eq!(frame.opcode, OP_TEXT, "{frame:?}");
        let payload = match frame.rsv1 {
            true => inflate(&frame.payload),
            false => frame.payload,
        };
        let text = String::from_utf8(payload).expect("UTF-8");
        let messages = text
            .split('\n')
            .map(|line| serde_json::from_str::<Value>(line).expect("JSON"))
            .filter(|message| message != &json!({}))
            .collect();
        (frame.rsv1, messages)
    }

    /// The code of the server's close frame, skipping data frames before it.
    async fn close_code(&mut self) -> u16 {
        loop {
            let frame = self
                .next_frame()
                .await
                .expect("a close frame before the end");
            if frame.opcode == OP_CLOSE {
                assert!(!frame.rsv1, "control frames are never compressed");
                return u16::from_be_bytes([frame.payload[0], frame.payload[1]]);
            }
        }
    }
}

fn parse_frame(buf: &[u8]) -> Option<(Frame, usize)> {
    let (first, payload, used) = split_frame(buf)?;
    assert_eq!(first & 0x30, 0, "RSV2 and RSV3 stay clear: {first:#x}");
    assert_ne!(first & FIN, 0, "the server does not fragment");
    let frame = Frame {
        rsv1: first & RSV1 != 0,
        opcode: first & 0x0f,
        payload,
    };
    Some((frame, used))
}

/// A message as a client compresses it: raw deflate, sync flush, the 4-byte tail removed.
fn deflate(message: &[u8]) -> Vec<u8> {
    let mut compress = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(message.len() + 64);
    compress
        .compress_vec(message, &mut out, FlushCompress::Sync)
        .expect("deflate");
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// A server message inflated: the tail put back (RFC 7692 section 7.2.2).
fn inflate(payload: &[u8]) -> Vec<u8> {
    let mut decompress = Decompress::new(false);
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(1 << 20);
    decompress
        .decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .expect("the server sent valid deflate data");
    assert_eq!(decompress.total_in() as usize, input.len(), "all inflated");
    out
}

#[tokio::test]
async fn deflate_is_negotiated_only_when_offered_and_configured() {
    let server = Server::start(config(true)).await;
    let client = DeflateClient::connect(server.addr, Some(OFFER)).await;
    assert_eq!(
        client.extensions.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    // A window the client asks for is the one the server answers with.
    let client = DeflateClient::connect(
        server.addr,
        Some("permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=10"),
    )
    .await;
    assert_eq!(
        client.extensions.as_deref(),
        Some(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10"
        )
    );
    // No offer, or only offers the server cannot honour: a plain WebSocket.
    let client = DeflateClient::connect(server.addr, None).await;
    assert_eq!(client.extensions, None);
    let client = DeflateClient::connect(
        server.addr,
        Some("permessage-deflate; server_max_window_bits=8"),
    )
    .await;
    assert_eq!(client.extensions, None);

    let server = Server::start(config(false)).await;
    let client = DeflateClient::connect(server.addr, Some(OFFER)).await;
    assert_eq!(client.extensions, None, "websocket.compression is off");
}

#[tokio::test]
async fn publications_arrive_compressed_and_inflate_to_the_original() {
    let server = Server::start(config(true)).await;
    let mut client = DeflateClient::connect(server.addr, Some(OFFER)).await;
    // Commands may come compressed too.
    client.send_compressed(r#"{"id":1,"connect":{}}"#).await;
    let (_, replies) = client.next_messages().await;
    assert!(replies[0]["connect"]["client"].is_string(), "{replies:?}");
    client
        .send_compressed(r#"{"id":2,"subscribe":{"channel":"news"}}"#)
        .await;
    let (_, replies) = client.next_messages().await;
    assert_eq!(replies[0]["id"], 2, "{replies:?}");

    let mut api = Api::connect(server.addr).await;
    let large = json!({"text": "all the news that fits ".repeat(40)});
    api.call("publish", &json!({"channel": "news", "data": large}))
        .await;
    let (compressed, pushes) = client.next_messages().await;
    assert!(
        compressed,
        "a message over compression_min_size goes compressed"
    );
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(pushes[0]["push"]["pub"]["data"], large);

    let small = json!({"n": 1});
    api.call("publish", &json!({"channel": "news", "data": small}))
        .await;
    let (compressed, pushes) = client.next_messages().await;
    assert!(
        !compressed,
        "a message under compression_min_size goes plain"
    );
    assert_eq!(pushes[0]["push"]["pub"]["data"], small);
}

#[tokio::test]
async fn a_decompression_bomb_closes_with_1009() {
    let server = Server::start(config(true)).await;
    let mut client = DeflateClient::connect(server.addr, Some(OFFER)).await;
    // 1 MiB of spaces in about a kilobyte: under the 1 KiB frame limit, far over it inflated.
    let bomb = format!(
        r#"{{"id":1,"connect":{{"name":"{}"}}}}"#,
        " ".repeat(1 << 20)
    );
    let compressed = deflate(bomb.as_bytes());
    assert!(compressed.len() <= 1100, "{}", compressed.len());
    let compressed = &compressed[..compressed.len().min(1000)];
    client.send(&masked(FIN | RSV1 | OP_TEXT, compressed)).await;
    assert_eq!(client.close_code().await, 1009);
}

#[tokio::test]
async fn bad_deflate_data_closes_with_1007() {
    let server = Server::start(config(true)).await;
    let mut client = DeflateClient::connect(server.addr, Some(OFFER)).await;
    // Block type 3 is reserved in deflate.
    client
        .send(&masked(FIN | RSV1 | OP_TEXT, &[0xff, 0xff, 0xff]))
        .await;
    assert_eq!(client.close_code().await, 1007);
}

#[tokio::test]
async fn rsv1_without_negotiation_closes_with_1002() {
    for compression in [true, false] {
        let server = Server::start(config(compression)).await;
        let mut client = DeflateClient::connect(server.addr, None).await;
        assert_eq!(client.extensions, None);
        client.send_compressed(r#"{"id":1,"connect":{}}"#).await;
        assert_eq!(client.close_code().await, 1002, "compression {compression}");
    }
}
