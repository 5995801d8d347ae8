//! Which local connections are subscribed to which channels, and fan-out into their outboxes.
//!
//! A publication is encoded once per protocol (lazily, only for protocols that have subscribers)
//! and the same `Bytes` is queued for every subscriber. A subscription is *pending* from the
//! moment it is registered until its subscribe reply is queued: publications arriving meanwhile
//! are buffered, and [`Registry::activate`] queues the reply and then the buffered publications
//! newer than the position the reply carries, under the channel lock, so the client sees no gap
//! and no duplicate.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use herald_engine::{BrokerEventHandler, ClientInfo, Publication, StreamPosition};
use herald_proto::{DisconnectCode, Protocol, Push};

use crate::convert::{proto_client_info, proto_publication};
use crate::outbox::Outbox;

const SHARDS: usize = 64;

/// Channels with local subscribers.
#[derive(Debug)]
pub(crate) struct Registry {
    hasher: RandomState,
    // std Mutex: fan-out only pushes into outboxes under it, nothing awaits.
    shards: Box<[Mutex<HashMap<String, Channel>>]>,
}

#[derive(Debug, Default)]
struct Channel {
    subscribers: HashMap<Arc<str>, Subscriber>,
}

#[derive(Debug)]
struct Subscriber {
    outbox: Arc<Outbox>,
    push_join_leave: bool,
    /// `Some` while the subscribe reply is not queued yet.
    pending: Option<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    publications: Vec<(u64, Bytes)>,
    bytes: usize,
}

/// A subscription already exists for this connection and channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AlreadySubscribed;

impl Registry {
    pub(crate) fn new() -> Self {
        let shards = (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect();
        Self {
            hasher: RandomState::new(),
            shards,
        }
    }

    /// Registers a pending subscription. Returns whether it is the channel's first local one
    /// (the node then subscribes to the channel in the broker).
    pub(crate) fn add_pending(
        &self,
        channel: &str,
        client: &Arc<str>,
        outbox: &Arc<Outbox>,
        push_join_leave: bool,
    ) -> Result<bool, AlreadySubscribed> {
        let mut shard = self.shard(channel);
        let first = !shard.contains_key(channel);
        let entry = shard.entry(channel.to_owned()).or_default();
        if entry.subscribers.contains_key(client) {
            return Err(AlreadySubscribed);
        }
        entry.subscribers.insert(
            client.clone(),
            Subscriber {
                outbox: outbox.clone(),
                push_join_leave,
                pending: Some(Pending::default()),
            },
        );
        Ok(first)
    }

    /// Makes a pending subscription live: queues `reply` (if any), then every buffered
    /// publication with an offset above `after_offset` (all of them when `None`).
    pub(crate) fn activate(
        &self,
        channel: &str,
        client: &Arc<str>,
        reply: Option<Bytes>,
        after_offset: Option<u64>,
    ) {
        let mut shard = self.shard(channel);
        let Some(subscriber) = shard
            .get_mut(channel)
            .and_then(|c| c.subscribers.get_mut(client))
        else {
            return;
        };
        let pending = subscriber.pending.take().unwrap_or_default();
        if let Some(reply) = reply
            && subscriber.outbox.push(reply).is_err()
        {
            return;
        }
        for (offset, message) in pending.publications {
            if after_offset.is_some_and(|after| offset <= after) {
                continue;
            }
            if subscriber.outbox.push(message).is_err() {
                return;
            }
        }
    }

    /// Removes a subscription. Returns whether the channel has no local subscribers left.
    pub(crate) fn remove(&self, channel: &str, client: &Arc<str>) -> bool {
        let mut shard = self.shard(channel);
        let Some(entry) = shard.get_mut(channel) else {
            return false;
        };
        if entry.subscribers.remove(client).is_none() {
            return false;
        }
        if entry.subscribers.is_empty() {
            shard.remove(channel);
            return true;
        }
        false
    }

    /// Every channel with local subscribers and how many there are.
    pub(crate) fn channels(&self) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = lock(shard);
            out.extend(
                shard
                    .iter()
                    .map(|(name, ch)| (name.clone(), ch.subscribers.len())),
            );
        }
        out
    }

    /// Counters for `/api/info`: channels and subscriptions.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let mut channels = 0;
        let mut subscriptions = 0;
        for shard in self.shards.iter() {
            let shard = lock(shard);
            channels += shard.len();
            subscriptions += shard.values().map(|c| c.subscribers.len()).sum::<usize>();
        }
        (channels, subscriptions)
    }

    fn shard(&self, channel: &str) -> MutexGuard<'_, HashMap<String, Channel>> {
        let index = (self.hasher.hash_one(channel) as usize) % self.shards.len();
        lock(&self.shards[index])
    }

    fn fan_out(&self, channel: &str, offset: u64, push: impl Fn() -> Push, only_join_leave: bool) {
        let mut shard = self.shard(channel);
        let Some(entry) = shard.get_mut(channel) else {
            return;
        };
        let mut encoded = EncodeOnce::new(push);
        for subscriber in entry.subscribers.values_mut() {
            if only_join_leave && (!subscriber.push_join_leave || subscriber.pending.is_some()) {
                continue;
            }
            let message = match encoded.get(subscriber.outbox.protocol()) {
                Some(message) => message,
                None => {
                    // Binary payload for a JSON connection: it cannot be represented.
                    subscriber
                        .outbox
                        .close(DisconnectCode::INAPPROPRIATE_PROTOCOL.into());
                    continue;
                }
            };
            match &mut subscriber.pending {
                Some(pending) => {
                    pending.bytes += message.len();
                    pending.publications.push((offset, message));
                    if pending.bytes > subscriber.outbox.max_bytes() {
                        subscriber.outbox.close(DisconnectCode::SLOW.into());
                    }
                }
                None => {
                    // A full outbox closes itself with 3008; nothing else to do here.
                    let _ = subscriber.outbox.push(message);
                }
            }
        }
    }
}

impl BrokerEventHandler for Registry {
    fn handle_publication(&self, channel: &str, publication: &Publication, _: &StreamPosition) {
        let push = || Push {
            channel: channel.to_owned(),
            r#pub: Some(proto_publication(publication)),
            ..Default::default()
        };
        self.fan_out(channel, publication.offset, push, false);
    }

    fn handle_join(&self, channel: &str, info: &ClientInfo) {
        let push = || Push {
            channel: channel.to_owned(),
            join: Some(herald_proto::Join {
                info: Some(proto_client_info(info)),
            }),
            ..Default::default()
        };
        self.fan_out(channel, 0, push, true);
    }

    fn handle_leave(&self, channel: &str, info: &ClientInfo) {
        let push = || Push {
            channel: channel.to_owned(),
            leave: Some(herald_proto::Leave {
                info: Some(proto_client_info(info)),
            }),
            ..Default::default()
        };
        self.fan_out(channel, 0, push, true);
    }
}

/// Encodes a push at most once per protocol. `None` means it cannot be encoded for that
/// protocol (binary data for JSON).
struct EncodeOnce<F> {
    make: F,
    push: Option<Push>,
    json: Option<Option<Bytes>>,
    protobuf: Option<Option<Bytes>>,
}

impl<F: Fn() -> Push> EncodeOnce<F> {
    fn new(make: F) -> Self {
        Self {
            make,
            push: None,
            json: None,
            protobuf: None,
        }
    }

    fn get(&mut self, protocol: Protocol) -> Option<Bytes> {
        let slot = match protocol {
            Protocol::Json => &mut self.json,
            Protocol::Protobuf => &mut self.protobuf,
        };
        if let Some(done) = slot {
            return done.clone();
        }
        let push = self.push.get_or_insert_with(&self.make);
        let encoded = match herald_proto::encode_push(protocol, push) {
            Ok(bytes) => Some(bytes),
            Err(err) => {
                tracing::debug!(%err, channel = %push.channel, "push cannot be encoded");
                None
            }
        };
        *slot = Some(encoded.clone());
        encoded
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the maps consistent, so a poisoned lock is still usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
