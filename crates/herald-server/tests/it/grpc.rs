//! The gRPC server API and uni_grpc over real sockets, with tonic clients generated from the
//! same `api.proto` and `unistream.proto`: every method, the key check, both error modes,
//! unimplemented methods, a uni_grpc stream from its connect push to its disconnect push, and
//! configurations that `validate` must refuse.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use herald_engine::memory::MemoryEngine;
use herald_grpc::api::centrifugo_api_client::CentrifugoApiClient;
use herald_grpc::api::{self as pb};
use herald_grpc::unistream;
use herald_grpc::unistream::centrifugo_uni_stream_client::CentrifugoUniStreamClient;
use herald_hub::{ChannelOptions, Hub, NodeOptions};
use herald_server::config::{self, Format, GrpcApiSettings, UniGrpcSettings};
use prost::Message as _;
use tokio_util::task::TaskTracker;
use tonic::transport::Channel;
use tonic::{Code, Request};

use crate::api::{Tokens, connect, next_messages};
use crate::websocket::WAIT;

const KEY: &str = "grpc_key";

struct Server {
    api: SocketAddr,
    uni: SocketAddr,
    hub: Hub,
}

/// A node on the memory engine (channels without namespace keep presence and history) with
/// the gRPC API (`key` unless empty) and uni_grpc on 127.0.0.1 ports of their own.
async fn start(key: &str, transport_errors: bool) -> Server {
    start_limited(key, transport_errors, 0, 0).await
}

/// [`start`] with `grpc_api.rate_limit` calls per second and `client.ip_connection_limit`.
async fn start_limited(
    key: &str,
    transport_errors: bool,
    rate_limit: u32,
    ip_connection_limit: usize,
) -> Server {
    let mut options = NodeOptions::default();
    options.client.ip_connection_limit = ip_connection_limit;
    options.channel.without_namespace = ChannelOptions {
        presence: true,
        history_size: 10,
        history_ttl: Duration::from_secs(300),
        ..ChannelOptions::default()
    };
    let engine = Arc::new(MemoryEngine::new());
    let hub = Hub::new(options, engine.clone(), engine, Arc::new(Tokens));
    hub.start().await.expect("memory engine starts");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api = listener.local_addr().expect("address");
    let settings = GrpcApiSettings {
        enabled: true,
        listen_address: api.to_string(),
        key: key.to_owned(),
        transport_errors,
        rate_limit,
        max_receive_message_size: 4 << 20,
        tls: None,
    };
    let serve =
        herald_server::grpc::serve_api(hub.clone(), &settings, listener, std::future::pending())
            .expect("no TLS to refuse");
    tokio::spawn(serve);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let uni = listener.local_addr().expect("address");
    let settings = UniGrpcSettings {
        enabled: true,
        listen_address: uni.to_string(),
        max_receive_message_size: 4 << 20,
        tls: None,
    };
    let serve = herald_server::grpc::serve_uni(
        hub.clone(),
        &settings,
        listener,
        TaskTracker::new(),
        std::future::pending(),
    )
    .expect("no TLS to refuse");
    tokio::spawn(serve);
    Server { api, uni, hub }
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("valid uri")
        .connect()
        .await
        .expect("connects")
}

async fn client(server: &Server) -> CentrifugoApiClient<Channel> {
    CentrifugoApiClient::new(channel(server.api).await)
}

/// A request with the right key.
fn authorized<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("apikey {KEY}").parse().expect("ascii"),
    );
    request
}

fn publish(channel: &str, data: &str) -> pb::PublishRequest {
    pb::PublishRequest {
        channel: channel.into(),
        data: data.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn error(code: u32, message: &str) -> Option<pb::Error> {
    Some(pb::Error {
        code,
        message: message.into(),
    })
}

#[tokio::test]
async fn publish_history_and_history_remove() {
    let server = start(KEY, false).await;
    let mut api = client(&server).await;
    let first = api
        .publish(authorized(publish("room", r#"{"n":1}"#)))
        .await
        .expect("ok")
        .into_inner();
    assert_eq!(first.error, None);
    let first = first.result.expect("result");
    assert_eq!(first.offset, 1);
    assert!(!first.epoch.is_empty());
    // Binary payloads arrive as bytes, as written.
    let binary = pb::PublishRequest {
        b64data: "AAH/".into(),
        ..publish("room", "")
    };
    api.publish(authorized(binary)).await.expect("ok");

    let history = api
        .history(authorized(pb::HistoryRequest {
            channel: "room".into(),
            limit: -1,
            ..Default::default()
        }))
        .await
        .expect("ok")
        .into_inner();
    let history = history.result.expect("result");
    assert_eq!(
        (history.offset, history.epoch.as_str()),
        (2, first.epoch.as_str())
    );
    let data: Vec<&[u8]> = history.publications.iter().map(|p| &p.data[..]).collect();
    assert_eq!(data, [&br#"{"n":1}"#[..], &[0, 1, 255][..]]);

    let removed = api
        .history_remove(authorized(pb::HistoryRemoveRequest {
            channel: "room".into(),
        }))
        .await
        .expect("ok")
        .into_inner();
    assert_eq!(
        (removed.error, removed.result),
        (None, Some(pb::HistoryRemoveResult {}))
    );
    let history = api
        .history(authorized(pb::HistoryRequest {
            channel: "room".into(),
            limit: -1,
            ..Default::default()
        }))
        .await
        .expect("ok")
        .into_inner()
        .result
        .expect("result");
    assert!(history.publications.is_empty());
    assert_eq!(history.offset, 2);
}

#[tokio::test]
async fn errors_are_in_the_response_by_default() {
    let server = start(KEY, false).await;
    let mut api = client(&server).await;
    let answer = api
        .publish(authorized(publish("", "{}")))
        .await
        .expect("OK status")
        .into_inner();
    assert_eq!(
        (answer.error, answer.result),
        (error(107, "bad request"), None)
    );
    let answer = api
        .presence(authorized(pb::PresenceRequest {
            channel: "unknown:room".into(),
        }))
        .await
        .expect("OK status")
        .into_inner();
    assert_eq!(answer.error, error(102, "unknown channel"));
    let answer = api
        .rpc(authorized(pb::RpcRequest {
            method: "anything".into(),
            params: Vec::new(),
        }))
        .await
        .expect("OK status")
        .into_inner();
    assert_eq!(answer.error, error(104, "not found"));
}

#[tokio::test]
async fn transport_error_mode_uses_grpc_statuses() {
    let server = start(KEY, true).await;
    let mut api = client(&server).await;
    let status = api
        .publish(authorized(publish("", "{}")))
        .await
        .expect_err("a status");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "bad request");
    let status = api
        .presence(authorized(pb::PresenceRequest {
            channel: "unknown:room".into(),
        }))
        .await
        .expect_err("a status");
    assert_eq!(status.code(), Code::NotFound);
    // Successes are unchanged.
    let ok = api.publish(authorized(publish("room", "{}"))).await;
    assert!(ok.is_ok_and(|r| r.into_inner().result.is_some()));

    // Per call, with the default mode configured.
    let server = start(KEY, false).await;
    let mut api = client(&server).await;
    let mut request = authorized(publish("", "{}"));
    request.metadata_mut().insert(
        "x-centrifugo-error-mode",
        "transport".parse().expect("ascii"),
    );
    let status = api.publish(request).await.expect_err("a status");
    assert_eq!(status.code(), Code::InvalidArgument);
    // The details carry the API error (a google.rpc.Status with it as an Any).
    assert!(!status.details().is_empty());
}

#[tokio::test]
async fn calls_past_the_rate_limit_get_resource_exhausted_and_keyless_ones_spend_nothing() {
    let server = start_limited(KEY, false, 1, 0).await;
    let mut api = client(&server).await;
    for _ in 0..5 {
        let status = api
            .info(Request::new(pb::InfoRequest {}))
            .await
            .expect_err("missing key");
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    api.info(authorized(pb::InfoRequest {}))
        .await
        .expect("the bucket's one token is still there");
    // One call per second: 20 calls in a row meet an empty bucket unless they take 19 s.
    let mut exhausted = 0;
    for _ in 0..20 {
        match api.info(authorized(pb::InfoRequest {})).await {
            Ok(_) => {}
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted);
                exhausted += 1;
            }
        }
    }
    assert!(exhausted > 0);
    assert_eq!(
        server.hub.limit_counters().snapshot().api_rate,
        exhausted,
        "each refusal is counted"
    );
}

#[tokio::test]
async fn the_key_is_required_when_set() {
    let server = start(KEY, false).await;
    let mut api = client(&server).await;
    let status = api
        .info(Request::new(pb::InfoRequest {}))
        .await
        .expect_err("missing key");
    assert_eq!(status.code(), Code::Unauthenticated);
    let mut wrong = Request::new(pb::InfoRequest {});
    wrong
        .metadata_mut()
        .insert("authorization", "apikey nope".parse().expect("ascii"));
    let status = api.info(wrong).await.expect_err("wrong key");
    assert_eq!(status.code(), Code::Unauthenticated);
    let info = api
        .info(authorized(pb::InfoRequest {}))
        .await
        .expect("right key")
        .into_inner()
        .result
        .expect("result");
    assert_eq!(info.nodes.len(), 1);
    assert_eq!(info.nodes[0].uid, server.hub.node_id());

    // Without a configured key, nothing is checked.
    let open = start("", false).await;
    let mut api = client(&open).await;
    assert!(api.info(Request::new(pb::InfoRequest {})).await.is_ok());
}

#[tokio::test]
async fn connection_methods_presence_and_channels() {
    let server = start(KEY, false).await;
    let mut api = client(&server).await;
    let (client_id, outbox) = connect(&server.hub, "alice").await;

    let subscribed = api
        .subscribe(authorized(pb::SubscribeRequest {
            user: "alice".into(),
            channel: "room".into(),
            ..Default::default()
        }))
        .await
        .expect("ok")
        .into_inner();
    assert_eq!(subscribed.error, None);
    let pushed = next_messages(&outbox).await;
    assert!(pushed[0].contains(r#""subscribe""#), "{pushed:?}");

    let presence = api
        .presence(authorized(pb::PresenceRequest {
            channel: "room".into(),
        }))
        .await
        .expect("ok")
        .into_inner()
        .result
        .expect("result");
    let info = &presence.presence[&client_id];
    assert_eq!(
        (info.user.as_str(), info.client.as_str()),
        ("alice", client_id.as_str())
    );
    assert_eq!(info.conn_info, br#"{"name":"tester"}"#);
    let stats = api
        .presence_stats(authorized(pb::PresenceStatsRequest {
            channel: "room".into(),
        }))
        .await
        .expect("ok")
        .into_inner()
        .result
        .expect("result");
    assert_eq!((stats.num_clients, stats.num_users), (1, 1));
    let channels = api
        .channels(authorized(pb::ChannelsRequest {
            pattern: "ro*".into(),
        }))
        .await
        .expect("ok")
        .into_inner()
        .result
        .expect("result");
    assert_eq!(channels.channels["room"].num_clients, 1);

    let unsubscribed = api
        .unsubscribe(authorized(pb::UnsubscribeRequest {
            user: "alice".into(),
            channel: "room".into(),
            ..Default::default()
        }))
        .await
        .expect("ok")
        .into_inner();
    assert_eq!(unsubscribed.error, None);
    let pushed = next_messages(&outbox).await;
    assert!(pushed[0].contains(r#""unsubscribe""#), "{pushed:?}");

    let refreshed = api
        .refresh(authorized(pb::RefreshRequest {
            user: "alice".into(),
            expire_at: 4_000_000_000,
            ..Default::default()
        }))
        .await
        .expect("ok")
        .into_inner();
    assert_eq!(refreshed.error, None);

    let disconnected = api
        .disconnect(authorized(pb::DisconnectRequest {
            user: "alice".into(),
            disconnect: Some(pb::Disconnect {
                code: 4000,
                reason: "bye".into(),
            }),
            ..Default::default()
        }))
        .await
        .expect("ok")
        .into_inner();
    assert_eq!(disconnected.error, None);
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            if let herald_hub::Drained::Close(_, reason) = outbox.drain().await {
                return reason;
            }
        }
    })
    .await
    .expect("closed");
    assert_eq!((closed.code, closed.reason.as_str()), (4000, "bye"));
}

#[tokio::test]
async fn broadcast_and_batch() {
    let server = start(KEY, false).await;
    let mut api = client(&server).await;
    let broadcast = api
        .broadcast(authorized(pb::BroadcastRequest {
            channels: vec!["a".into(), "unknown:b".into()],
            data: b"{}".to_vec(),
            ..Default::default()
        }))
        .await
        .expect("ok")
        .into_inner()
        .result
        .expect("result");
    assert_eq!(broadcast.responses.len(), 2);
    assert_eq!(broadcast.responses[0].error, None);
    assert_eq!(
        broadcast.responses[0].result.as_ref().map(|r| r.offset),
        Some(1)
    );
    assert_eq!(broadcast.responses[1].error, error(102, "unknown channel"));

    let batch = api
        .batch(authorized(pb::BatchRequest {
            commands: vec![
                pb::Command {
                    publish: Some(publish("a", r#"{"x":1}"#)),
                    ..Default::default()
                },
                pb::Command {
                    presence_stats: Some(pb::PresenceStatsRequest {
                        channel: "a".into(),
                    }),
                    ..Default::default()
                },
                // A method Herald does not serve (map publish): 104, as an unknown one.
                pb::Command {
                    map_publish: Some(pb::MapPublishRequest::default()),
                    ..Default::default()
                },
                pb::Command {
                    info: Some(pb::InfoRequest {}),
                    ..Default::default()
                },
            ],
            parallel: false,
        }))
        .await
        .expect("ok")
        .into_inner();
    let replies = batch.replies;
    assert_eq!(replies.len(), 4);
    assert_eq!(replies[0].publish.as_ref().map(|r| r.offset), Some(2));
    assert_eq!(
        replies[1].presence_stats,
        Some(pb::PresenceStatsResult {
            num_clients: 0,
            num_users: 0
        })
    );
    assert_eq!(replies[2].error, error(104, "not found"));
    assert!(replies[3].info.is_some());
}

#[tokio::test]
async fn connections_lists_a_users_connections() {
    let server = start(KEY, false).await;
    let (client_id, _outbox) = connect(&server.hub, "carol").await;
    let mut api = client(&server).await;
    let reply = api
        .connections(authorized(pb::ConnectionsRequest {
            user: "carol".into(),
            ..Default::default()
        }))
        .await
        .expect("served")
        .into_inner();
    assert_eq!(reply.error, None);
    let connections = reply.result.expect("result").connections;
    assert_eq!(connections.len(), 1);
    let info = &connections[&client_id];
    assert_eq!(
        (
            info.user.as_str(),
            info.transport.as_str(),
            info.protocol.as_str()
        ),
        ("carol", "websocket", "json")
    );
    assert!(info.connected_at_ms > 0);
    let refused = api
        .connections(authorized(pb::ConnectionsRequest {
            expression: "true".into(),
            ..Default::default()
        }))
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(refused.error, error(107, "bad request"));
}

#[tokio::test]
async fn methods_herald_does_not_serve_are_unimplemented() {
    let server = start(KEY, false).await;
    let mut api = client(&server).await;
    let status = api
        .map_publish(authorized(pb::MapPublishRequest::default()))
        .await
        .expect_err("unimplemented");
    assert_eq!(status.code(), Code::Unimplemented);
}

#[tokio::test]
async fn uni_grpc_past_the_ip_connection_limit_is_resource_exhausted_until_a_stream_ends() {
    let server = start_limited(KEY, false, 0, 1).await;
    let mut uni = CentrifugoUniStreamClient::new(channel(server.uni).await);
    let request = || unistream::ConnectRequest {
        token: "user:bob".into(),
        ..Default::default()
    };
    let mut first = uni.consume(request()).await.expect("stream").into_inner();
    let push = tokio::time::timeout(WAIT, first.message())
        .await
        .expect("a push in time")
        .expect("no error")
        .expect("connect push");
    assert!(push.connect.is_some());
    let status = uni.consume(request()).await.expect_err("one per IP");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(
        server.hub.limit_counters().snapshot().ip_connection_limit,
        1
    );

    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match uni.consume(request()).await {
            Ok(_) => break,
            Err(status) => assert_eq!(status.code(), Code::ResourceExhausted),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place never freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn uni_grpc_streams_the_connect_push_publications_and_the_disconnect() {
    let server = start(KEY, false).await;
    let mut uni = CentrifugoUniStreamClient::new(channel(server.uni).await);
    let request = unistream::ConnectRequest {
        token: "user:bob".into(),
        ..Default::default()
    };
    let mut stream = uni.consume(request).await.expect("stream").into_inner();
    let next = async |stream: &mut tonic::Streaming<unistream::Push>| {
        tokio::time::timeout(WAIT, stream.message())
            .await
            .expect("a push in time")
            .expect("no error")
    };
    let connect = next(&mut stream).await.expect("connect push");
    let connected = connect.connect.expect("connect first");
    assert!(!connected.client.is_empty());

    // Subscribed on the server's initiative (a unidirectional client cannot subscribe itself),
    // it receives what the API publishes.
    let mut api = client(&server).await;
    api.subscribe(authorized(pb::SubscribeRequest {
        user: "bob".into(),
        channel: "room".into(),
        ..Default::default()
    }))
    .await
    .expect("subscribed");
    let subscribe = loop {
        let push = next(&mut stream).await.expect("a push");
        if push.subscribe.is_some() {
            break push;
        }
    };
    assert_eq!(subscribe.channel, "room");
    api.publish(authorized(publish("room", r#"{"text":"hi"}"#)))
        .await
        .expect("published");
    let push = loop {
        let push = next(&mut stream).await.expect("a push");
        // Skip pings (empty pushes).
        if push.r#pub.is_some() {
            break push;
        }
    };
    assert_eq!(push.channel, "room");
    assert_eq!(push.r#pub.expect("publication").data, br#"{"text":"hi"}"#);

    api.disconnect(authorized(pb::DisconnectRequest {
        user: "bob".into(),
        ..Default::default()
    }))
    .await
    .expect("disconnected");
    let disconnect = loop {
        let push = next(&mut stream).await.expect("the disconnect push");
        if let Some(disconnect) = push.disconnect {
            break disconnect;
        }
    };
    assert_eq!(disconnect.code, 3503);
    assert!(next(&mut stream).await.is_none(), "the stream ends");
}

#[tokio::test]
async fn uni_grpc_refused_connect_is_a_disconnect() {
    let server = start(KEY, false).await;
    let mut uni = CentrifugoUniStreamClient::new(channel(server.uni).await);
    let request = unistream::ConnectRequest {
        token: "not a token".into(),
        ..Default::default()
    };
    let mut stream = uni.consume(request).await.expect("stream").into_inner();
    let push = tokio::time::timeout(WAIT, stream.message())
        .await
        .expect("in time")
        .expect("no error")
        .expect("a push");
    let disconnect = push.disconnect.expect("disconnect");
    assert_eq!(disconnect.code, 3500);
}

#[test]
fn pushes_are_protobuf_on_the_wire() {
    // What a client without generated code sees is the Push message itself.
    let push = unistream::Push {
        channel: "c".into(),
        ..Default::default()
    };
    assert_eq!(push.encode_to_vec(), [0x12, 1, b'c']);
}

fn problems(yaml: &str) -> Vec<String> {
    let config = config::load_str(yaml, Format::Yaml, Vec::new()).expect("parses");
    match config.config.validate() {
        Ok(_) => Vec::new(),
        Err(err) => err.problems().iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn bad_grpc_configuration_is_refused_naming_the_key() {
    let found = problems(
        "grpc_api:\n  enabled: true\n  port: 0\n  error_mode: loud\n  tls:\n    enabled: true\n\
         uni_grpc:\n  enabled: true\n  port: 70000\n  tls:\n    enabled: true\n    cert_pem: /nonexistent.pem\n    key_pem: /nonexistent.key\n",
    );
    let expect = [
        "grpc_api.error_mode: ",
        "grpc_api.port: must be between 1 and 65535, got 0",
        "grpc_api.tls.cert_pem: required",
        "grpc_api.tls.key_pem: required",
        "uni_grpc.port: must be between 1 and 65535, got 70000",
        "uni_grpc.tls.cert_pem: ",
        "uni_grpc.tls.key_pem: ",
    ];
    for prefix in expect {
        assert!(
            found.iter().any(|p| p.starts_with(prefix)),
            "{prefix}: {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
    // Disabled listeners are not checked; enabled ones with defaults are fine.
    assert!(problems("grpc_api:\n  port: 0\n").is_empty());
    assert!(problems("grpc_api:\n  enabled: true\nuni_grpc:\n  enabled: true\n").is_empty());
}
