//! The engine boundary of Herald: how the node reaches brokers, history and presence.
//!
//! - [`Broker`] publishes into channels, keeps channel streams (history) and delivers every
//!   publication, join and leave to a [`BrokerEventHandler`] that the node registers.
//! - [`PresenceManager`] keeps who is in a channel, with expiry.
//! - [`LifecycleStore`] makes lifecycle events (webhooks) exact across a cluster: occupancy
//!   of channels, presence entries each node holds, dead nodes and who cleans up after them.
//! - [`memory`] is the embedded single-node engine implementing both.
//! - `conformance` is the test suite every engine runs (the memory engine here, the Redis and
//!   NATS engines in their own crates), one `#[tokio::test]` per case via
//!   `broker_conformance_tests!` and `presence_conformance_tests!`. It is behind the cargo
//!   feature `conformance`, which only tests enable (as a dev-dependency feature), so no
//!   server build compiles it.
//! - [`wire`] is the binary layout of publication bodies and client infos that engines share.
//! - [`lock`] is the poison-tolerant mutex lock the engines and the hub share.
//!
//! Engine crates depend on this crate only, never on the hub or the server.
//!
//! The example uses the conformance suite's `RecordingHandler`, so it needs the `conformance`
//! feature; the node registers its own handler.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use herald_engine::conformance::RecordingHandler;
//! use herald_engine::memory::MemoryEngine;
//! use herald_engine::{Broker, HistoryFilter, HistoryLimit, HistoryOptions, Publication, PublishOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), herald_engine::EngineError> {
//! let engine = Arc::new(MemoryEngine::new());
//! // The node registers its handler; any `BrokerEventHandler` will do.
//! engine.run(Arc::new(RecordingHandler::default())).await?;
//!
//! let opts = PublishOptions {
//!     history_size: 10,
//!     history_ttl: Duration::from_secs(60),
//!     ..PublishOptions::default()
//! };
//! let publication = Publication { data: r#"{"text":"hi"}"#.into(), ..Publication::default() };
//! let published = engine.publish("chat", publication, &opts).await?;
//! assert_eq!(published.position.offset, 1);
//!
//! let read = HistoryOptions {
//!     filter: HistoryFilter { limit: HistoryLimit::All, ..HistoryFilter::default() },
//!     ..HistoryOptions::default()
//! };
//! let history = engine.history("chat", &read).await?;
//! assert_eq!(history.publications[0].data, r#"{"text":"hi"}"#);
//! assert_eq!(history.position, published.position);
//! # Ok(())
//! # }
//! ```

mod error;
mod lifecycle;
mod sync;
mod traits;
mod types;

// Documented in the module itself: an outer doc line here would resolve the module's links
// from the crate root.
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod memory;
pub mod wire;

pub use error::EngineError;
pub use lifecycle::{DeadNodeRemains, HeldPresence, LifecycleStore};
pub use sync::lock;
pub use traits::{Broker, BrokerEventHandler, PresenceManager};
pub use types::{
    ClientInfo, DEFAULT_IDEMPOTENT_RESULT_TTL, HistoryFilter, HistoryLimit, HistoryOptions,
    HistoryResult, PresenceStats, Publication, PublishOptions, PublishResult, StreamPosition,
    SuppressReason,
};
