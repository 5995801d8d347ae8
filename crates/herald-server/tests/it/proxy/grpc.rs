//! The gRPC proxy against a tonic `CentrifugoProxy` backend: the messages and metadata sent
//! for each call, how answers, statuses and failures are read.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use herald_grpc::proxy as pb;
use herald_grpc::proxy::centrifugo_proxy_server::{CentrifugoProxy, CentrifugoProxyServer};
use herald_hub::{
    ConnectProxyRequest, ConnectProxyResult, Disconnect, Proxy, ProxyClientError, ProxyError,
    ProxyReply, PublishProxyRequest, PublishProxyResult, RefreshProxyRequest, RefreshProxyResult,
    RpcProxyRequest, RpcProxyResult, SubRefreshProxyRequest, SubRefreshProxyResult,
    SubscribeOptionsClaim, SubscribeOverride, SubscribeProxyRequest, SubscribeProxyResult,
};
use serde_json::{Value, json};
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status};

use super::{context, named_proxy, node, protobuf_context};

/// One call the backend got.
#[derive(Debug, Clone)]
enum Message {
    Connect(pb::ConnectRequest),
    Refresh(pb::RefreshRequest),
    Subscribe(pb::SubscribeRequest),
    Publish(pb::PublishRequest),
    SubRefresh(pb::SubRefreshRequest),
    Rpc(pb::RpcRequest),
}

/// What the backend answers.
#[derive(Default)]
struct Answers {
    connect: pb::ConnectResponse,
    refresh: pb::RefreshResponse,
    subscribe: pb::SubscribeResponse,
    publish: pb::PublishResponse,
    sub_refresh: pb::SubRefreshResponse,
    rpc: pb::RpcResponse,
    /// Fail every call with this status instead.
    fail: Option<(Code, &'static str)>,
    delay: Duration,
}

#[derive(Default)]
struct State {
    answers: Mutex<Answers>,
    recorded: Mutex<Vec<(MetadataMap, Message)>>,
}

#[derive(Clone)]
struct Service(Arc<State>);

impl Service {
    async fn answer<T>(
        &self,
        metadata: MetadataMap,
        message: Message,
        pick: impl FnOnce(&Answers) -> T,
    ) -> Result<Response<T>, Status> {
        self.0
            .recorded
            .lock()
            .expect("lock")
            .push((metadata, message));
        let (answer, fail, delay) = {
            let answers = self.0.answers.lock().expect("lock");
            (pick(&answers), answers.fail, answers.delay)
        };
        tokio::time::sleep(delay).await;
        match fail {
            Some((code, message)) => Err(Status::new(code, message)),
            None => Ok(Response::new(answer)),
        }
    }
}

type Streamed = Pin<Box<dyn Stream<Item = Result<pb::StreamSubscribeResponse, Status>> + Send>>;

#[tonic::async_trait]
impl CentrifugoProxy for Service {
    async fn connect(
        &self,
        request: Request<pb::ConnectRequest>,
    ) -> Result<Response<pb::ConnectResponse>, Status> {
        let (metadata, _, message) = request.into_parts();
        self.answer(metadata, Message::Connect(message), |a| a.connect.clone())
            .await
    }

    async fn refresh(
        &self,
        request: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::RefreshResponse>, Status> {
        let (metadata, _, message) = request.into_parts();
        self.answer(metadata, Message::Refresh(message), |a| a.refresh.clone())
            .await
    }

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<pb::SubscribeResponse>, Status> {
        let (metadata, _, message) = request.into_parts();
        self.answer(metadata, Message::Subscribe(message), |a| {
            a.subscribe.clone()
        })
        .await
    }

    async fn publish(
        &self,
        request: Request<pb::PublishRequest>,
    ) -> Result<Response<pb::PublishResponse>, Status> {
        let (metadata, _, message) = request.into_parts();
        self.answer(metadata, Message::Publish(message), |a| a.publish.clone())
            .await
    }

    async fn rpc(
        &self,
        request: Request<pb::RpcRequest>,
    ) -> Result<Response<pb::RpcResponse>, Status> {
        let (metadata, _, message) = request.into_parts();
        self.answer(metadata, Message::Rpc(message), |a| a.rpc.clone())
            .await
    }

    async fn sub_refresh(
        &self,
        request: Request<pb::SubRefreshRequest>,
    ) -> Result<Response<pb::SubRefreshResponse>, Status> {
        let (metadata, _, message) = request.into_parts();
        self.answer(metadata, Message::SubRefresh(message), |a| {
            a.sub_refresh.clone()
        })
        .await
    }

    type SubscribeUnidirectionalStream = Streamed;

    async fn subscribe_unidirectional(
        &self,
        _request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeUnidirectionalStream>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    type SubscribeBidirectionalStream = Streamed;

    async fn subscribe_bidirectional(
        &self,
        _request: Request<tonic::Streaming<pb::StreamSubscribeRequest>>,
    ) -> Result<Response<Self::SubscribeBidirectionalStream>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn notify_cache_empty(
        &self,
        _request: Request<pb::NotifyCacheEmptyRequest>,
    ) -> Result<Response<pb::NotifyCacheEmptyResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn notify_channel_state(
        &self,
        _request: Request<pb::NotifyChannelStateRequest>,
    ) -> Result<Response<pb::NotifyChannelStateResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn map_publish(
        &self,
        _request: Request<pb::MapPublishRequest>,
    ) -> Result<Response<pb::MapPublishResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn map_remove(
        &self,
        _request: Request<pb::MapRemoveRequest>,
    ) -> Result<Response<pb::MapRemoveResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn shared_poll_refresh(
        &self,
        _request: Request<pb::SharedPollRefreshRequest>,
    ) -> Result<Response<pb::SharedPollRefreshResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

/// A gRPC backend on 127.0.0.1.
struct Backend {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Backend {
    async fn start() -> Self {
        let state = Arc::new(State::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let service = CentrifugoProxyServer::new(Service(state.clone()));
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        Self { addr, state }
    }

    fn proxy(&self, extra: Value) -> Arc<dyn Proxy> {
        let mut entry = json!({"name": "grpc-app", "endpoint": format!("grpc://{}", self.addr)});
        if let (Some(entry), Value::Object(extra)) = (entry.as_object_mut(), extra) {
            entry.extend(extra);
        }
        named_proxy(entry)
    }

    fn answers(&self) -> std::sync::MutexGuard<'_, Answers> {
        self.state.answers.lock().expect("lock")
    }

    fn last(&self) -> (MetadataMap, Message) {
        self.state
            .recorded
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("a call")
    }
}

fn metadata<'a>(map: &'a MetadataMap, key: &str) -> Vec<&'a str> {
    map.get_all(key)
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect()
}

fn result_bytes(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

#[tokio::test]
async fn connect_sends_the_message_and_metadata() {
    let backend = Backend::start().await;
    backend.answers().connect = pb::ConnectResponse {
        result: Some(pb::ConnectResult {
            user: "42".to_owned(),
            expire_at: 1_900_000_000,
            info: result_bytes(r#"{"name":"Ann"}"#),
            b64data: "aGk=".to_owned(),
            channels: vec!["news".to_owned()],
            subs: [(
                "personal".to_owned(),
                pb::SubscribeOptions {
                    info: vec![1, 2],
                    r#override: Some(pb::SubscribeOptionOverride {
                        join_leave: Some(pb::BoolValue { value: true }),
                        ..pb::SubscribeOptionOverride::default()
                    }),
                    ..pb::SubscribeOptions::default()
                },
            )]
            .into_iter()
            .collect(),
            meta: result_bytes(r#"{"plan":"pro"}"#),
            ..pb::ConnectResult::default()
        }),
        ..pb::ConnectResponse::default()
    };
    let node = node(json!({"client": {"proxy": {"connect": {
        "enabled": true, "endpoint": format!("grpc://{}", backend.addr),
        "http_headers": ["Authorization", "X-Multi"],
        "emulated_headers": ["Authorization", "X-Emulated"],
        "grpc": {"static_metadata": {"X-Static": "s", "authorization": "static"},
                 "credentials_key": "X-Api-Key", "credentials_value": "secret"}
    }}}}));
    let proxy = node.client.connect_proxy.expect("connect proxy");
    let reply = proxy
        .connect(ConnectProxyRequest {
            context: herald_hub::ProxyContext {
                user: String::new(),
                ..protobuf_context()
            },
            data: Bytes::from_static(&[0xff, 0x00]),
            name: "go".to_owned(),
            version: "1.0".to_owned(),
            channels: vec!["uni".to_owned()],
        })
        .await;

    let (sent_metadata, message) = backend.last();
    let Message::Connect(message) = message else {
        panic!("a connect call, got {message:?}");
    };
    // Protobuf `bytes` carry the payload as it is.
    assert_eq!(
        message,
        pb::ConnectRequest {
            client: "client-1".to_owned(),
            transport: "websocket".to_owned(),
            protocol: "protobuf".to_owned(),
            encoding: "json".to_owned(),
            data: vec![0xff, 0x00],
            b64data: String::new(),
            name: "go".to_owned(),
            version: "1.0".to_owned(),
            channels: vec!["uni".to_owned()],
        }
    );
    assert_eq!(
        metadata(&sent_metadata, "authorization"),
        ["Bearer transport"]
    );
    assert_eq!(metadata(&sent_metadata, "x-multi"), ["one", "two"]);
    assert_eq!(metadata(&sent_metadata, "x-emulated"), ["e"]);
    assert_eq!(metadata(&sent_metadata, "x-static"), ["s"]);
    assert_eq!(metadata(&sent_metadata, "x-api-key"), ["secret"]);
    assert!(metadata(&sent_metadata, "cookie").is_empty());

    let expected = ConnectProxyResult {
        user: "42".to_owned(),
        expire_at: Some(1_900_000_000),
        info: Bytes::from_static(br#"{"name":"Ann"}"#),
        data: Bytes::from_static(b"hi"),
        channels: vec!["news".to_owned()],
        subs: [(
            "personal".to_owned(),
            SubscribeOptionsClaim {
                info: Bytes::from_static(&[1, 2]),
                data: Bytes::new(),
                overrides: SubscribeOverride {
                    join_leave: Some(true),
                    ..SubscribeOverride::default()
                },
            },
        )]
        .into_iter()
        .collect(),
        meta: Bytes::from_static(br#"{"plan":"pro"}"#),
    };
    assert_eq!(reply, Ok(ProxyReply::Result(expected)));
}

#[tokio::test]
async fn every_call_sends_its_message_and_reads_its_result() {
    let backend = Backend::start().await;
    let proxy = backend.proxy(json!({"include_connection_meta": true}));
    let ctx = context();
    let meta = result_bytes(r#"{"plan":"pro"}"#);
    let base = |encoding: &str| {
        (
            "client-1".to_owned(),
            "websocket".to_owned(),
            "json".to_owned(),
            encoding.to_owned(),
        )
    };
    let (client, transport, protocol, encoding) = base("json");

    backend.answers().refresh = pb::RefreshResponse {
        result: Some(pb::RefreshResult {
            expire_at: 1_900_000_000,
            b64info: "AQI=".to_owned(),
            ..pb::RefreshResult::default()
        }),
        ..pb::RefreshResponse::default()
    };
    let reply = proxy
        .refresh(RefreshProxyRequest {
            context: ctx.clone(),
        })
        .await;
    let Message::Refresh(sent) = backend.last().1 else {
        panic!("refresh");
    };
    assert_eq!(
        sent,
        pb::RefreshRequest {
            client: client.clone(),
            transport: transport.clone(),
            protocol: protocol.clone(),
            encoding: encoding.clone(),
            user: "42".to_owned(),
            meta: meta.clone(),
            ..pb::RefreshRequest::default()
        }
    );
    assert_eq!(
        reply,
        Ok(ProxyReply::Result(RefreshProxyResult {
            expired: false,
            expire_at: Some(1_900_000_000),
            info: Some(Bytes::from_static(&[1, 2])),
            meta: None,
        }))
    );

    backend.answers().subscribe = pb::SubscribeResponse {
        result: Some(pb::SubscribeResult {
            info: vec![7],
            data: result_bytes("{}"),
            r#override: Some(pb::SubscribeOptionOverride {
                presence: Some(pb::BoolValue { value: false }),
                ..pb::SubscribeOptionOverride::default()
            }),
            ..pb::SubscribeResult::default()
        }),
        ..pb::SubscribeResponse::default()
    };
    let reply = proxy
        .subscribe(SubscribeProxyRequest {
            context: ctx.clone(),
            channel: "chat:1".to_owned(),
            token: "t".to_owned(),
            data: Bytes::from_static(b"[1]"),
        })
        .await;
    let Message::Subscribe(sent) = backend.last().1 else {
        panic!("subscribe");
    };
    assert_eq!(
        sent,
        pb::SubscribeRequest {
            client: client.clone(),
            transport: transport.clone(),
            protocol: protocol.clone(),
            encoding: encoding.clone(),
            user: "42".to_owned(),
            channel: "chat:1".to_owned(),
            token: "t".to_owned(),
            meta: meta.clone(),
            data: result_bytes("[1]"),
            ..pb::SubscribeRequest::default()
        }
    );
    assert_eq!(
        reply,
        Ok(ProxyReply::Result(SubscribeProxyResult {
            expire_at: None,
            info: Bytes::from_static(&[7]),
            data: Bytes::from_static(b"{}"),
            overrides: SubscribeOverride {
                presence: Some(false),
                ..SubscribeOverride::default()
            },
        }))
    );

    backend.answers().publish = pb::PublishResponse {
        result: Some(pb::PublishResult {
            data: result_bytes(r#"{"x":1}"#),
            b64data: "ignored when data is set".to_owned(),
            skip_history: true,
            ..pb::PublishResult::default()
        }),
        ..pb::PublishResponse::default()
    };
    let reply = proxy
        .publish(PublishProxyRequest {
            context: ctx.clone(),
            channel: "chat:1".to_owned(),
            data: Bytes::from_static(b"{}"),
        })
        .await;
    let Message::Publish(sent) = backend.last().1 else {
        panic!("publish");
    };
    assert_eq!(
        sent,
        pb::PublishRequest {
            client: client.clone(),
            transport: transport.clone(),
            protocol: protocol.clone(),
            encoding: encoding.clone(),
            user: "42".to_owned(),
            channel: "chat:1".to_owned(),
            data: result_bytes("{}"),
            meta: meta.clone(),
            ..pb::PublishRequest::default()
        }
    );
    assert_eq!(
        reply,
        Ok(ProxyReply::Result(PublishProxyResult {
            data: Some(Bytes::from_static(br#"{"x":1}"#)),
            skip_history: true,
        }))
    );

    backend.answers().sub_refresh = pb::SubRefreshResponse {
        result: Some(pb::SubRefreshResult {
            expire_at: 1_900_000_000,
            ..pb::SubRefreshResult::default()
        }),
        ..pb::SubRefreshResponse::default()
    };
    let reply = proxy
        .sub_refresh(SubRefreshProxyRequest {
            context: ctx.clone(),
            channel: "chat:1".to_owned(),
        })
        .await;
    let Message::SubRefresh(sent) = backend.last().1 else {
        panic!("sub_refresh");
    };
    assert_eq!(
        sent,
        pb::SubRefreshRequest {
            client: client.clone(),
            transport: transport.clone(),
            protocol: protocol.clone(),
            encoding: encoding.clone(),
            user: "42".to_owned(),
            channel: "chat:1".to_owned(),
            meta: meta.clone(),
            ..pb::SubRefreshRequest::default()
        }
    );
    assert_eq!(
        reply,
        Ok(ProxyReply::Result(SubRefreshProxyResult {
            expired: false,
            expire_at: Some(1_900_000_000),
            info: None,
        }))
    );

    backend.answers().rpc = pb::RpcResponse {
        result: Some(pb::RpcResult {
            data: result_bytes(r#"{"sum":3}"#),
            ..pb::RpcResult::default()
        }),
        ..pb::RpcResponse::default()
    };
    let reply = proxy
        .rpc(RpcProxyRequest {
            context: ctx,
            method: "math:add".to_owned(),
            data: Bytes::from_static(b"[1,2]"),
        })
        .await;
    let Message::Rpc(sent) = backend.last().1 else {
        panic!("rpc");
    };
    assert_eq!(
        sent,
        pb::RpcRequest {
            client,
            transport,
            protocol,
            encoding,
            user: "42".to_owned(),
            method: "math:add".to_owned(),
            data: result_bytes("[1,2]"),
            meta,
            ..pb::RpcRequest::default()
        }
    );
    assert_eq!(
        reply,
        Ok(ProxyReply::Result(RpcProxyResult {
            data: Bytes::from_static(br#"{"sum":3}"#),
        }))
    );
}

#[tokio::test]
async fn binary_encoding_sends_b64data() {
    let backend = Backend::start().await;
    let proxy = backend.proxy(json!({"binary_encoding": true}));
    let _ = proxy
        .rpc(RpcProxyRequest {
            context: context(),
            method: "m".to_owned(),
            data: Bytes::from_static(b"{}"),
        })
        .await;
    let Message::Rpc(sent) = backend.last().1 else {
        panic!("rpc");
    };
    assert_eq!(sent.encoding, "binary");
    assert!(sent.data.is_empty());
    assert_eq!(sent.b64data, "e30=");
    assert!(
        sent.meta.is_empty(),
        "no meta without include_connection_meta"
    );
}

#[tokio::test]
async fn errors_disconnects_and_failures() {
    let backend = Backend::start().await;
    let proxy = backend.proxy(json!({"timeout": "200ms"}));
    let rpc = || RpcProxyRequest {
        context: context(),
        method: "m".to_owned(),
        data: Bytes::new(),
    };
    backend.answers().rpc = pb::RpcResponse {
        error: Some(pb::Error {
            code: 1001,
            message: "nope".to_owned(),
            temporary: true,
        }),
        ..pb::RpcResponse::default()
    };
    assert_eq!(
        proxy.rpc(rpc()).await,
        Ok(ProxyReply::Error(ProxyClientError {
            code: 1001,
            message: "nope".to_owned(),
            temporary: true,
        }))
    );
    backend.answers().rpc.disconnect = Some(pb::Disconnect {
        code: 4001,
        reason: "out".to_owned(),
    });
    assert_eq!(
        proxy.rpc(rpc()).await,
        Ok(ProxyReply::Disconnect(Disconnect {
            code: 4001,
            reason: "out".to_owned(),
        }))
    );

    backend.answers().fail = Some((Code::Internal, "boom"));
    assert!(matches!(
        proxy.rpc(rpc()).await,
        Err(ProxyError::BadResponse(_))
    ));
    backend.answers().fail = Some((Code::DeadlineExceeded, "late"));
    assert_eq!(proxy.rpc(rpc()).await, Err(ProxyError::Timeout));
    backend.answers().fail = Some((Code::Unavailable, "down"));
    assert!(matches!(
        proxy.rpc(rpc()).await,
        Err(ProxyError::Unreachable(_))
    ));

    // A backend slower than the timeout.
    {
        let mut answers = backend.answers();
        answers.fail = None;
        answers.delay = Duration::from_secs(5);
    }
    assert_eq!(proxy.rpc(rpc()).await, Err(ProxyError::Timeout));

    // Nobody listening: the proxy was built anyway (it connects lazily).
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = closed.local_addr().expect("address");
    drop(closed);
    let gone = named_proxy(json!({"name": "gone", "endpoint": format!("grpc://{addr}")}));
    assert!(matches!(
        gone.rpc(rpc()).await,
        Err(ProxyError::Unreachable(_))
    ));
}
