//! Everything the memory engine keeps per channel (stream, idempotency results, presence), and
//! the shard maps that hold channels and forget them once nothing is left.
//!
//! Expiry is lazy: a channel expires what is cheap to check (its stream) whenever it is touched,
//! presence is filtered whenever it is read, and every shard sweeps all its channels after as many
//! operations as the previous sweep visited items, which keeps the sweep's cost amortised O(1)
//! per operation while bounding how long expired data can linger on a busy shard.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::memory::stream::Stream;
use crate::{ClientInfo, StreamPosition};

/// A shard never sweeps more often than every this many operations, so small shards do not
/// sweep on every call.
const MIN_OPS_BETWEEN_SWEEPS: usize = 1024;

/// A channel's idempotency cache is purged of expired results once it reaches this size (and
/// then whenever it doubles), so a stream of unique keys cannot grow it without bound.
const MIN_RESULTS_BEFORE_PURGE: usize = 64;

/// Channels of one shard.
#[derive(Debug, Default)]
pub(crate) struct Shard {
    channels: HashMap<String, Channel>,
    ops_since_sweep: usize,
    /// Items the previous sweep visited: the next sweep waits for that many operations.
    last_sweep_cost: usize,
}

impl Shard {
    /// Counts one operation and sweeps the shard when enough have passed.
    pub(crate) fn tick(&mut self, now: Instant) {
        self.ops_since_sweep += 1;
        if self.ops_since_sweep >= self.last_sweep_cost.max(MIN_OPS_BETWEEN_SWEEPS) {
            self.sweep(now);
        }
    }

    /// Expires everything in every channel and forgets the channels left empty.
    pub(crate) fn sweep(&mut self, now: Instant) {
        let mut cost = 0;
        self.channels.retain(|_, channel| {
            cost += 1 + channel.sweep(now);
            !channel.is_empty()
        });
        self.ops_since_sweep = 0;
        self.last_sweep_cost = cost;
    }

    /// The channel, with its stream expired as of `now`, if it exists.
    pub(crate) fn get(&mut self, name: &str, now: Instant) -> Option<&mut Channel> {
        let channel = self.channels.get_mut(name)?;
        channel.expire_stream(now);
        Some(channel)
    }

    /// The channel, created empty if missing.
    pub(crate) fn get_or_create(&mut self, name: &str, now: Instant) -> &mut Channel {
        // Two lookups instead of `entry` so the name is only copied when the channel is new.
        if !self.channels.contains_key(name) {
            self.channels.insert(name.to_owned(), Channel::default());
        }
        let channel = self
            .channels
            .get_mut(name)
            .expect("the channel was inserted just above if it was missing");
        channel.expire_stream(now);
        channel
    }

    /// Forgets the channel if it holds nothing any more; called after every operation so the
    /// map only holds channels with something in them (or expired data awaiting a sweep).
    pub(crate) fn remove_if_empty(&mut self, name: &str) {
        if self.channels.get(name).is_some_and(Channel::is_empty) {
            self.channels.remove(name);
        }
    }

    /// How many channels the shard holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.channels.len()
    }
}

/// One channel's state.
#[derive(Debug, Default)]
pub(crate) struct Channel {
    /// The stream, absent until the first history publish or read and after its position
    /// expired.
    pub(crate) stream: Option<Stream>,
    /// Results of publishes made with an idempotency key, by key.
    results: HashMap<String, CachedResult>,
    /// Size at which `results` is next purged of expired entries.
    results_purge_at: usize,
    /// Who is present, by client id.
    presence: HashMap<String, PresenceEntry>,
}

#[derive(Debug)]
struct CachedResult {
    position: StreamPosition,
    expire_at: Option<Instant>,
}

#[derive(Debug)]
struct PresenceEntry {
    info: ClientInfo,
    expire_at: Option<Instant>,
}

impl Channel {
    /// Whether nothing is left, so the channel can be forgotten.
    pub(crate) fn is_empty(&self) -> bool {
        self.stream.is_none() && self.results.is_empty() && self.presence.is_empty()
    }

    /// The stream for a publish or read, created with a new epoch if missing.
    pub(crate) fn stream_or_create(&mut self) -> &mut Stream {
        self.stream.get_or_insert_with(Stream::new)
    }

    /// The first result published with `key`, if it has not expired.
    pub(crate) fn cached_result(&mut self, key: &str, now: Instant) -> Option<StreamPosition> {
        let cached = self.results.get(key)?;
        if is_expired(cached.expire_at, now) {
            self.results.remove(key);
            return None;
        }
        Some(cached.position.clone())
    }

    /// Remembers the result of a publish made with `key` for `ttl`.
    pub(crate) fn remember_result(
        &mut self,
        key: &str,
        position: StreamPosition,
        ttl: Duration,
        now: Instant,
    ) {
        let cached = CachedResult {
            position,
            expire_at: now.checked_add(ttl),
        };
        self.results.insert(key.to_owned(), cached);
        if self.results.len() >= self.results_purge_at.max(MIN_RESULTS_BEFORE_PURGE) {
            self.results
                .retain(|_, cached| !is_expired(cached.expire_at, now));
            self.results_purge_at = self.results.len() * 2;
        }
    }

    /// Adds or refreshes a presence entry for `ttl`.
    pub(crate) fn add_presence(
        &mut self,
        client_id: &str,
        info: &ClientInfo,
        ttl: Duration,
        now: Instant,
    ) {
        let expire_at = now.checked_add(ttl);
        match self.presence.get_mut(client_id) {
            Some(entry) => {
                entry.info.clone_from(info);
                entry.expire_at = expire_at;
            }
            None => {
                let entry = PresenceEntry {
                    info: info.clone(),
                    expire_at,
                };
                self.presence.insert(client_id.to_owned(), entry);
            }
        }
    }

    /// Removes a presence entry.
    pub(crate) fn remove_presence(&mut self, client_id: &str) {
        self.presence.remove(client_id);
    }

    /// The live presence entries, after dropping the expired ones.
    pub(crate) fn live_presence(
        &mut self,
        now: Instant,
    ) -> impl Iterator<Item = (&String, &ClientInfo)> {
        self.presence
            .retain(|_, entry| !is_expired(entry.expire_at, now));
        self.presence
            .iter()
            .map(|(client, entry)| (client, &entry.info))
    }

    /// Drops the stream's expired parts: the whole stream once its position expired, else its
    /// publications once their TTL passed. O(1), so it runs on every access.
    fn expire_stream(&mut self, now: Instant) {
        if let Some(stream) = &mut self.stream {
            if stream.position_expired(now) {
                self.stream = None;
            } else {
                stream.expire_publications(now);
            }
        }
    }

    /// Expires everything; returns how many items it visited.
    fn sweep(&mut self, now: Instant) -> usize {
        let visited = self.results.len() + self.presence.len();
        self.expire_stream(now);
        self.results
            .retain(|_, cached| !is_expired(cached.expire_at, now));
        self.presence
            .retain(|_, entry| !is_expired(entry.expire_at, now));
        visited
    }
}

/// Whether a deadline has passed; `None` (a TTL too large to represent) never expires.
fn is_expired(expire_at: Option<Instant>, now: Instant) -> bool {
    expire_at.is_some_and(|at| at <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn sweep_forgets_channels_whose_contents_expired() {
        let now = Instant::now();
        let mut shard = Shard::default();
        let info = ClientInfo::default();
        shard
            .get_or_create("presence", now)
            .add_presence("c1", &info, SECOND, now);
        shard.get_or_create("result", now).remember_result(
            "k",
            StreamPosition::default(),
            SECOND,
            now,
        );
        let stream = shard.get_or_create("stream", now).stream_or_create();
        stream.set_position_ttl(SECOND, now);
        let lasting = shard.get_or_create("lasting", now);
        lasting.add_presence("c2", &info, 10 * SECOND, now);
        assert_eq!(shard.len(), 4);

        shard.sweep(now + 2 * SECOND);
        assert_eq!(shard.len(), 1);
        assert!(shard.get("lasting", now).is_some());
    }

    #[test]
    fn tick_sweeps_after_enough_operations() {
        let now = Instant::now();
        let mut shard = Shard::default();
        shard
            .get_or_create("a", now)
            .add_presence("c1", &ClientInfo::default(), SECOND, now);
        let later = now + 2 * SECOND;
        for _ in 0..MIN_OPS_BETWEEN_SWEEPS - 1 {
            shard.tick(later);
        }
        assert_eq!(shard.len(), 1);
        shard.tick(later);
        assert_eq!(shard.len(), 0);
    }

    #[test]
    fn results_are_purged_when_the_cache_grows() {
        let now = Instant::now();
        let mut channel = Channel::default();
        for i in 0..MIN_RESULTS_BEFORE_PURGE - 1 {
            channel.remember_result(&i.to_string(), StreamPosition::default(), SECOND, now);
        }
        let later = now + 2 * SECOND;
        channel.remember_result("fresh", StreamPosition::default(), SECOND, later);
        assert_eq!(channel.results.len(), 1);
        assert!(channel.cached_result("fresh", later).is_some());
    }

    #[test]
    fn cached_result_expires_lazily() {
        let now = Instant::now();
        let mut channel = Channel::default();
        channel.remember_result("k", StreamPosition::default(), SECOND, now);
        assert!(channel.cached_result("k", now).is_some());
        assert!(channel.cached_result("k", now + SECOND).is_none());
        assert!(channel.is_empty());
    }

    #[test]
    fn live_presence_drops_expired_entries() {
        let now = Instant::now();
        let mut channel = Channel::default();
        let info = ClientInfo::default();
        channel.add_presence("short", &info, SECOND, now);
        channel.add_presence("long", &info, 10 * SECOND, now);
        let live: Vec<String> = channel
            .live_presence(now + 2 * SECOND)
            .map(|(client, _)| client.clone())
            .collect();
        assert_eq!(live, vec!["long".to_owned()]);
        assert_eq!(channel.presence.len(), 1);
    }
}
