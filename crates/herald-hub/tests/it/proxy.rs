//! When the session asks the backend, and what it does with each kind of answer. The backend is
//! a scripted `Proxy` in the test (the HTTP and gRPC clients are tested in the server crate, the
//! whole path end to end with the SDK in `tests/e2e/proxy.test.mjs`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use herald_hub::{
    ConnectProxyRequest, ConnectProxyResult, Disconnect, Flow, Proxy, ProxyClientError, ProxyError,
    ProxyOutcome, ProxyReply, PublishProxyRequest, PublishProxyResult, RefreshProxyRequest,
    RefreshProxyResult, RpcNamespace, RpcProxyRequest, RpcProxyResult, SubRefreshProxyRequest,
    SubRefreshProxyResult, SubscribeProxyRequest, SubscribeProxyResult, SubscriptionStream,
};
use herald_proto::Protocol;

use crate::support::{connected, hub, options, send, take};

/// A backend that answers by the user, channel or method it is asked about, and records what
/// it was asked.
#[derive(Debug, Default)]
struct Scripted {
    calls: Mutex<Vec<String>>,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

impl Scripted {
    fn record(&self, call: String) {
        self.calls.lock().expect("not poisoned").push(call);
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("not poisoned").clone()
    }
}

#[async_trait]
impl Proxy for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn connect(&self, request: ConnectProxyRequest) -> ProxyOutcome<ConnectProxyResult> {
        let asked = String::from_utf8_lossy(&request.data).into_owned();
        self.record(format!("connect {asked} {}", request.context.transport));
        match asked.as_str() {
            r#""down""# => Err(ProxyError::Unreachable("refused".into())),
            r#""banned""# => Ok(ProxyReply::Disconnect(Disconnect {
                code: 4403,
                reason: "banned".into(),
            })),
            r#""teapot""# => Ok(ProxyReply::Error(ProxyClientError {
                code: 418,
                message: "teapot".into(),
                temporary: false,
            })),
            r#""short""# => Ok(ProxyReply::Result(ConnectProxyResult {
                user: "short".into(),
                expire_at: Some(unix_now() + 1),
                meta: Bytes::from_static(br#"{"m":1}"#),
                ..Default::default()
            })),
            _ => Ok(ProxyReply::Result(ConnectProxyResult {
                user: "carol".into(),
                data: Bytes::from_static(br#"{"welcome":true}"#),
                ..Default::default()
            })),
        }
    }

    async fn refresh(&self, request: RefreshProxyRequest) -> ProxyOutcome<RefreshProxyResult> {
        self.record(format!(
            "refresh {} meta={}",
            request.context.user,
            String::from_utf8_lossy(&request.context.meta)
        ));
        Ok(ProxyReply::Result(RefreshProxyResult {
            expire_at: Some(unix_now() + 3600),
            ..Default::default()
        }))
    }

    async fn subscribe(
        &self,
        request: SubscribeProxyRequest,
    ) -> ProxyOutcome<SubscribeProxyResult> {
        self.record(format!("subscribe {}", request.channel));
        match request.channel.as_str() {
            "allowed" => Ok(ProxyReply::Result(SubscribeProxyResult {
                data: Bytes::from_static(br#"{"hello":1}"#),
                expire_at: Some(unix_now() + 2),
                ..Default::default()
            })),
            "slow" => Err(ProxyError::Timeout),
            _ => Ok(ProxyReply::Error(ProxyClientError {
                code: 103,
                message: "permission denied".into(),
                temporary: false,
            })),
        }
    }

    async fn publish(&self, request: PublishProxyRequest) -> ProxyOutcome<PublishProxyResult> {
        self.record(format!("publish {}", request.channel));
        Ok(ProxyReply::Result(PublishProxyResult {
            data: Some(Bytes::from_static(br#"{"rewritten":true}"#)),
            skip_history: false,
        }))
    }

    async fn sub_refresh(
        &self,
        request: SubRefreshProxyRequest,
    ) -> ProxyOutcome<SubRefreshProxyResult> {
        self.record(format!("sub_refresh {}", request.channel));
        Ok(ProxyReply::Result(SubRefreshProxyResult {
            expired: true,
            ..Default::default()
        }))
    }

    async fn rpc(&self, request: RpcProxyRequest) -> ProxyOutcome<RpcProxyResult> {
        self.record(format!("rpc {}", request.method));
        Ok(ProxyReply::Result(RpcProxyResult { data: request.data }))
    }
}

/// Options where the channel without namespace goes through `backend` for everything.
fn proxied(backend: &Arc<Scripted>) -> herald_hub::NodeOptions {
    let mut opts = options();
    let proxy: Arc<dyn Proxy> = backend.clone();
    opts.client.connect_proxy = Some(proxy.clone());
    opts.client.refresh_proxy = Some(proxy.clone());
    let ns = &mut opts.channel.without_namespace;
    ns.allow_subscribe_for_client = false;
    ns.allow_publish_for_subscriber = false;
    ns.subscribe_proxy = Some(proxy.clone());
    ns.publish_proxy = Some(proxy.clone());
    ns.sub_refresh_proxy = Some(proxy.clone());
    opts.rpc.namespaces = vec![RpcNamespace {
        name: "app".into(),
        proxy: Some(proxy),
    }];
    opts
}

/// Sends a command that must not end the connection.
async fn command(session: &mut herald_hub::Session, frame: &str) {
    assert_eq!(send(session, frame).await, Flow::Continue, "{frame}");
}

async fn connect_with(hub: &herald_hub::Hub, data: &str) -> (herald_hub::Session, Flow) {
    let mut session = hub.session(Protocol::Json);
    let frame = format!(r#"{{"id":1,"connect":{{"data":{data}}}}}"#);
    let flow = send(&mut session, &frame).await;
    (session, flow)
}

#[tokio::test]
async fn a_connect_without_token_takes_the_user_and_data_from_the_proxy() {
    let backend = Arc::new(Scripted::default());
    let hub = hub(proxied(&backend)).await;
    let (session, flow) = connect_with(&hub, r#""hi""#).await;
    assert_eq!(flow, Flow::Continue);
    let (replies, close) = take(&session).await;
    assert_eq!(close, None);
    let connect = replies[0].connect.as_ref().expect("connect reply");
    assert_eq!(&connect.data[..], br#"{"welcome":true}"#);
    assert_eq!(session.user(), "carol");
    assert_eq!(backend.calls(), vec![r#"connect "hi" websocket"#]);
}

#[tokio::test]
async fn a_token_skips_the_connect_proxy() {
    let backend = Arc::new(Scripted::default());
    let hub = hub(proxied(&backend)).await;
    let session = connected(&hub, "alice").await;
    assert_eq!(session.user(), "alice");
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn the_backends_refusals_reach_the_client_as_given() {
    let backend = Arc::new(Scripted::default());
    let hub = hub(proxied(&backend)).await;

    let (session, flow) = connect_with(&hub, r#""banned""#).await;
    assert_eq!(flow, Flow::Close);
    assert_eq!(take(&session).await.1, Some(4403));

    let (session, _) = connect_with(&hub, r#""teapot""#).await;
    let (replies, _) = take(&session).await;
    let error = replies[0].error.as_ref().expect("error reply");
    assert_eq!((error.code, error.message.as_str()), (418, "teapot"));

    // A backend that cannot be reached: error 100, and the connection can try again.
    let (session, _) = connect_with(&hub, r#""down""#).await;
    let (replies, close) = take(&session).await;
    assert_eq!(replies[0].error.as_ref().map(|e| e.code), Some(100));
    assert_eq!(close, None);
}

#[tokio::test]
async fn the_subscribe_proxy_allows_one_channel_and_refuses_another() {
    let backend = Arc::new(Scripted::default());
    let hub = hub(proxied(&backend)).await;
    let (mut session, _) = connect_with(&hub, r#""hi""#).await;
    take(&session).await;

    command(
        &mut session,
        r#"{"id":2,"subscribe":{"channel":"allowed"}}"#,
    )
    .await;
    let (replies, _) = take(&session).await;
    let subscribe = replies[0].subscribe.as_ref().expect("subscribe reply");
    assert_eq!(&subscribe.data[..], br#"{"hello":1}"#);
    // The sub_refresh proxy extends it: the client is not told it expires.
    assert!(!subscribe.expires);

    command(&mut session, r#"{"id":3,"subscribe":{"channel":"denied"}}"#).await;
    let (replies, _) = take(&session).await;
    assert_eq!(replies[0].error.as_ref().map(|e| e.code), Some(103));

    command(&mut session, r#"{"id":4,"subscribe":{"channel":"slow"}}"#).await;
    let (replies, close) = take(&session).await;
    assert_eq!(replies[0].error.as_ref().map(|e| e.code), Some(100));
    assert_eq!(
        close, None,
        "a failed proxy call costs the command, not the connection"
    );
}

#[tokio::test]
async fn the_publish_proxy_rewrites_what_subscribers_receive() {
    let backend = Arc::new(Scripted::default());
    let hub = hub(proxied(&backend)).await;
    let (mut session, _) = connect_with(&hub, r#""hi""#).await;
    take(&session).await;
    command(
        &mut session,
        r#"{"id":2,"subscribe":{"channel":"allowed"}}"#,
    )
    .await;
    take(&session).await;

    command(
        &mut session,
        r#"{"id":3,"publish":{"channel":"allowed","data":{"original":true}}}"#,
    )
    .await;
    let (replies, _) = take(&session).await;
    let publication = replies
        .iter()
        .find_map(|r| r.push.as_ref().and_then(|p| p.r#pub.as_ref()))
        .expect("the publication comes back to its subscriber");
    assert_eq!(&publication.data[..], br#"{"rewritten":true}"#);
    assert!(replies.iter().any(|r| r.id == 3 && r.publish.is_some()));
}

#[tokio::test]
async fn rpc_goes_to_the_proxy_of_the_methods_namespace() {
    let backend = Arc::new(Scripted::default());
    let hub = hub(proxied(&backend)).await;
    let (mut session, _) = connect_with(&hub, r#""hi""#).await;
    take(&session).await;

    command(
        &mut session,
        r#"{"id":2,"rpc":{"method":"app:echo","data":{"x":1}}}"#,
    )
    .await;
    let (replies, _) = take(&session).await;
    let rpc = replies[0].rpc.as_ref().expect("rpc reply");
    assert_eq!(&rpc.data[..], br#"{"x":1}"#);

    // No proxy serves methods without a namespace here: 104.
    command(
        &mut session,
        r#"{"id":3,"rpc":{"method":"echo","data":{}}}"#,
    )
    .await;
    let (replies, _) = take(&session).await;
    assert_eq!(replies[0].error.as_ref().map(|e| e.code), Some(104));
}

#[tokio::test]
async fn rpc_without_any_proxy_is_not_available() {
    let hub = hub(options()).await;
    let mut session = connected(&hub, "alice").await;
    command(
        &mut session,
        r#"{"id":2,"rpc":{"method":"echo","data":{}}}"#,
    )
    .await;
    let (replies, _) = take(&session).await;
    assert_eq!(replies[0].error.as_ref().map(|e| e.code), Some(108));
}

#[tokio::test]
async fn the_refresh_proxy_extends_a_connection_at_its_expiry_with_the_connections_meta() {
    let backend = Arc::new(Scripted::default());
    let mut opts = proxied(&backend);
    opts.client.ping_interval = None;
    let hub = hub(opts).await;
    let (mut session, _) = connect_with(&hub, r#""short""#).await;
    let (replies, _) = take(&session).await;
    let connect = replies[0].connect.as_ref().expect("connect reply");
    assert!(!connect.expires, "the server refreshes, not the client");

    // The connection expires a second after connect (Unix time); the refresh proxy answers
    // with an expiry an hour later, so the session goes on.
    tokio::time::timeout(Duration::from_secs(10), async {
        while !backend.calls().iter().any(|c| c.starts_with("refresh")) {
            let event = session.next_event().await;
            assert_eq!(session.handle_event(event).await, Flow::Continue);
        }
    })
    .await
    .expect("the refresh proxy is asked once the connection expires");
    assert!(
        backend
            .calls()
            .contains(&r#"refresh short meta={"m":1}"#.to_owned())
    );
    assert_eq!(take(&session).await.1, None, "still connected");
}

#[tokio::test]
async fn an_expired_answer_of_the_sub_refresh_proxy_unsubscribes_with_2501() {
    let backend = Arc::new(Scripted::default());
    let mut opts = proxied(&backend);
    opts.client.ping_interval = None;
    let hub = hub(opts).await;
    let (mut session, _) = connect_with(&hub, r#""hi""#).await;
    take(&session).await;
    command(
        &mut session,
        r#"{"id":2,"subscribe":{"channel":"allowed"}}"#,
    )
    .await;
    take(&session).await;

    // The subscription expires 2 s after subscribe (Unix time); the proxy says it is over.
    tokio::time::timeout(Duration::from_secs(15), async {
        while !backend.calls().iter().any(|c| c.starts_with("sub_refresh")) {
            let event = session.next_event().await;
            assert_eq!(session.handle_event(event).await, Flow::Continue);
        }
    })
    .await
    .expect("the sub_refresh proxy is asked once the subscription expires");
    let (replies, _) = take(&session).await;
    let unsubscribe = replies
        .iter()
        .find_map(|r| r.push.as_ref().and_then(|p| p.unsubscribe.as_ref()))
        .expect("an unsubscribe push");
    assert_eq!(unsubscribe.code, 2501);
}

/// A stream backend: each subscription stream's sender is kept so the test can publish into
/// it, fail it or end it.
#[derive(Debug, Default)]
struct Streams {
    senders: Mutex<Vec<tokio::sync::mpsc::Sender<Result<Bytes, ProxyError>>>>,
}

#[async_trait]
impl Proxy for Streams {
    fn name(&self) -> &str {
        "streams"
    }
    async fn connect(&self, _: ConnectProxyRequest) -> ProxyOutcome<ConnectProxyResult> {
        Err(ProxyError::Timeout)
    }
    async fn refresh(&self, _: RefreshProxyRequest) -> ProxyOutcome<RefreshProxyResult> {
        Err(ProxyError::Timeout)
    }
    async fn subscribe(&self, _: SubscribeProxyRequest) -> ProxyOutcome<SubscribeProxyResult> {
        Err(ProxyError::Timeout)
    }
    async fn publish(&self, _: PublishProxyRequest) -> ProxyOutcome<PublishProxyResult> {
        Err(ProxyError::Timeout)
    }
    async fn sub_refresh(&self, _: SubRefreshProxyRequest) -> ProxyOutcome<SubRefreshProxyResult> {
        Err(ProxyError::Timeout)
    }
    async fn rpc(&self, _: RpcProxyRequest) -> ProxyOutcome<RpcProxyResult> {
        Err(ProxyError::Timeout)
    }
    async fn subscribe_stream(
        &self,
        request: SubscribeProxyRequest,
    ) -> ProxyOutcome<SubscriptionStream> {
        if request.channel.contains("private") {
            return Ok(ProxyReply::Error(ProxyClientError {
                code: 403,
                message: "forbidden".into(),
                temporary: false,
            }));
        }
        let (sender, publications) = tokio::sync::mpsc::channel(8);
        self.senders.lock().expect("not poisoned").push(sender);
        Ok(ProxyReply::Result(SubscriptionStream {
            result: SubscribeProxyResult {
                data: Bytes::from_static(br#"{"stream":true}"#),
                ..Default::default()
            },
            publications,
        }))
    }
}

impl Streams {
    fn sender(&self, index: usize) -> tokio::sync::mpsc::Sender<Result<Bytes, ProxyError>> {
        self.senders.lock().expect("not poisoned")[index].clone()
    }

    fn end(&self, index: usize) {
        let mut senders = self.senders.lock().expect("not poisoned");
        let closed = tokio::sync::mpsc::channel(1).0;
        drop(std::mem::replace(&mut senders[index], closed));
    }
}

/// Handles session events until `done` holds for what was queued, within a generous bound.
async fn until(
    session: &mut herald_hub::Session,
    mut done: impl FnMut(&[herald_proto::Reply]) -> bool,
) -> Vec<herald_proto::Reply> {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (replies, close) = take(session).await;
            assert_eq!(close, None);
            seen.extend(replies);
            if done(&seen) {
                return;
            }
            let event = tokio::select! {
                event = session.next_event() => Some(event),
                () = tokio::time::sleep(Duration::from_millis(20)) => None,
            };
            if let Some(event) = event {
                assert_eq!(session.handle_event(event).await, Flow::Continue);
            }
        }
    })
    .await
    .expect("in time");
    seen
}

fn stream_pubs(replies: &[herald_proto::Reply]) -> Vec<Vec<u8>> {
    replies
        .iter()
        .filter_map(|r| r.push.as_ref().and_then(|p| p.r#pub.as_ref()))
        .map(|p| p.data.to_vec())
        .collect()
}

fn unsubscribe_code(replies: &[herald_proto::Reply]) -> Option<u32> {
    replies
        .iter()
        .find_map(|r| r.push.as_ref().and_then(|p| p.unsubscribe.as_ref()))
        .map(|u| u.code)
}

#[tokio::test]
async fn a_subscribe_stream_delivers_the_backends_publications_to_its_subscriber_alone() {
    let backend = Arc::new(Streams::default());
    let mut opts = options();
    opts.client.ping_interval = None;
    opts.channel.without_namespace.subscribe_stream_proxy = Some(backend.clone());
    let hub = hub(opts).await;
    let mut alice = connected(&hub, "alice").await;
    let mut bob = connected(&hub, "bob").await;
    command(&mut alice, r#"{"id":2,"subscribe":{"channel":"feed"}}"#).await;
    command(&mut bob, r#"{"id":2,"subscribe":{"channel":"feed"}}"#).await;
    let (replies, _) = take(&alice).await;
    let subscribe = replies[0].subscribe.as_ref().expect("subscribe reply");
    assert_eq!(&subscribe.data[..], br#"{"stream":true}"#);
    take(&bob).await;

    // Alice's stream is the first opened: what it carries reaches her, not Bob.
    let sender = backend.sender(0);
    for n in 1..=3 {
        sender
            .send(Ok(Bytes::from(format!(r#"{{"n":{n}}}"#))))
            .await
            .expect("stream open");
    }
    let seen = until(&mut alice, |r| stream_pubs(r).len() == 3).await;
    assert_eq!(
        stream_pubs(&seen),
        vec![
            br#"{"n":1}"#.to_vec(),
            br#"{"n":2}"#.to_vec(),
            br#"{"n":3}"#.to_vec()
        ]
    );
    assert!(stream_pubs(&take(&bob).await.0).is_empty());

    // The backend ends Alice's stream: she is unsubscribed with 2000. Bob's fails: 2500.
    drop(sender);
    backend.end(0);
    let seen = until(&mut alice, |r| unsubscribe_code(r).is_some()).await;
    assert_eq!(unsubscribe_code(&seen), Some(2000));
    backend
        .sender(1)
        .send(Err(ProxyError::Unreachable("reset".into())))
        .await
        .expect("stream open");
    let seen = until(&mut bob, |r| unsubscribe_code(r).is_some()).await;
    assert_eq!(unsubscribe_code(&seen), Some(2500));
}

#[tokio::test]
async fn a_refused_subscribe_stream_gets_the_backends_error() {
    let backend = Arc::new(Streams::default());
    let mut opts = options();
    opts.channel.without_namespace.subscribe_stream_proxy = Some(backend);
    let hub = hub(opts).await;
    let mut session = connected(&hub, "alice").await;
    command(
        &mut session,
        r#"{"id":2,"subscribe":{"channel":"private-feed"}}"#,
    )
    .await;
    let (replies, _) = take(&session).await;
    assert_eq!(replies[0].error.as_ref().map(|e| e.code), Some(403));
}
