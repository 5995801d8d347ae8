//! The HTTP server API over a real socket: a hub on the memory engine, the API router served
//! on 127.0.0.1:0, and a plain HTTP/1 client checking exact status codes and JSON shapes.
//! This file holds the harness and the HTTP-level checks (keys, routing, bodies, error
//! modes); `methods` exercises every API method.

mod connections;
mod methods;
mod version;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use herald_hub::{
    ChannelOptions, ConnectTokenClaims, Drained, Flow, Hub, Namespace, NodeOptions, Outbox,
    SubscribeTokenClaims, TokenError, TokenVerifier,
};
use herald_server::api::{ApiSettings, router};
use http_body_util::{BodyExt as _, Full};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

const KEY: &str = "api_key";

/// Connection tokens are `user:<name>`; everything else is refused.
pub(crate) struct Tokens;

impl TokenVerifier for Tokens {
    fn verify_connect_token(&self, token: &str) -> Result<ConnectTokenClaims, TokenError> {
        match token.strip_prefix("user:") {
            Some(user) => Ok(ConnectTokenClaims {
                user: user.to_owned(),
                info: Bytes::from_static(br#"{"name":"tester"}"#),
                ..Default::default()
            }),
            None => Err(TokenError::Invalid("test tokens are user:<name>".into())),
        }
    }

    fn verify_subscribe_token(&self, _: &str) -> Result<SubscribeTokenClaims, TokenError> {
        Err(TokenError::Invalid(
            "no subscription tokens in these tests".into(),
        ))
    }
}

struct Server {
    addr: SocketAddr,
    hub: Hub,
}

/// Channels without namespace keep presence and history; namespace `ns` keeps neither.
async fn start_with(settings: ApiSettings) -> Server {
    let mut options = NodeOptions::default();
    options.channel.without_namespace = ChannelOptions {
        presence: true,
        history_size: 10,
        history_ttl: Duration::from_secs(300),
        ..ChannelOptions::default()
    };
    options.channel.namespaces = vec![Namespace {
        name: "ns".into(),
        options: ChannelOptions::default(),
    }];
    let engine = Arc::new(herald_engine::memory::MemoryEngine::new());
    let hub = Hub::new(options, engine.clone(), engine, Arc::new(Tokens));
    hub.start().await.expect("memory engine starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let app = router(hub.clone(), settings);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server { addr, hub }
}

async fn start() -> Server {
    start_with(ApiSettings {
        key: KEY.into(),
        ..ApiSettings::default()
    })
    .await
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {:?}", self.body))
    }
}

async fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let response = sender.send_request(request).await.expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).expect("utf-8 body"),
    }
}

/// A request with the given HTTP method, path, extra headers and body.
async fn raw(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Full::new(body.into())).expect("request");
    send(server.addr, request).await
}

/// An authorized API call; asserts HTTP 200 and returns the JSON body.
async fn api(server: &Server, method: &str, body: Value) -> Value {
    let path = format!("/api/{method}");
    let answer = raw(
        server,
        "POST",
        &path,
        &[("x-api-key", KEY)],
        body.to_string(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{method}: {}", answer.body);
    assert_eq!(answer.headers["content-type"], "application/json");
    answer.json()
}

fn error(code: u32, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

/// A connected client of `user`, run by a task as a transport would; its outbox is returned
/// so the test can read what the server sent.
pub(crate) async fn connect(hub: &Hub, user: &str) -> (String, Arc<Outbox>) {
    let mut session = hub.session(herald_proto::Protocol::Json);
    let frame = format!(r#"{{"id":1,"connect":{{"token":"user:{user}"}}}}"#);
    assert_eq!(session.handle_frame(frame.as_bytes()).await, Flow::Continue);
    let outbox = session.outbox();
    let connect_reply = next_messages(&outbox).await;
    assert!(
        connect_reply[0].starts_with(r#"{"id":1,"connect":"#),
        "{connect_reply:?}"
    );
    let client = session.client_id().to_owned();
    tokio::spawn(async move {
        loop {
            let event = session.next_event().await;
            if session.handle_event(event).await == Flow::Close {
                session.close().await;
                break;
            }
        }
    });
    (client, outbox)
}

async fn drain(outbox: &Outbox) -> Drained {
    tokio::time::timeout(Duration::from_secs(5), outbox.drain())
        .await
        .expect("server sent nothing")
}

pub(crate) async fn next_messages(outbox: &Outbox) -> Vec<String> {
    match drain(outbox).await {
        Drained::Messages(messages) => messages
            .iter()
            .map(|m| String::from_utf8(m.to_vec()).expect("utf-8"))
            .collect(),
        Drained::Close(_, reason) => panic!("connection closed: {reason:?}"),
    }
}

async fn close_code(outbox: &Outbox) -> u16 {
    loop {
        if let Drained::Close(_, reason) = drain(outbox).await {
            return reason.code;
        }
    }
}

#[tokio::test]
async fn transport_error_mode_uses_http_statuses() {
    let server = start().await;
    let headers = [("x-api-key", KEY), ("X-Centrifugo-Error-Mode", "transport")];
    let unknown = raw(
        &server,
        "POST",
        "/api/publish",
        &headers,
        r#"{"channel":"undefined:channel","data":{}}"#,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.json(),
        json!({"code": 102, "message": "unknown channel"})
    );
    let bad = raw(&server, "POST", "/api/presence", &headers, "{}").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json(), json!({"code": 107, "message": "bad request"}));
    let ok = raw(
        &server,
        "POST",
        "/api/publish",
        &headers,
        r#"{"channel":"a","data":{}}"#,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json()["result"]["offset"], 1);
}

#[tokio::test]
async fn api_key_checks() {
    let server = start().await;
    let body = "{}";
    for headers in [
        vec![],
        vec![("x-api-key", "wrong")],
        vec![("authorization", "apikey wrong")],
    ] {
        let answer = raw(&server, "POST", "/api/info", &headers, body).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert_eq!(answer.body, "", "401 has an empty body");
    }
    for (path, headers) in [
        ("/api/info", vec![("x-api-key", KEY)]),
        ("/api/info", vec![("authorization", "ApiKey api_key")]),
        ("/api/info?api_key=api_key", vec![]),
    ] {
        let answer = raw(&server, "POST", path, &headers, body).await;
        assert_eq!(answer.status, StatusCode::OK, "{path} {headers:?}");
    }

    let no_key = start_with(ApiSettings::default()).await;
    let answer = raw(&no_key, "POST", "/api/info", &[("x-api-key", "")], body).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::UNAUTHORIZED, "")
    );

    let insecure = start_with(ApiSettings {
        insecure: true,
        ..ApiSettings::default()
    })
    .await;
    let answer = raw(&insecure, "POST", "/api/info", &[], body).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn routing_and_malformed_bodies() {
    let server = start().await;
    let auth = [("x-api-key", KEY)];
    assert_eq!(
        raw(&server, "GET", "/api/publish", &auth, "").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    // 405 comes before the key check, as in Centrifugo.
    assert_eq!(
        raw(&server, "PUT", "/api/info", &[], "").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        raw(&server, "POST", "/api/nope", &auth, "{}").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        raw(&server, "POST", "/api", &auth, "{}").await.status,
        StatusCode::NOT_FOUND
    );

    for body in ["", "{", r#"{"channel": 5}"#, "[]"] {
        let answer = raw(&server, "POST", "/api/presence", &auth, body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(answer.body, "Bad Request\n");
        assert!(
            answer.headers["content-type"]
                .to_str()
                .is_ok_and(|t| t.starts_with("text/plain"))
        );
    }
    // Unknown fields are ignored; `null` is an empty request.
    assert_eq!(
        api(&server, "info", json!({"whatever": 1})).await["result"]["nodes"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let null = raw(&server, "POST", "/api/info", &auth, "null").await;
    assert_eq!(null.status, StatusCode::OK);

    let too_large = vec![b' '; herald_server::api::MAX_BODY_BYTES + 1];
    let answer = raw(&server, "POST", "/api/info", &auth, too_large).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn handler_prefix() {
    let server = start_with(ApiSettings {
        key: KEY.into(),
        insecure: false,
        handler_prefix: "/".into(),
        rate_limit: 0,
    })
    .await;
    let answer = raw(&server, "POST", "/info", &[("x-api-key", KEY)], "{}").await;
    assert_eq!(answer.status, StatusCode::OK);
    let server = start_with(ApiSettings {
        key: KEY.into(),
        insecure: false,
        handler_prefix: "/v1/api/".into(),
        rate_limit: 0,
    })
    .await;
    let answer = raw(&server, "POST", "/v1/api/info", &[("x-api-key", KEY)], "{}").await;
    assert_eq!(answer.status, StatusCode::OK);
}
