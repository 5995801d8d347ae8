//! WebSocket over HTTP/2 (RFC 8441): hyper's HTTP/2 client sends an extended CONNECT to a
//! server with `http_server.h2c_external`, then speaks WebSocket frames on the stream.

use bytes::Bytes;
use http_body_util::Empty;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::websocket::{FIN, OP_CLOSE, OP_TEXT, Server, WAIT, base_config, masked};

/// Reads one unmasked, unfragmented server frame and returns its opcode and payload.
async fn read_frame(io: &mut (impl AsyncRead + Unpin)) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    tokio::time::timeout(WAIT, io.read_exact(&mut head))
        .await
        .expect("a frame in time")
        .expect("read");
    let len = match head[1] & 0x7f {
        126 => {
            let mut len = [0u8; 2];
            io.read_exact(&mut len).await.expect("length");
            usize::from(u16::from_be_bytes(len))
        }
        127 => panic!("no test message is that large"),
        len => usize::from(len),
    };
    let mut payload = vec![0u8; len];
    io.read_exact(&mut payload).await.expect("payload");
    (head[0] & 0x0f, payload)
}

#[tokio::test]
async fn a_websocket_runs_over_an_http2_extended_connect() {
    let mut config = base_config();
    config["http_server"] = json!({"h2c_external": true});
    let server = Server::start(config).await;
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 with prior knowledge");
    tokio::spawn(connection);

    // An ordinary request first: the server's SETTINGS, which enable extended CONNECT, come
    // with its answer.
    let health = Request::get(format!("http://{}/health", server.addr))
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = sender.send_request(health).await.expect("health");
    assert_eq!(response.status(), 200);

    let mut request = Request::connect(format!("http://{}/connection/websocket", server.addr))
        .header("sec-websocket-version", "13")
        .body(Empty::<Bytes>::new())
        .expect("request");
    request
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let response = tokio::time::timeout(WAIT, sender.send_request(request))
        .await
        .expect("answered in time")
        .expect("response");
    assert_eq!(response.status(), 200, "RFC 8441: 200, not 101");
    assert!(response.headers().get("sec-websocket-accept").is_none());
    let upgraded = hyper::upgrade::on(response).await.expect("the stream");
    let mut io = TokioIo::new(upgraded);

    io.write_all(&masked(FIN | OP_TEXT, br#"{"id":1,"connect":{}}"#))
        .await
        .expect("write");
    let (opcode, payload) = read_frame(&mut io).await;
    assert_eq!(opcode, OP_TEXT);
    let reply: Value = serde_json::from_slice(&payload).expect("JSON");
    assert_eq!(reply["id"], 1, "{reply}");
    assert!(reply["connect"]["client"].is_string(), "{reply}");

    // A second command on the same stream.
    io.write_all(&masked(
        FIN | OP_TEXT,
        br#"{"id":2,"subscribe":{"channel":"over-h2"}}"#,
    ))
    .await
    .expect("write");
    let (_, payload) = read_frame(&mut io).await;
    let reply: Value = serde_json::from_slice(&payload).expect("JSON");
    assert_eq!(reply["id"], 2, "{reply}");
    assert!(reply.get("error").is_none(), "{reply}");

    // A protocol violation (an unmasked frame) closes with 1002, and the stream ends even
    // though this client never closes its side.
    io.write_all(&[FIN | OP_TEXT, 2, b'{', b'}'])
        .await
        .expect("write");
    let (opcode, payload) = read_frame(&mut io).await;
    assert_eq!(opcode, OP_CLOSE);
    assert_eq!(payload[..2], 1002u16.to_be_bytes());
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, io.read_to_end(&mut rest))
        .await
        .expect("the stream ends")
        .expect("a clean end");
    assert!(rest.is_empty(), "{rest:?}");
}

#[tokio::test]
async fn http1_websockets_still_work_with_h2c_on() {
    let mut config = base_config();
    config["http_server"] = json!({"h2c_external": true});
    let server = Server::start(config).await;
    let (mut client, _) = tokio_websockets::ClientBuilder::new()
        .uri(&format!("ws://{}/connection/websocket", server.addr))
        .expect("uri")
        .connect()
        .await
        .expect("HTTP/1 upgrade");
    use futures_util::{SinkExt as _, StreamExt as _};
    client
        .send(tokio_websockets::Message::text(r#"{"id":1,"connect":{}}"#))
        .await
        .expect("send");
    let reply = tokio::time::timeout(WAIT, client.next())
        .await
        .expect("in time")
        .expect("open")
        .expect("frame");
    let reply: Value = serde_json::from_str(reply.as_text().expect("text")).expect("JSON");
    assert!(reply["connect"]["client"].is_string(), "{reply}");
}
