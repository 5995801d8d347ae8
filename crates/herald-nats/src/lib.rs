//! The NATS broker of Herald: lets several Herald nodes share channels through a NATS server,
//! like Centrifugo's NATS broker: at-most-once PUB/SUB, no history, no recovery.
//!
//! - [`NatsBroker`] implements [`Broker`](herald_engine::Broker) (not
//!   [`PresenceManager`](herald_engine::PresenceManager): presence needs a separate manager, the
//!   memory or the Redis one); [`NatsOptions`] configures it.
//! - **Subjects** are Centrifugo's: a channel's publications, joins and leaves travel on
//!   `{prefix}.client.{channel}`, control messages on `{prefix}.control`; each broker also uses
//!   its own `{prefix}.probe.{random id}` to learn when the server has applied its
//!   subscriptions. A channel name that no NATS subject can carry (`*`, `>`, whitespace, empty
//!   `.` segments) is refused with
//!   [`EngineError::NotSupported`](herald_engine::EngineError::NotSupported).
//! - **Messages** are Herald's own compact binary format (`codec.rs`), so Herald and Centrifugo
//!   nodes cannot share subjects.
//! - **No history**: a publish always returns an empty position and the publication is
//!   delivered with offset 0, even when the options ask for history; `history` and
//!   `remove_history` fail with `NotSupported { what: "history" }` (protocol error 108).
//!   Idempotency keys are ignored: every publish is published.
//! - **Delivery**: one NATS subscription per channel, read by its own task that calls the
//!   node's [`BrokerEventHandler`](herald_engine::BrokerEventHandler) directly, so a channel's
//!   events arrive in order, one at a time. The client's per-subscription queue is bounded;
//!   when a reader falls behind, NATS drops messages (a slow consumer) and the broker calls
//!   [`handle_gap`](herald_engine::BrokerEventHandler::handle_gap).
//! - **Reconnects** are the NATS client's; [`NatsBroker::is_healthy`] is false from a lost
//!   connection until the server has confirmed every subscription again, and then `handle_gap`
//!   tells the node that publications may have been missed. Publishing while the connection is
//!   down fails with `Unavailable` rather than being buffered.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use herald_engine::conformance::RecordingHandler;
//! use herald_engine::{Broker, Publication, PublishOptions};
//! use herald_nats::{NatsBroker, NatsOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), herald_engine::EngineError> {
//! let options = NatsOptions {
//!     url: "nats://127.0.0.1:4222".into(),
//!     ..NatsOptions::default()
//! };
//! let broker = Arc::new(NatsBroker::connect(options).await?);
//! broker.run(Arc::new(RecordingHandler::default())).await?;
//! broker.subscribe("chat").await?;
//! let publication = Publication { data: r#"{"text":"hi"}"#.into(), ..Publication::default() };
//! broker.publish("chat", publication, &PublishOptions::default()).await?;
//! # Ok(())
//! # }
//! ```

mod broker;
mod codec;
mod connect;
mod delivery;
mod link;
mod options;
mod subjects;
mod subscriptions;
mod tls;

pub use connect::NatsBroker;
pub use options::NatsOptions;
pub use tls::NatsTls;
