//! The HTTP proxy against an axum backend: the JSON Centrifugo sends for each call, the
//! forwarded headers, how answers, statuses and failures are read.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes as Body;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use bytes::Bytes;
use herald_hub::{
    ConnectProxyRequest, ConnectProxyResult, Disconnect, Proxy, ProxyClientError, ProxyError,
    ProxyReply, PublishProxyRequest, PublishProxyResult, RefreshProxyRequest, RefreshProxyResult,
    RpcProxyRequest, RpcProxyResult, SubRefreshProxyRequest, SubRefreshProxyResult,
    SubscribeOptionsClaim, SubscribeOverride, SubscribeProxyRequest, SubscribeProxyResult,
};
use serde_json::{Value, json};

use super::{context, named_proxy, node, protobuf_context};

/// What the backend answers on a path.
#[derive(Clone)]
struct Answer {
    status: u16,
    body: String,
    delay: Duration,
}

/// One request the backend got.
#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    headers: HeaderMap,
    body: Value,
}

#[derive(Default)]
struct State {
    answers: Mutex<HashMap<String, Answer>>,
    recorded: Mutex<Vec<Recorded>>,
}

/// An HTTP backend on 127.0.0.1: every POST is recorded and answered as set for its path
/// (200 `{}` by default).
#[derive(Clone)]
struct Backend {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Backend {
    async fn start() -> Self {
        let state = Arc::new(State::default());
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Body| {
            let state = shared.clone();
            async move {
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let path = uri.path().to_owned();
                state.recorded.lock().expect("lock").push(Recorded {
                    path: path.clone(),
                    headers,
                    body,
                });
                let answer = state.answers.lock().expect("lock").get(&path).cloned();
                let answer = answer.unwrap_or(Answer {
                    status: 200,
                    body: "{}".to_owned(),
                    delay: Duration::ZERO,
                });
                tokio::time::sleep(answer.delay).await;
                let status = StatusCode::from_u16(answer.status).expect("status");
                (status, answer.body).into_response()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn answer(&self, path: &str, status: u16, body: Value) {
        self.answer_text(path, status, &body.to_string());
    }

    fn answer_text(&self, path: &str, status: u16, body: &str) {
        self.state.answers.lock().expect("lock").insert(
            path.to_owned(),
            Answer {
                status,
                body: body.to_owned(),
                delay: Duration::ZERO,
            },
        );
    }

    fn last(&self) -> Recorded {
        self.state
            .recorded
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("a request")
    }

    /// A proxy named `name` on `path`, with extra settings merged in.
    fn proxy(&self, name: &str, path: &str, extra: Value) -> Arc<dyn Proxy> {
        let mut entry = json!({"name": name, "endpoint": self.url(path)});
        if let (Some(entry), Value::Object(extra)) = (entry.as_object_mut(), extra) {
            entry.extend(extra);
        }
        named_proxy(entry)
    }
}

fn header<'a>(recorded: &'a Recorded, name: &str) -> Vec<&'a str> {
    recorded
        .headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect()
}

#[tokio::test]
async fn connect_sends_centrifugos_json_and_forwards_the_listed_headers() {
    let backend = Backend::start().await;
    backend.answer(
        "/connect",
        200,
        json!({"result": {
            "user": "42", "expire_at": 1_900_000_000, "info": {"name": "Ann"},
            "b64data": "aGk=", "channels": ["news"],
            "subs": {"personal": {"info": {"x": 1}, "b64data": "AAE=",
                                  "override": {"presence": {"value": true},
                                               "force_recovery": {"value": false}}}},
            "meta": {"plan": "pro"}
        }}),
    );
    let node = node(json!({"client": {"proxy": {"connect": {
        "enabled": true, "endpoint": backend.url("/connect"),
        "http_headers": ["Authorization", "X-Real-IP", "X-Multi"],
        "emulated_headers": ["authorization", "x-emulated"],
        "include_connection_meta": true,
        "http": {"static_headers": {"X-Static": "s", "X-Real-IP": "static"}}
    }}}}));
    let proxy = node.client.connect_proxy.expect("connect proxy");
    assert_eq!(proxy.name(), "client.proxy.connect");

    let reply = proxy
        .connect(ConnectProxyRequest {
            context: herald_hub::ProxyContext {
                user: String::new(),
                ..context()
            },
            data: Bytes::from_static(br#"{"hello":"world"}"#),
            name: "js".to_owned(),
            version: "5.0.0".to_owned(),
            channels: vec!["uni".to_owned()],
        })
        .await
        .expect("answered");

    let sent = backend.last();
    assert_eq!(sent.path, "/connect");
    // No user and no meta in a connect request, whatever include_connection_meta says.
    assert_eq!(
        sent.body,
        json!({"client": "client-1", "transport": "websocket", "protocol": "json",
               "encoding": "json", "data": {"hello": "world"}, "name": "js",
               "version": "5.0.0", "channels": ["uni"]})
    );
    assert_eq!(header(&sent, "content-type"), ["application/json"]);
    // Transport beats emulated beats static; unlisted headers stay behind.
    assert_eq!(header(&sent, "authorization"), ["Bearer transport"]);
    assert_eq!(header(&sent, "x-real-ip"), ["10.0.0.1"]);
    assert_eq!(header(&sent, "x-multi"), ["one", "two"]);
    assert_eq!(header(&sent, "x-emulated"), ["e"]);
    assert_eq!(header(&sent, "x-static"), ["s"]);
    assert!(header(&sent, "cookie").is_empty());

    let expected = ConnectProxyResult {
        user: "42".to_owned(),
        expire_at: Some(1_900_000_000),
        info: Bytes::from_static(br#"{"name":"Ann"}"#),
        data: Bytes::from_static(b"hi"),
        channels: vec!["news".to_owned()],
        subs: [(
            "personal".to_owned(),
            SubscribeOptionsClaim {
                info: Bytes::from_static(br#"{"x":1}"#),
                data: Bytes::from_static(&[0, 1]),
                overrides: SubscribeOverride {
                    presence: Some(true),
                    force_recovery: Some(false),
                    ..SubscribeOverride::default()
                },
            },
        )]
        .into_iter()
        .collect(),
        meta: Bytes::from_static(br#"{"plan":"pro"}"#),
    };
    assert_eq!(reply, ProxyReply::Result(expected));
}

#[tokio::test]
async fn every_call_sends_its_fields_and_reads_its_result() {
    let backend = Backend::start().await;
    let proxy = backend.proxy(
        "app",
        "/app",
        json!({"include_connection_meta": true, "timeout": "5s"}),
    );
    let ctx = context();

    backend.answer(
        "/app",
        200,
        json!({"result": {"expire_at": 1_900_000_000, "info": {"i": 1}, "meta": {"m": 2}}}),
    );
    let reply = proxy
        .refresh(RefreshProxyRequest {
            context: ctx.clone(),
        })
        .await;
    assert_eq!(
        backend.last().body,
        json!({"client": "client-1", "transport": "websocket", "protocol": "json",
               "encoding": "json", "user": "42", "meta": {"plan": "pro"}})
    );
    assert_eq!(
        reply,
        Ok(ProxyReply::Result(RefreshProxyResult {
            expired: false,
            expire_at: Some(1_900_000_000),
            info: Some(Bytes::from_static(br#"{"i":1}"#)),
            meta: Some(Bytes::from_static(br#"{"m":2}"#)),
        }))
    );

    backend.answer(
        "/app",
        200,
        json!({"result": {"info": {"ch": true}, "data": ["d"], "expire_at": 0,
                          "override": {"join_leave": {"value": true},
                                       "force_push_join_leave": {"value": true},
                                       "force_positioning": {"value": true}}}}),
    );
    let reply = proxy
        .subscribe(SubscribeProxyRequest {
            context: ctx.clone(),
            channel: "chat:1".to_owned(),
            token: "sub-token".to_owned(),
            data: Bytes::from_static(b"[1,2]"),
        })
        .await;
    assert_eq!(
        backend.last().body,
        json!({"client": "client-1", "transport": "websocket", "protocol": "json",
               "encoding": "json", "user": "42", "channel": "chat:1", "token": "sub-token",
               "data": [1, 2], "meta": {"plan": "pro"}})
    );
    assert_eq!(
        reply,
        Ok(ProxyReply::Result(SubscribeProxyResult {
            expire_at: None,
            info: Bytes::from_static(br#"{"ch":true}"#),
            data: Bytes::from_static(br#"["d"]"#),
            overrides: SubscribeOverride {
                join_leave: Some(true),
                force_push_join_leave: Some(true),
                force_positioning: Some(true),
                ..SubscribeOverride::default()
            },
        }))
    );

    backend.answer(
        "/app",
        200,
        json!({"result": {"b64data": "eyJ4IjoxfQ==", "skip_history": true}}),
    );
    let reply = proxy
        .publish(PublishProxyRequest {
            context: ctx.clone(),
            channel: "chat:1".to_owned(),
            data: Bytes::from_static(br#"{"text":"hi"}"#),
        })
        .await;
    assert_eq!(
        backend.last().body,
        json!({"client": "client-1", "transport": "websocket", "protocol": "json",
               "encoding": "json", "user": "42", "channel": "chat:1",
               "data": {"text": "hi"}, "meta": {"plan": "pro"}})
    );
    assert_eq!(
        reply,
        Ok(ProxyReply::Result(PublishProxyResult {
            data: Some(Bytes::from_static(br#"{"x":1}"#)),
            skip_history: true,
        }))
    );

    backend.answer("/app", 200, json!({"result": {"expired": true}}));
    let reply = proxy
        .sub_refresh(SubRefreshProxyRequest {
            context: ctx.clone(),
            channel: "chat:1".to_owned(),
        })
        .await;
    assert_eq!(
        backend.last().body,
        json!({"client": "client-1", "transport": "websocket", "protocol": "json",
               "encoding": "json", "user": "42", "channel": "chat:1",
               "meta": {"plan": "pro"}})
    );
    assert_eq!(
        reply,
        Ok(ProxyReply::Result(SubRefreshProxyResult {
            expired: true,
            ..SubRefreshProxyResult::default()
        }))
    );

    backend.answer("/app", 200, json!({"result": {"data": {"sum": 3}}}));
    let reply = proxy
        .rpc(RpcProxyRequest {
            context: herald_hub::ProxyContext {
                user: String::new(),
                ..ctx.clone()
            },
            method: "math:add".to_owned(),
            data: Bytes::from_static(br#"{"a":1,"b":2}"#),
        })
        .await;
    // `user` is sent even when empty (anonymous).
    assert_eq!(
        backend.last().body,
        json!({"client": "client-1", "transport": "websocket", "protocol": "json",
               "encoding": "json", "user": "", "method": "math:add",
               "data": {"a": 1, "b": 2}, "meta": {"plan": "pro"}})
    );
    assert_eq!(
        reply,
        Ok(ProxyReply::Result(RpcProxyResult {
            data: Bytes::from_static(br#"{"sum":3}"#),
        }))
    );
}

#[tokio::test]
async fn missing_results_read_as_centrifugo_reads_them() {
    let backend = Backend::start().await;
    let proxy = backend.proxy("app", "/empty", json!({}));
    let ctx = context();
    // No meta without include_connection_meta, and nothing for empty data.
    let reply = proxy
        .publish(PublishProxyRequest {
            context: ctx.clone(),
            channel: "c".to_owned(),
            data: Bytes::new(),
        })
        .await;
    assert_eq!(
        backend.last().body,
        json!({"client": "client-1", "transport": "websocket", "protocol": "json",
               "encoding": "json", "user": "42", "channel": "c"})
    );
    assert_eq!(reply, Ok(ProxyReply::Result(PublishProxyResult::default())));
    let refresh = proxy
        .refresh(RefreshProxyRequest {
            context: ctx.clone(),
        })
        .await;
    assert_eq!(
        refresh,
        Ok(ProxyReply::Result(RefreshProxyResult {
            expired: true,
            ..RefreshProxyResult::default()
        }))
    );
    let subscribe = proxy
        .subscribe(SubscribeProxyRequest {
            context: ctx.clone(),
            channel: "c".to_owned(),
            token: String::new(),
            data: Bytes::new(),
        })
        .await;
    assert_eq!(
        subscribe,
        Ok(ProxyReply::Result(SubscribeProxyResult::default()))
    );
    // A connect result without credentials: 3501, as Centrifugo's library answers.
    let connect = proxy
        .connect(ConnectProxyRequest {
            context: ctx,
            data: Bytes::new(),
            name: String::new(),
            version: String::new(),
            channels: Vec::new(),
        })
        .await;
    assert_eq!(
        connect,
        Ok(ProxyReply::Disconnect(Disconnect {
            code: 3501,
            reason: "bad request".to_owned(),
        }))
    );
}

#[tokio::test]
async fn binary_payloads_travel_as_b64data() {
    let backend = Backend::start().await;
    let binary = backend.proxy("bin", "/bin", json!({"binary_encoding": true}));
    let plain = backend.proxy("plain", "/plain", json!({}));
    let request = |context, data: &'static [u8]| RpcProxyRequest {
        context,
        method: "m".to_owned(),
        data: Bytes::from_static(data),
    };

    // binary_encoding: always b64data, encoding "binary".
    let _ = binary.rpc(request(context(), br#"{"a":1}"#)).await;
    assert_eq!(
        backend.last().body,
        json!({"client": "client-1", "transport": "websocket", "protocol": "json",
               "encoding": "binary", "user": "42", "method": "m", "b64data": "eyJhIjoxfQ=="})
    );
    // A Protobuf connection's binary payload: b64data (Centrifugo would fail to send it).
    let _ = plain
        .rpc(request(protobuf_context(), &[0xff, 0x00, 0x01]))
        .await;
    assert_eq!(
        backend.last().body,
        json!({"client": "client-1", "transport": "websocket", "protocol": "protobuf",
               "encoding": "binary", "user": "42", "method": "m", "b64data": "/wAB"})
    );
    // A Protobuf connection's JSON payload goes as JSON, as in Centrifugo.
    let _ = plain.rpc(request(protobuf_context(), br#"{"a":1}"#)).await;
    assert_eq!(
        backend.last().body,
        json!({"client": "client-1", "transport": "websocket", "protocol": "protobuf",
               "encoding": "json", "user": "42", "method": "m", "data": {"a": 1}})
    );
    // Refresh carries no payload: encoding follows binary_encoding.
    let _ = binary
        .refresh(RefreshProxyRequest { context: context() })
        .await;
    assert_eq!(backend.last().body["encoding"], "binary");
}

#[tokio::test]
async fn errors_and_disconnects_from_the_backend() {
    let backend = Backend::start().await;
    let proxy = backend.proxy("app", "/app", json!({}));
    let rpc = || RpcProxyRequest {
        context: context(),
        method: "m".to_owned(),
        data: Bytes::new(),
    };
    backend.answer(
        "/app",
        200,
        json!({"error": {"code": 1000, "message": "custom", "temporary": true}}),
    );
    assert_eq!(
        proxy.rpc(rpc()).await,
        Ok(ProxyReply::Error(ProxyClientError {
            code: 1000,
            message: "custom".to_owned(),
            temporary: true,
        }))
    );
    backend.answer(
        "/app",
        200,
        json!({"disconnect": {"code": 4500, "reason": "bye"}, "error": {"code": 1}}),
    );
    assert_eq!(
        proxy.rpc(rpc()).await,
        Ok(ProxyReply::Disconnect(Disconnect {
            code: 4500,
            reason: "bye".to_owned(),
        }))
    );
}

#[tokio::test]
async fn statuses_become_errors_or_disconnects_when_configured() {
    let backend = Backend::start().await;
    let proxy = backend.proxy(
        "app",
        "/app",
        json!({"http": {"status_to_code_transforms": [
            {"status_code": 404, "to_error": {"code": 404, "message": "not found"}},
            {"status_code": 403, "to_disconnect": {"code": 4403, "reason": "forbidden"}}
        ]}}),
    );
    let subscribe = || SubscribeProxyRequest {
        context: context(),
        channel: "c".to_owned(),
        token: String::new(),
        data: Bytes::new(),
    };
    backend.answer_text("/app", 404, "");
    assert_eq!(
        proxy.subscribe(subscribe()).await,
        Ok(ProxyReply::Error(ProxyClientError {
            code: 404,
            message: "not found".to_owned(),
            temporary: false,
        }))
    );
    backend.answer_text("/app", 403, "");
    assert_eq!(
        proxy.subscribe(subscribe()).await,
        Ok(ProxyReply::Disconnect(Disconnect {
            code: 4403,
            reason: "forbidden".to_owned(),
        }))
    );
    // Unlisted statuses, 2xx other than 200 included, are failures.
    for status in [500, 201] {
        backend.answer_text("/app", status, "{}");
        assert!(
            matches!(
                proxy.subscribe(subscribe()).await,
                Err(ProxyError::BadResponse(_))
            ),
            "{status}"
        );
    }
}

#[tokio::test]
async fn failures_are_proxy_errors() {
    let backend = Backend::start().await;
    let proxy = backend.proxy("app", "/app", json!({"timeout": "100ms"}));
    let publish = || PublishProxyRequest {
        context: context(),
        channel: "c".to_owned(),
        data: Bytes::from_static(b"{}"),
    };

    backend.answer_text("/app", 200, "not json");
    assert!(matches!(
        proxy.publish(publish()).await,
        Err(ProxyError::BadResponse(_))
    ));
    backend.answer("/app", 200, json!({"result": {"b64data": "%%%"}}));
    assert!(matches!(
        proxy.publish(publish()).await,
        Err(ProxyError::BadResponse(_))
    ));
    backend.answer(
        "/app",
        200,
        json!({"disconnect": {"code": 70_000, "reason": "too big"}}),
    );
    assert!(matches!(
        proxy.publish(publish()).await,
        Err(ProxyError::BadResponse(_))
    ));

    // A backend slower than the timeout.
    backend.state.answers.lock().expect("lock").insert(
        "/app".to_owned(),
        Answer {
            status: 200,
            body: "{}".to_owned(),
            delay: Duration::from_secs(5),
        },
    );
    assert_eq!(proxy.publish(publish()).await, Err(ProxyError::Timeout));

    // Nobody listening.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = closed.local_addr().expect("address");
    drop(closed);
    let gone = named_proxy(json!({"name": "gone", "endpoint": format!("http://{addr}/x")}));
    assert!(matches!(
        gone.publish(publish()).await,
        Err(ProxyError::Unreachable(_))
    ));
}
