//! The upgrade request: what RFC 6455 section 4 asks of it, checked against a server running in
//! the test process.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::websocket::{Server, WAIT, base_config};

/// Sends an upgrade request with `headers` and returns the response head, lowercased.
async fn upgrade_response(addr: SocketAddr, headers: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET /connection/websocket HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut chunk = [0u8; 1024];
        let read = tokio::time::timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("the server answers")
            .expect("read");
        assert_ne!(read, 0, "closed before a response: {buf:?}");
        buf.extend_from_slice(&chunk[..read]);
    }
    String::from_utf8_lossy(&buf).to_lowercase()
}

#[tokio::test]
async fn upgrade_requests_are_checked_as_rfc_6455_asks() {
    let server = Server::start(base_config()).await;
    let valid_key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    let v13 = "Sec-WebSocket-Version: 13\r\n";

    let wrong_version = upgrade_response(
        server.addr,
        &format!("{upgrade}{valid_key}Sec-WebSocket-Version: 8\r\n"),
    )
    .await;
    assert!(wrong_version.starts_with("http/1.1 426"), "{wrong_version}");
    assert!(
        wrong_version.contains("\r\nsec-websocket-version: 13\r\n"),
        "{wrong_version}"
    );

    let cases = [
        // A key that is not 16 bytes of base64.
        format!("{upgrade}{v13}Sec-WebSocket-Key: not-a-key\r\n"),
        format!("{upgrade}{v13}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\n"),
        format!("{upgrade}{v13}"),
        // Missing Upgrade or Connection tokens.
        format!("Connection: Upgrade\r\n{v13}{valid_key}"),
        format!("Upgrade: websocket\r\nConnection: keep-alive\r\n{v13}{valid_key}"),
    ];
    for headers in cases {
        let response = upgrade_response(server.addr, &headers).await;
        assert!(
            response.starts_with("http/1.1 400"),
            "{headers:?}: {response}"
        );
    }

    // Older centrifuge-python sends an empty Sec-WebSocket-Protocol header.
    let response = upgrade_response(
        server.addr,
        &format!("{upgrade}{v13}{valid_key}Sec-WebSocket-Protocol: \r\n"),
    )
    .await;
    assert!(response.starts_with("http/1.1 101"), "{response}");
    assert!(
        response.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{response}"
    );
    assert!(!response.contains("sec-websocket-protocol"), "{response}");
}
