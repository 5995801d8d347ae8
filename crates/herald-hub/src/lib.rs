//! The Herald node: channel registry, client sessions, permissions, recovery and fan-out.
//!
//! Data path: a transport decodes nothing itself; it hands each frame to a [`Session`], which
//! decodes commands (`herald-proto`), checks permissions, talks to the engine
//! (`herald-engine`'s [`Broker`](herald_engine::Broker) and
//! [`PresenceManager`](herald_engine::PresenceManager)) and queues encoded replies into the
//! connection's [`Outbox`]. Publications come back from the broker into the registry, which
//! encodes each once per protocol and queues the same bytes for every local subscriber.
//!
//! - [`Hub`]: the node, shared by every session and by the HTTP API.
//! - [`Session`]: one connection's protocol state machine (sans-I/O: no sockets here).
//! - [`TransportKind`]: WebSocket, emulation (HTTP-streaming, SSE: commands arrive through
//!   [`Hub::emulate`], from any node) or unidirectional ([`Session::connect_unidirectional`]).
//! - [`Outbox`]: the per-connection outgoing queue, bounded in bytes (overflow: 3008 "slow").
//! - [`NodeOptions`]: validated options; the server crate builds them from configuration.
//! - [`TokenVerifier`]: how connection and subscription tokens are checked (JWT lives in the
//!   server crate).
//! - [`LifecycleEvent`]: connect, disconnect, occupancy and presence events for webhooks, once
//!   per event across the cluster ([`Hub::enable_lifecycle`]; the sender lives in the server).
//! - [`Hub::readiness`]: whether the node can do its job ([`NotReady`] says why not), with an
//!   end-to-end probe through the broker ([`ProbeOptions`]); [`Hub::drain`] closes clients in
//!   batches at shutdown; [`HealthCounters`] counts both.
//! - [`Proxy`]: how the application's backend is asked (connect, refresh, subscribe, publish,
//!   sub_refresh, rpc); HTTP and gRPC live in the server crate.
//! - [`VerbatimClient`]: a connection of another protocol family (the Pusher endpoint) on
//!   the same registry, broker and presence, in channels under [`VERBATIM_PREFIX`] whose
//!   publications are frames already encoded for it ([`Hub::publish_verbatim`]).
//! - [`mod@metrics`]: the node's counters and histograms (on with [`enable_metrics`]); the server
//!   renders them for Prometheus.
//!
//! ```
//! # use std::sync::Arc;
//! # use herald_hub::*;
//! # struct NoTokens;
//! # impl TokenVerifier for NoTokens {
//! #     fn verify_connect_token(&self, _: &str) -> Result<ConnectTokenClaims, TokenError> { Err(TokenError::Invalid("none".into())) }
//! #     fn verify_subscribe_token(&self, _: &str) -> Result<SubscribeTokenClaims, TokenError> { Err(TokenError::Invalid("none".into())) }
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let engine = Arc::new(herald_engine::memory::MemoryEngine::new());
//! let mut options = NodeOptions::default();
//! options.client.insecure = true;
//! let hub = Hub::new(options, engine.clone(), engine, Arc::new(NoTokens));
//! hub.start().await.expect("memory engine starts");
//!
//! let mut session = hub.session(herald_proto::Protocol::Json);
//! let flow = session.handle_frame(br#"{"id":1,"connect":{}}"#).await;
//! assert_eq!(flow, Flow::Continue);
//! let Drained::Messages(replies) = session.outbox().drain().await else { panic!("closed") };
//! assert!(std::str::from_utf8(&replies[0]).unwrap().starts_with(r#"{"id":1,"connect":"#));
//! # }
//! ```

mod admission;
mod channels;
mod clients;
mod cluster;
mod connections;
mod convert;
mod drain;
mod emulation;
mod error;
mod lifecycle;
mod limits;
pub mod metrics;
mod node;
mod options;
mod outbox;
mod probe;
mod proxy;
mod registry;
mod session;
mod survey;
mod token;
mod verbatim;
mod watch;

pub use admission::ConnectionRefused;
pub use connections::{ConnectionDetails, ConnectionsPage, ConnectionsQuery, MAX_CONNECTIONS_PAGE};
pub use emulation::{EmulationError, EmulationInbox, INBOX_CAPACITY};
pub use error::{Disconnect, HubError};
pub use lifecycle::{DROP_LOG_INTERVAL, LifecycleEvent, LifecycleKind, LifecycleOptions};
pub use limits::{
    CommandKind, CommandRateLimits, ConnectionPermit, LimitCounters, LimitCountersSnapshot, Rate,
    RequestRateLimit,
};
pub use metrics::{enable_metrics, metrics};
pub use node::{ApiPublish, Hub, NodeInfo, Target};
pub use options::{
    ChannelConfig, ChannelOptions, ClientOptions, DeltaType, Namespace, NodeOptions,
    PersonalChannelOptions, PublicationDataFormat, RpcNamespace, RpcOptions, SubscriptionType,
};
pub use outbox::{Batch, Closed, Direct, DirectSink, Drained, Lend, Outbox};
pub use probe::{HealthCounters, NotReady, ProbeOptions};
pub use proxy::{
    ConnectProxyRequest, ConnectProxyResult, Proxy, ProxyClientError, ProxyContext, ProxyError,
    ProxyOutcome, ProxyReply, PublishProxyRequest, PublishProxyResult, RefreshProxyRequest,
    RefreshProxyResult, RpcProxyRequest, RpcProxyResult, SubRefreshProxyRequest,
    SubRefreshProxyResult, SubscribeProxyRequest, SubscribeProxyResult, SubscriptionStream,
};
pub use session::{Control, Event, Flow, ServerSubscription, Session, TransportKind};
pub use token::{
    ConnectTokenClaims, Preparation, SubscribeOptionsClaim, SubscribeOverride,
    SubscribeTokenClaims, TokenError, TokenVerifier,
};
pub use verbatim::{VERBATIM_PREFIX, VerbatimClient, VerbatimPublish};
pub use watch::Watch;
