//! The embedded single-node engine: broker, history and presence in process memory.
//!
//! Channels are spread over a fixed number of shards, each a `std::sync::Mutex` around a map of
//! channels. Every operation on a channel happens inside its shard's lock, and nothing awaits
//! while the lock is held (the engine's async methods only compute synchronously), so a
//! blocking mutex is both correct and cheaper than an async one. Holding that one lock while
//! assigning an offset *and* calling the handler is what gives the handler every channel's
//! publications in offset order, without gaps and never concurrently.
//!
//! Nothing runs in the background: expired data is dropped when touched, and each shard sweeps
//! itself every so many operations (see `channel.rs`). [`MemoryEngine::purge_expired`] sweeps
//! everything at once for a caller that wants memory back while the engine is idle.

mod channel;
mod lifecycle;
mod stream;

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::{
    Broker, BrokerEventHandler, ClientInfo, DEFAULT_IDEMPOTENT_RESULT_TTL, EngineError,
    HistoryOptions, HistoryResult, PresenceManager, PresenceStats, Publication, PublishOptions,
    PublishResult, StreamPosition, SuppressReason, lock,
};
use channel::Shard;

/// Number of shards. Channels in one shard share a lock, so this bounds how many channels can
/// be published into in parallel; 64 is far more than the cores a node has.
const SHARDS: usize = 64;

/// The in-memory engine: implements [`Broker`] (with history) and [`PresenceManager`] for a
/// single node. Share it as `Arc<MemoryEngine>`.
///
/// The registered handler is called while a shard lock is held, so it must not call back into
/// the engine (it would deadlock); the [`BrokerEventHandler`] contract already asks it to only
/// enqueue.
pub struct MemoryEngine {
    handler: OnceLock<Arc<dyn BrokerEventHandler>>,
    /// Taken with [`lock`]: a poisoned shard (a handler panicked inside it) is taken over, as
    /// every mutation completes before the handler is called, so the shard is consistent.
    shards: Box<[Mutex<Shard>]>,
    /// Picks a channel's shard. Randomly keyed so nobody can aim many channels at one shard.
    hasher: RandomState,
    /// Occupancy and node state for lifecycle events (`lifecycle.rs`); touched only when
    /// webhooks are on.
    lifecycle: Mutex<lifecycle::Lifecycle>,
}

impl MemoryEngine {
    /// An empty engine; publishing needs [`Broker::run`] first.
    pub fn new() -> Self {
        Self {
            handler: OnceLock::new(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            lifecycle: Mutex::default(),
        }
    }

    /// Drops everything expired in every channel and forgets channels left empty. The engine
    /// does this by itself as it is used; call this to reclaim memory while it is idle.
    pub fn purge_expired(&self) {
        let now = Instant::now();
        for shard in self.shards.iter() {
            lock(shard).sweep(now);
        }
    }

    /// The handler registered with `run`.
    fn handler(&self) -> Result<&Arc<dyn BrokerEventHandler>, EngineError> {
        self.handler.get().ok_or(EngineError::NotRunning)
    }

    /// Runs `f` on `channel`'s shard under its lock, then forgets the channel if `f` left it
    /// empty. `f` must not await (it cannot: it is a plain closure).
    fn with_shard<R>(&self, channel: &str, f: impl FnOnce(&mut Shard, Instant) -> R) -> R {
        let index = (self.hasher.hash_one(channel) % SHARDS as u64) as usize;
        let now = Instant::now();
        let mut shard = lock(&self.shards[index]);
        shard.tick(now);
        let result = f(&mut shard, now);
        shard.remove_if_empty(channel);
        result
    }

    #[cfg(test)]
    fn channel_count(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len()).sum()
    }
}

impl Default for MemoryEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryEngine")
            .field("running", &self.handler.get().is_some())
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Broker for MemoryEngine {
    async fn run(&self, handler: Arc<dyn BrokerEventHandler>) -> Result<(), EngineError> {
        if self.handler.set(handler).is_err() {
            tracing::warn!("memory engine run called again; keeping the first handler");
        }
        Ok(())
    }

    /// Loops back: on a single node "every node" is this one.
    async fn publish_control(&self, data: bytes::Bytes) -> Result<(), EngineError> {
        self.handler()?.handle_control(&data);
        Ok(())
    }

    /// A no-op: on a single node every publication reaches the handler, and the hub filters.
    async fn subscribe(&self, _channel: &str) -> Result<(), EngineError> {
        Ok(())
    }

    /// A no-op, see [`subscribe`](Self::subscribe).
    async fn unsubscribe(&self, _channel: &str) -> Result<(), EngineError> {
        Ok(())
    }

    async fn publish(
        &self,
        channel: &str,
        mut publication: Publication,
        opts: &PublishOptions,
    ) -> Result<PublishResult, EngineError> {
        let handler = self.handler()?;
        let result = self.with_shard(channel, |shard, now| {
            if let Some(key) = &opts.idempotency_key
                && let Some(position) = shard
                    .get(channel, now)
                    .and_then(|c| c.cached_result(key, now))
            {
                return PublishResult {
                    position,
                    suppressed: Some(SuppressReason::Idempotency),
                };
            }
            let position = if opts.keeps_history() {
                let stream = shard.get_or_create(channel, now).stream_or_create();
                if opts.version_is_stale(stream.last_version()) {
                    // Dropped before anything changes, as the Redis script does: no delivery,
                    // no offset, no TTL refresh, no idempotency result remembered.
                    return PublishResult {
                        position: stream.position(),
                        suppressed: Some(SuppressReason::Version),
                    };
                }
                stream.set_version(opts.version, &opts.version_epoch);
                stream.set_position_ttl(opts.history_meta_ttl, now);
                let (position, stored) =
                    stream.append(publication, opts.history_size, opts.history_ttl, now);
                handler.handle_publication(channel, stored, &position);
                position
            } else {
                publication.offset = 0;
                let position = StreamPosition::default();
                handler.handle_publication(channel, &publication, &position);
                position
            };
            if let Some(key) = &opts.idempotency_key {
                let ttl = match opts.idempotent_result_ttl {
                    Duration::ZERO => DEFAULT_IDEMPOTENT_RESULT_TTL,
                    ttl => ttl,
                };
                shard
                    .get_or_create(channel, now)
                    .remember_result(key, position.clone(), ttl, now);
            }
            PublishResult {
                position,
                suppressed: None,
            }
        });
        Ok(result)
    }

    async fn publish_join(&self, channel: &str, info: &ClientInfo) -> Result<(), EngineError> {
        let handler = self.handler()?;
        // Under the shard lock so it is never concurrent with this channel's publications.
        self.with_shard(channel, |_, _| handler.handle_join(channel, info));
        Ok(())
    }

    async fn publish_leave(&self, channel: &str, info: &ClientInfo) -> Result<(), EngineError> {
        let handler = self.handler()?;
        self.with_shard(channel, |_, _| handler.handle_leave(channel, info));
        Ok(())
    }

    async fn history(
        &self,
        channel: &str,
        opts: &HistoryOptions,
    ) -> Result<HistoryResult, EngineError> {
        self.with_shard(channel, |shard, now| {
            let stream = shard.get_or_create(channel, now).stream_or_create();
            stream.refresh_position_ttl(opts.meta_ttl, now);
            let publications = stream.read(&opts.filter)?;
            Ok(HistoryResult {
                publications,
                position: stream.position(),
            })
        })
    }

    async fn remove_history(&self, channel: &str) -> Result<(), EngineError> {
        self.with_shard(channel, |shard, now| {
            if let Some(stream) = shard.get(channel, now).and_then(|c| c.stream.as_mut()) {
                stream.clear_publications();
            }
        });
        Ok(())
    }
}

#[async_trait]
impl PresenceManager for MemoryEngine {
    async fn add_presence(
        &self,
        channel: &str,
        client_id: &str,
        info: &ClientInfo,
        ttl: Duration,
    ) -> Result<(), EngineError> {
        self.with_shard(channel, |shard, now| {
            shard
                .get_or_create(channel, now)
                .add_presence(client_id, info, ttl, now);
        });
        Ok(())
    }

    async fn remove_presence(
        &self,
        channel: &str,
        client_id: &str,
        _user: &str,
    ) -> Result<(), EngineError> {
        self.with_shard(channel, |shard, now| {
            if let Some(channel) = shard.get(channel, now) {
                channel.remove_presence(client_id);
            }
        });
        Ok(())
    }

    async fn presence(&self, channel: &str) -> Result<HashMap<String, ClientInfo>, EngineError> {
        let presence = self.with_shard(channel, |shard, now| match shard.get(channel, now) {
            Some(channel) => channel
                .live_presence(now)
                .map(|(client, info)| (client.clone(), info.clone()))
                .collect(),
            None => HashMap::new(),
        });
        Ok(presence)
    }

    async fn presence_stats(&self, channel: &str) -> Result<PresenceStats, EngineError> {
        let stats = self.with_shard(channel, |shard, now| {
            let Some(channel) = shard.get(channel, now) else {
                return PresenceStats::default();
            };
            let mut clients = 0usize;
            let mut users = std::collections::HashSet::new();
            for (_, info) in channel.live_presence(now) {
                clients += 1;
                users.insert(info.user.as_str());
            }
            PresenceStats {
                num_clients: saturate(clients),
                num_users: saturate(users.len()),
            }
        });
        Ok(stats)
    }
}

fn saturate(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
