//! `uni_grpc`: `centrifugal.centrifugo.unistream.CentrifugoUniStream/Consume`. The client
//! sends a `ConnectRequest` and receives a stream of Protobuf `Push` messages: the connect
//! push first, then publications, joins, leaves, pings (the empty push) and, when the server
//! closes the connection, a `disconnect` push before the stream ends with status OK.
//!
//! The connection runs exactly as the other unidirectional transports: a task per connection
//! (`transport::stream::driver`) owns the `Session` and hands each message of its outbox to
//! the response stream through a channel of [`CHUNKS_IN_FLIGHT`] messages. The outbox of a
//! unidirectional Protobuf session already holds bare `Push` encodings, sliced out of the
//! bytes the registry encoded once for every subscriber, so the codec here writes them as
//! they are ([`PushCodec`]): encode once, send many, no decode and re-encode per client.
//! Bounded as the other streams are: when the client does not read, HTTP/2 flow control
//! stops tonic from polling the stream, the channel fills, the task stops draining the outbox,
//! and the outbox's byte bound (3008) or the write timeout (3009) closes the connection.
//!
//! The request is decoded straight into `herald_proto::ConnectRequest`: `unistream.proto`'s
//! `ConnectRequest` and `SubscribeRequest` use the same field numbers as `client.proto`'s
//! (a test below pins that), so no conversion is needed.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut as _, Bytes};
use herald_hub::{Hub, TransportKind};
use herald_proto::{ConnectRequest, Protocol};
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService, ServerStreamingService};
use tonic::{Request, Response, Status};
use tracing::Instrument as _;

use crate::transport::stream::driver::{CHUNKS_IN_FLIGHT, Driver, Framing, Start};

/// The gRPC service name.
const SERVICE: &str = "centrifugal.centrifugo.unistream.CentrifugoUniStream";
/// The path of `Consume`.
const CONSUME_PATH: &str = "/centrifugal.centrifugo.unistream.CentrifugoUniStream/Consume";

/// The uni_grpc service, ready for `tonic::transport::Server::add_service`.
#[derive(Clone)]
pub(crate) struct UniStreamService {
    hub: Hub,
    tracker: TaskTracker,
    max_receive_message_size: usize,
}

impl std::fmt::Debug for UniStreamService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UniStreamService")
            .field("max_receive_message_size", &self.max_receive_message_size)
            .finish_non_exhaustive()
    }
}

impl UniStreamService {
    pub(crate) fn new(hub: Hub, tracker: TaskTracker, max_receive_message_size: usize) -> Self {
        Self {
            hub,
            tracker,
            max_receive_message_size,
        }
    }
}

impl NamedService for UniStreamService {
    const NAME: &'static str = SERVICE;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, Infallible>> + Send + 'static>>;

impl<B> tower_service::Service<http::Request<B>> for UniStreamService
where
    B: hyper::body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync + 'static>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != CONSUME_PATH {
            let status = Status::unimplemented(format!(
                "unknown method {} for service {SERVICE}",
                request.uri().path()
            ));
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let consume = Consume(self.clone());
        let limit = self.max_receive_message_size;
        Box::pin(async move {
            let mut grpc = Grpc::new(PushCodec).apply_max_message_size_config(Some(limit), None);
            Ok(grpc.server_streaming(consume, request).await)
        })
    }
}

/// One call of `Consume`.
struct Consume(UniStreamService);

impl ServerStreamingService<ConnectRequest> for Consume {
    type Response = Bytes;
    type ResponseStream = PushStream;
    type Future = std::future::Ready<Result<Response<PushStream>, Status>>;

    fn call(&mut self, request: Request<ConnectRequest>) -> Self::Future {
        let service = &self.0;
        if service.hub.is_shutting_down() {
            return std::future::ready(Err(Status::unavailable("shutting down")));
        }
        // The per-IP limits count the peer, or the address in `client.ip_header` (call
        // metadata here); no peer address (a Unix socket) counts as 0.0.0.0.
        let ip = service
            .hub
            .client_ip_header()
            .and_then(|name| request.metadata().get(name)?.to_str().ok())
            .and_then(crate::transport::last_address)
            .or_else(|| request.remote_addr().map(|a| a.ip()))
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
            .to_canonical();
        let permit = match service.hub.admit_connection(ip) {
            Ok(permit) => permit,
            Err(refused) if refused.is_per_ip() => {
                return std::future::ready(Err(Status::resource_exhausted(refused.to_string())));
            }
            Err(refused) => {
                return std::future::ready(Err(Status::unavailable(refused.to_string())));
            }
        };
        let remote_addr = request.remote_addr();
        let remote = remote_addr.map_or_else(String::new, |a| a.to_string());
        let mut session = service
            .hub
            .session_for(Protocol::Protobuf, TransportKind::Unidirectional);
        session.set_transport_name("uni_grpc");
        if let Some(addr) = remote_addr {
            session.outbox().set_remote_ip(addr.ip());
        }
        // Proxies see the call's metadata where other transports give request headers.
        let kept: Vec<(String, String)> = service
            .hub
            .proxy_header_names()
            .iter()
            .filter_map(|name| {
                let value = request.metadata().get(name.as_str())?.to_str().ok()?;
                Some((name.clone(), value.to_owned()))
            })
            .collect();
        session.set_proxy_headers(kept);
        let span = tracing::debug_span!(
            "client",
            client = %session.client_id(),
            transport = "uni_grpc",
            %remote
        );
        span.in_scope(|| tracing::debug!("connection opened"));
        let (sender, pushes) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let driver = Driver {
            session,
            inbox: None,
            framing: Framing::Messages,
            start: Start::Connect(Box::new(request.into_inner())),
            chunks: sender,
        };
        // The permit lives as long as the connection's task.
        service.tracker.spawn(
            async move {
                let _permit = permit;
                driver.run().await;
            }
            .instrument(span),
        );
        std::future::ready(Ok(Response::new(PushStream { pushes })))
    }
}

/// The response stream: the pushes the connection's task hands over, until it drops its
/// sender (the session closed) or tonic drops this (the client went away, which the task
/// sees as a closed channel).
#[derive(Debug)]
pub(crate) struct PushStream {
    pushes: mpsc::Receiver<Bytes>,
}

impl futures_util::Stream for PushStream {
    type Item = Result<Bytes, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.pushes.poll_recv(cx).map(|push| push.map(Ok))
    }
}

/// Writes already-encoded `Push` messages as they are; reads the connect request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PushCodec;

impl Codec for PushCodec {
    type Encode = Bytes;
    type Decode = ConnectRequest;
    type Encoder = PushEncoder;
    type Decoder = ConnectDecoder;

    fn encoder(&mut self) -> PushEncoder {
        PushEncoder
    }

    fn decoder(&mut self) -> ConnectDecoder {
        ConnectDecoder
    }
}

/// See [`PushCodec`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PushEncoder;

impl Encoder for PushEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, push: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&push);
        Ok(())
    }
}

/// See [`PushCodec`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ConnectDecoder;

impl Decoder for ConnectDecoder {
    type Item = ConnectRequest;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<ConnectRequest>, Status> {
        ConnectRequest::decode(src).map(Some).map_err(|err| {
            tracing::debug!(%err, "malformed uni_grpc connect request");
            Status::invalid_argument(format!("malformed connect request: {err}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use herald_grpc::unistream;

    use super::*;

    /// `Consume` decodes `unistream.ConnectRequest` bytes as `client.proto`'s.
    #[test]
    fn unistream_connect_request_reads_as_the_client_protocols() {
        let request = unistream::ConnectRequest {
            token: "t".into(),
            data: b"{}".to_vec(),
            subs: [(
                "news".to_owned(),
                unistream::SubscribeRequest {
                    recover: true,
                    epoch: "e".into(),
                    offset: 7,
                },
            )]
            .into(),
            name: "n".into(),
            version: "v".into(),
            headers: [("h".to_owned(), "x".to_owned())].into(),
        };
        let decoded = ConnectRequest::decode(&request.encode_to_vec()[..]).expect("decodes");
        assert_eq!(decoded.token, "t");
        assert_eq!(&decoded.data[..], b"{}");
        assert_eq!(
            (decoded.name.as_str(), decoded.version.as_str()),
            ("n", "v")
        );
        assert_eq!(decoded.headers.get("h").map(String::as_str), Some("x"));
        let sub = &decoded.subs["news"];
        assert!(sub.recover);
        assert_eq!((sub.epoch.as_str(), sub.offset), ("e", 7));
    }

    /// And the bare pushes of the outbox read as `unistream.Push`.
    #[test]
    fn client_pushes_read_as_unistream_pushes() {
        let push = herald_proto::Push {
            channel: "news".into(),
            r#pub: Some(herald_proto::Publication {
                data: Bytes::from_static(b"{\"x\":1}"),
                offset: 3,
                ..Default::default()
            }),
            ..Default::default()
        };
        let bytes = herald_proto::encode_message(Protocol::Protobuf, &push).expect("encodes");
        let decoded = unistream::Push::decode(&bytes[..]).expect("decodes");
        assert_eq!(decoded.channel, "news");
        let publication = decoded.r#pub.expect("publication");
        assert_eq!(
            (&publication.data[..], publication.offset),
            (&b"{\"x\":1}"[..], 3)
        );
    }
}
