//! The Redis engine of Herald: lets several Herald nodes share channels, history and presence
//! through one or more Redis servers (6.2 or newer).
//!
//! - [`RedisEngine`] implements [`Broker`](herald_engine::Broker) and
//!   [`PresenceManager`](herald_engine::PresenceManager); [`RedisOptions`] configures it.
//! - **Publishing with history** is one Lua script per publication: it assigns the next offset
//!   (`HINCRBY` of the `{p}.stream.meta.{ch}` hash, which also keeps the epoch), appends to the
//!   `{p}.stream.{ch}` stream trimmed to the history size, refreshes TTLs, checks and stores the
//!   idempotency result `{p}.result.{ch}.{key}`, and PUBLISHes to `{p}.client.{ch}`. Offsets and
//!   delivery order therefore always agree, across nodes.
//! - **Delivery**: each shard has one PUB/SUB connection whose reader task decodes every message
//!   and calls the node's [`BrokerEventHandler`](herald_engine::BrokerEventHandler) directly, so
//!   a channel's events arrive in order, one at a time, with no queue in between. A lost
//!   connection is re-established with backoff and every channel subscribed again
//!   ([`RedisEngine::is_healthy`] tells whether that is the case).
//! - **Presence** is a hash `{p}.presence.data.{ch}` plus a sorted set
//!   `{p}.presence.expire.{ch}` of expiry times on the Redis clock.
//! - **Lifecycle events** ([`LifecycleStore`](herald_engine::LifecycleStore), used only with
//!   webhooks): per channel the set `{p}.occupancy.nodes.{ch}` of nodes holding subscribers and
//!   the current period `{p}.occupancy.state.{ch}`, changed by one script each
//!   (`occupy.lua`, `release.lua`, `vacate.lua`); per node, on the first shard, the channels
//!   `{p}.lifecycle.channels.{node}` and presence entries `{p}.lifecycle.presence.{node}` it
//!   holds, the heartbeat hash `{p}.lifecycle.nodes` and cleanup claims
//!   `{p}.lifecycle.cleanup.{node}` (`SET NX PX`).
//! - **Sharding**: with several addresses, a channel lives on the shard picked by a jump
//!   consistent hash of FNV-1a-64 of its name, as in Centrifugo.
//! - **Redis Cluster** is detected automatically when connecting (`INFO cluster` on the first
//!   address that answers reports `cluster_enabled:1`), as in Centrifugo; there is no option.
//!   The addresses are then seed nodes of one cluster, not shards: no jump hash, the cluster
//!   places channels by slot. Keys wrap the channel in a hash tag so a channel's keys share one
//!   slot and each script runs on one node: `{p}.stream.{<ch>}`, `{p}.stream.meta.{<ch>}`,
//!   `{p}.result.{<ch>}.{key}`, `{p}.presence.data.{<ch>}`, `{p}.presence.expire.{<ch>}`
//!   (PUB/SUB channel names are unchanged). Commands go through the `redis` crate's cluster
//!   client, routed by key. PUB/SUB stays classic: the cluster broadcasts every PUBLISH to all
//!   nodes, so one PUB/SUB connection, to the first reachable address, hears everything; when
//!   its node fails it moves on to the next address and reports the gap. Sharded PUB/SUB
//!   (`SPUBLISH`) is not used.
//! - **Redis Sentinel** ([`RedisSentinel`], `RedisOptions::sentinel`): each shard's master is
//!   asked of its sentinels when connecting, and again when a connection to it fails or answers
//!   `READONLY`, so both connections follow a failover (`sentinel.rs`).
//! - **Health**: [`RedisEngine::is_healthy`] also requires that every shard's command
//!   connection answered a PING since anything last cast doubt on it (a lost PUB/SUB connection,
//!   a command failing on a connection error), so a node that reports healthy after a Redis
//!   restart serves commands on the first try. Reads are tried again once after a connection
//!   error; a publish only when it surely never reached Redis (see `health.rs`).
//!
//! **Not a shared key space with Centrifugo.** Key names and channel placement follow
//! Centrifugo's, but the values are Herald's own compact binary format (see `codec.rs`), so a
//! Herald node and a Centrifugo node reading the same keys would each take the other's data for
//! garbage. The default prefix is therefore `herald` ([`RedisOptions::prefix`]), not
//! Centrifugo's `centrifugo`; never point both at one Redis with the same prefix. Should it
//! happen anyway, PUB/SUB messages that do not decode are skipped, counted
//! ([`RedisEngine::undecodable_messages`]) and logged once per channel, and a history entry that
//! does not decode fails that history read; nothing crashes.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use herald_engine::conformance::RecordingHandler;
//! use herald_engine::{Broker, Publication, PublishOptions};
//! use herald_redis::{RedisEngine, RedisOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), herald_engine::EngineError> {
//! let options = RedisOptions {
//!     addresses: vec!["redis://127.0.0.1:6379".into()],
//!     ..RedisOptions::default()
//! };
//! let engine = Arc::new(RedisEngine::connect(options).await?);
//! engine.run(Arc::new(RecordingHandler::default())).await?;
//! engine.subscribe("chat").await?;
//! let publication = Publication { data: r#"{"text":"hi"}"#.into(), ..Publication::default() };
//! engine.publish("chat", publication, &PublishOptions::default()).await?;
//! # Ok(())
//! # }
//! ```

mod broker;
mod codec;
mod delivery;
mod engine;
#[doc(hidden)]
pub mod fuzzing;
mod health;
mod history;
mod keys;
mod lifecycle;
mod options;
mod presence;
mod pubsub;
mod scripts;
mod sentinel;
mod tls;

pub use engine::RedisEngine;
pub use options::RedisOptions;
pub use sentinel::RedisSentinel;
pub use tls::RedisTls;
