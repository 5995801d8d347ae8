//! Which local connections are subscribed to which channels, and fan-out into their outboxes.
//!
//! A publication is encoded once per protocol (lazily, only for protocols that have subscribers)
//! and the same `Bytes` is queued for every subscriber. A subscription is *pending* from the
//! moment it is registered until its subscribe reply is queued: publications arriving meanwhile
//! are buffered, and [`Registry::activate`] queues the reply and then the buffered publications
//! newer than the position the reply carries, under the channel lock, so the client sees no gap
//! and no duplicate. Subscribers that negotiated delta compression get the variants of
//! [`delta`], computed once per publication as well.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
// A poisoned shard lock is taken over: every critical section leaves the maps consistent.
use herald_engine::lock;
use herald_engine::{BrokerEventHandler, ClientInfo, Publication, StreamPosition};
use herald_proto::{DisconnectCode, Protocol, Push, UnsubscribeCode};

use crate::convert::{proto_client_info, proto_publication};
use crate::metrics::{PushKind, Queue};
use crate::outbox::Outbox;
use crate::session::Control;
use delta::{DeltaChain, DeltaVariants};

mod delta;
mod pace;

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
    /// Present while some subscriber negotiated delta compression.
    delta: Option<Box<DeltaChain>>,
    /// Whether publications go straight to idle sockets ([`pace`]).
    pace: pace::Pace,
    /// The stream epoch subscribers were last positioned at. Subscribers of the same stream
    /// share this one allocation, so the fan-out's epoch check reads one hot cache line
    /// instead of a line per subscriber (and each subscription saves an allocation).
    epoch: Option<Arc<str>>,
}

/// What the registry needs to know about a new subscription.
#[derive(Debug)]
pub(crate) struct NewSubscriber {
    /// The connection's queues; its control queue tells the session a subscription lost its
    /// place.
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) push_join_leave: bool,
    /// Deliveries are checked against the stream position.
    pub(crate) positioned: bool,
    /// Subscribed by the server (token, personal channel, API): a lost place closes the
    /// connection with 3010 instead of an unsubscribe push.
    pub(crate) server_side: bool,
    /// Negotiated fossil delta compression: publications go out as [`delta`] variants.
    pub(crate) delta: bool,
}

#[derive(Debug)]
struct Subscriber {
    spec: NewSubscriber,
    /// `Some` while the subscribe reply is not queued yet.
    pending: Option<Box<Pending>>,
    /// Offset and epoch of the last publication queued (positioned subscriptions only).
    position: Option<(u64, Arc<str>)>,
    /// Lost its place in the stream: nothing more is queued until the session drops it.
    broken: bool,
    /// The last publication queued was the stream publication at `position`, so the client's
    /// delta base is that one and the next may go as a patch against it. Set on every
    /// positioned delivery, cleared by anything else; read only for delta subscribers.
    delta_base: bool,
}

#[derive(Debug, Default)]
struct Pending {
    publications: Vec<Buffered>,
    bytes: usize,
    /// The broker reported a gap while this subscription was pending.
    gap: bool,
}

#[derive(Debug)]
struct Buffered {
    offset: u64,
    epoch: Arc<str>,
    message: Bytes,
}

/// A subscription already exists for this connection and channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AlreadySubscribed;

/// Whether the next publication continues a positioned subscriber's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Continuity {
    /// The next offset in the same epoch: deliver.
    Next,
    /// Already delivered (or covered by the subscribe reply): skip.
    Seen,
    /// Something is missing, or the stream was replaced: the subscriber must recover.
    Gap,
}

fn continuity(position: &(u64, Arc<str>), offset: u64, epoch: &str) -> Continuity {
    let (last, current) = position;
    if **current != *epoch {
        Continuity::Gap
    } else if offset <= *last {
        Continuity::Seen
    } else if offset == last + 1 {
        Continuity::Next
    } else {
        Continuity::Gap
    }
}

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
        spec: NewSubscriber,
    ) -> Result<bool, AlreadySubscribed> {
        let mut shard = self.shard(channel);
        let first = !shard.contains_key(channel);
        let entry = shard.entry(channel.to_owned()).or_default();
        if entry.subscribers.contains_key(client) {
            return Err(AlreadySubscribed);
        }
        if spec.delta {
            entry.delta.get_or_insert_default().subscribers += 1;
        }
        let subscriber = Subscriber {
            spec,
            pending: Some(Box::default()),
            position: None,
            broken: false,
            delta_base: false,
        };
        entry.subscribers.insert(client.clone(), subscriber);
        Ok(first)
    }

    /// Makes a pending subscription live: queues `reply` (if any), then the publications
    /// buffered meanwhile. For a positioned subscription `position` is the one the reply carries:
    /// only publications continuing it are queued, and a gap makes the subscriber recover.
    pub(crate) fn activate(
        &self,
        channel: &str,
        client: &Arc<str>,
        reply: Option<Bytes>,
        position: Option<StreamPosition>,
    ) {
        let lost = self.activate_locked(channel, client, reply, position);
        lost.log(channel);
    }

    /// [`Registry::activate`] under the channel's shard lock; returns whether the subscriber
    /// lost its place, to be logged once the lock is released.
    fn activate_locked(
        &self,
        channel: &str,
        client: &Arc<str>,
        reply: Option<Bytes>,
        position: Option<StreamPosition>,
    ) -> Lost {
        let mut lost = Lost::default();
        let mut shard = self.shard(channel);
        let Some(Channel {
            subscribers,
            epoch: shared_epoch,
            ..
        }) = shard.get_mut(channel)
        else {
            return lost;
        };
        let Some(subscriber) = subscribers.get_mut(client) else {
            return lost;
        };
        let pending = subscriber.pending.take().unwrap_or_default();
        if let Some(reply) = reply
            && subscriber.spec.outbox.push(reply).is_err()
        {
            return lost;
        }
        let Some(position) = position.filter(|_| subscriber.spec.positioned) else {
            subscriber.delta_base = false;
            for buffered in pending.publications {
                if subscriber.spec.outbox.push(buffered.message).is_err() {
                    return lost;
                }
            }
            return lost;
        };
        let epoch = match shared_epoch {
            Some(shared) if **shared == *position.epoch => shared.clone(),
            _ => shared_epoch.insert(Arc::from(position.epoch)).clone(),
        };
        subscriber.position = Some((position.offset, epoch));
        if pending.gap {
            lost.add(subscriber.lose_place(channel));
            return lost;
        }
        for buffered in pending.publications {
            if buffered.offset == 0 {
                // Published without history (`skip_history`): not part of the stream.
                subscriber.delta_base = false;
                let _ = subscriber.spec.outbox.push(buffered.message);
                continue;
            }
            lost.add(subscriber.deliver_positioned(
                channel,
                buffered.offset,
                &buffered.epoch,
                buffered.message,
                true,
            ));
        }
        lost
    }

    /// Removes a subscription. Returns whether the channel has no local subscribers left.
    pub(crate) fn remove(&self, channel: &str, client: &Arc<str>) -> bool {
        let mut shard = self.shard(channel);
        let Some(entry) = shard.get_mut(channel) else {
            return false;
        };
        let Some(removed) = entry.subscribers.remove(client) else {
            return false;
        };
        if removed.spec.delta
            && let Some(chain) = &mut entry.delta
        {
            chain.subscribers -= 1;
            if chain.subscribers == 0 {
                entry.delta = None;
            }
        }
        if entry.subscribers.is_empty() {
            shard.remove(channel);
            return true;
        }
        false
    }

    /// Whether `channel` has local subscribers (pending ones included).
    pub(crate) fn has_local(&self, channel: &str) -> bool {
        self.shard(channel).contains_key(channel)
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

    /// The channels each of `clients` is subscribed to (pending subscriptions included), for
    /// the connections API. One pass over the channels, each checked from its smaller side (its
    /// subscribers or the clients asked about), so the cost stays near the number of
    /// subscriptions however many clients are asked about.
    pub(crate) fn channels_of(
        &self,
        clients: &std::collections::HashSet<Arc<str>>,
    ) -> HashMap<Arc<str>, Vec<String>> {
        let mut out: HashMap<Arc<str>, Vec<String>> = HashMap::new();
        if clients.is_empty() {
            return out;
        }
        for shard in self.shards.iter() {
            let shard = lock(shard);
            for (name, channel) in shard.iter() {
                if channel.subscribers.len() <= clients.len() {
                    for id in channel.subscribers.keys() {
                        if let Some(id) = clients.get(id) {
                            out.entry(id.clone()).or_default().push(name.clone());
                        }
                    }
                } else {
                    for id in clients {
                        if channel.subscribers.contains_key(id) {
                            out.entry(id.clone()).or_default().push(name.clone());
                        }
                    }
                }
            }
        }
        for channels in out.values_mut() {
            channels.sort_unstable();
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

    /// Queues an event for the channel's subscribers. `publication` is set for publications
    /// (delta subscribers get its [`delta`] variants), `None` for joins and leaves. Counts the
    /// event and its deliveries (once, not per subscriber) under `kind`.
    fn fan_out(
        &self,
        kind: PushKind,
        channel: &str,
        position: Option<&StreamPosition>,
        push: impl Fn() -> Push,
        publication: Option<&Publication>,
    ) {
        let metrics = crate::metrics();
        if let Some(m) = metrics {
            m.messages_received[kind.index()].inc();
        }
        let mut shard = self.shard(channel);
        let Some(entry) = shard.get_mut(channel) else {
            return;
        };
        let mut delivered = 0u64;
        let only_join_leave = publication.is_none();
        let mut encoded = EncodeOnce::new(push);
        let (offset, epoch) = position.map_or((0, ""), |p| (p.offset, p.epoch.as_str()));
        let mut variants = publication
            .zip(entry.delta.as_deref())
            .map(|(p, chain)| DeltaVariants::new(channel, p, chain.base_for(offset, epoch)));
        let mut lost = Lost::default();
        let excluded = publication.and_then(crate::verbatim::excluded);
        // Joins and leaves are rare: they always may write directly.
        let direct = only_join_leave
            || entry
                .pace
                .direct(tokio::time::Instant::now(), entry.subscribers.len());
        for (id, subscriber) in entry.subscribers.iter_mut() {
            if subscriber.broken
                || (only_join_leave
                    && (!subscriber.spec.push_join_leave || subscriber.pending.is_some()))
            {
                continue;
            }
            let outbox = &subscriber.spec.outbox;
            let message = if outbox.is_verbatim() {
                // Another protocol family's frame, published ready to send (`verbatim.rs`);
                // such subscribers never take joins and leaves (`push_join_leave` is off).
                match publication {
                    Some(_) if excluded == Some(&**id) => continue,
                    Some(publication) => Some(publication.data.clone()),
                    None => continue,
                }
            } else {
                let protocol = outbox.protocol();
                match &mut variants {
                    Some(variants) if subscriber.spec.delta => {
                        variants.get(&mut encoded, protocol, subscriber.continues(offset, epoch))
                    }
                    _ => encoded.get(protocol),
                }
            };
            let Some(message) = message else {
                // Binary payload for a JSON connection: it cannot be represented.
                subscriber
                    .spec
                    .outbox
                    .close(DisconnectCode::INAPPROPRIATE_PROTOCOL.into());
                continue;
            };
            delivered += 1;
            if let Some(pending) = &mut subscriber.pending {
                pending.bytes += message.len();
                pending.publications.push(Buffered {
                    offset,
                    epoch: Arc::from(epoch),
                    message,
                });
                if pending.bytes > subscriber.spec.outbox.max_bytes() {
                    crate::metrics::count_overflow(Queue::PendingSubscription);
                    subscriber.spec.outbox.close(DisconnectCode::SLOW.into());
                }
            } else if offset > 0 && subscriber.spec.positioned {
                lost.add(subscriber.deliver_positioned(channel, offset, epoch, message, direct));
            } else {
                if !only_join_leave {
                    // A publication outside the stream position: the client's delta base is
                    // now this one, which no patch is computed against.
                    subscriber.delta_base = false;
                }
                // A full outbox closes itself with 3008; nothing else to do here.
                let _ = subscriber.spec.outbox.push_paced(message, direct);
            }
        }
        if let (Some(chain), Some(publication)) = (&mut entry.delta, publication)
            && offset > 0
        {
            chain.record(offset, epoch, &publication.data);
        }
        drop(shard);
        if let Some(m) = metrics {
            m.messages_sent[kind.index()].add(delivered);
        }
        lost.log(channel);
    }

    /// The broker may have missed events of every channel: every positioned subscriber must
    /// recover (unsubscribe 2500, or 3010 for server-side subscriptions). Logs one line for the
    /// whole gap, once no shard is locked.
    fn lose_every_place(&self) {
        let mut lost = Lost::default();
        let mut pending = 0;
        let mut channels = 0;
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            for (channel, entry) in shard.iter_mut() {
                let mut hit = false;
                for subscriber in entry.subscribers.values_mut() {
                    if !subscriber.spec.positioned {
                        continue;
                    }
                    hit |= match &mut subscriber.pending {
                        Some(buffer) => {
                            buffer.gap = true;
                            pending += 1;
                            true
                        }
                        None => lost.add(subscriber.lose_place(channel)),
                    };
                }
                channels += usize::from(hit);
            }
        }
        if channels > 0 {
            tracing::info!(
                channels,
                unsubscribed = lost.unsubscribed,
                disconnected = lost.disconnected,
                pending,
                "broker gap: positioned subscribers lost their place in the stream; unsubscribed \
                 with 2500 or disconnected with 3010, they resubscribe or reconnect and recover \
                 from history; pending subscriptions recover when activated"
            );
        }
    }
}

impl Subscriber {
    /// Whether the publication at `offset` of `epoch` continues what this subscriber's client
    /// was last sent, so that a patch against the previous publication can be applied.
    fn continues(&self, offset: u64, epoch: &str) -> bool {
        self.delta_base
            && self.pending.is_none()
            && self
                .position
                .as_ref()
                .is_some_and(|position| continuity(position, offset, epoch) == Continuity::Next)
    }

    /// Queues a publication that continues the stream (straight to the socket when `direct`
    /// allows); returns how the subscriber was told to recover if it does not.
    fn deliver_positioned(
        &mut self,
        channel: &str,
        offset: u64,
        epoch: &str,
        message: Bytes,
        direct: bool,
    ) -> Option<Recovery> {
        if self.broken {
            return None;
        }
        let Some(position) = &mut self.position else {
            let _ = self.spec.outbox.push_paced(message, direct);
            return None;
        };
        match continuity(position, offset, epoch) {
            Continuity::Next => {
                // Same epoch: only the offset moves (no refcount traffic per delivery).
                position.0 = offset;
                self.delta_base = true;
                let _ = self.spec.outbox.push_paced(message, direct);
                None
            }
            Continuity::Seen => None,
            Continuity::Gap => self.lose_place(channel),
        }
    }

    /// The subscriber missed publications: stop delivering and make the client recover.
    /// Returns how it was told, `None` if it already had been. The caller logs (see [`Lost`]),
    /// once, after releasing the lock.
    fn lose_place(&mut self, channel: &str) -> Option<Recovery> {
        if self.broken {
            return None;
        }
        self.broken = true;
        let outbox = &self.spec.outbox;
        if self.spec.server_side {
            outbox.close(DisconnectCode::INSUFFICIENT_STATE.into());
            return Some(Recovery::Disconnected);
        }
        if !tell_to_resubscribe(outbox, channel) {
            return Some(Recovery::Disconnected);
        }
        Some(Recovery::Unsubscribed)
    }
}

/// Tells a client to resubscribe to `channel` (unsubscribe push 2500, the SDK resubscribes)
/// after its session forgets the subscription; whether it could. The control message is
/// queued before the push can reach the client. When either cannot be queued (a full control
/// channel), the connection is closed with 3010 instead: the client reconnects and recovers
/// every channel.
pub(crate) fn tell_to_resubscribe(outbox: &Outbox, channel: &str) -> bool {
    let code = UnsubscribeCode::INSUFFICIENT_STATE;
    let push = Push {
        channel: channel.to_owned(),
        unsubscribe: Some(herald_proto::Unsubscribe {
            code: code.code,
            reason: code.reason.to_owned(),
        }),
        ..Default::default()
    };
    let told = herald_proto::encode_push(outbox.protocol(), &push).is_ok_and(|bytes| {
        outbox
            .push_control(Control::Dropped(channel.to_owned()))
            .is_ok()
            && outbox.push(bytes).is_ok()
    });
    if !told {
        outbox.close(DisconnectCode::INSUFFICIENT_STATE.into());
    }
    told
}

/// How a subscriber that lost its place was told to recover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recovery {
    /// Unsubscribe push 2500: the client resubscribes with recovery.
    Unsubscribed,
    /// Disconnect 3010 (a server-side subscription, or a full control queue): the client
    /// reconnects and recovers every channel.
    Disconnected,
}

/// Subscribers that lost their place under one lock, counted so that one log line, written
/// after the lock is released, covers them all (a gap can hit thousands of subscribers).
#[derive(Debug, Default)]
struct Lost {
    unsubscribed: usize,
    disconnected: usize,
}

impl Lost {
    /// Counts `recovery`; whether there was one.
    fn add(&mut self, recovery: Option<Recovery>) -> bool {
        match recovery {
            Some(Recovery::Unsubscribed) => self.unsubscribed += 1,
            Some(Recovery::Disconnected) => self.disconnected += 1,
            None => return false,
        }
        true
    }

    fn total(&self) -> usize {
        self.unsubscribed + self.disconnected
    }

    /// One line for a gap in one channel's stream, if anyone lost their place.
    fn log(&self, channel: &str) {
        if self.total() > 0 {
            tracing::info!(
                %channel,
                unsubscribed = self.unsubscribed,
                disconnected = self.disconnected,
                "subscribers lost their place in the channel's stream; unsubscribed with 2500 \
                 or disconnected with 3010, they resubscribe or reconnect and recover from history"
            );
        }
    }
}

impl BrokerEventHandler for Registry {
    fn handle_publication(
        &self,
        channel: &str,
        publication: &Publication,
        position: &StreamPosition,
    ) {
        let push = || Push {
            channel: channel.to_owned(),
            r#pub: Some(proto_publication(publication)),
            ..Default::default()
        };
        self.fan_out(
            PushKind::Publication,
            channel,
            Some(position).filter(|p| p.offset > 0),
            push,
            Some(publication),
        );
    }

    fn handle_join(&self, channel: &str, info: &ClientInfo) {
        let push = || Push {
            channel: channel.to_owned(),
            join: Some(herald_proto::Join {
                info: Some(proto_client_info(info)),
            }),
            ..Default::default()
        };
        self.fan_out(PushKind::Join, channel, None, push, None);
    }

    fn handle_leave(&self, channel: &str, info: &ClientInfo) {
        let push = || Push {
            channel: channel.to_owned(),
            leave: Some(herald_proto::Leave {
                info: Some(proto_client_info(info)),
            }),
            ..Default::default()
        };
        self.fan_out(PushKind::Leave, channel, None, push, None);
    }

    fn handle_gap(&self) {
        if let Some(m) = crate::metrics() {
            m.broker_gaps.inc();
        }
        self.lose_every_place();
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

#[cfg(test)]
mod delta_tests;
#[cfg(test)]
mod table_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::Drained;

    fn subscriber(outbox: &Arc<Outbox>, positioned: bool) -> NewSubscriber {
        NewSubscriber {
            outbox: outbox.clone(),
            push_join_leave: false,
            positioned,
            server_side: false,
            delta: false,
        }
    }

    fn publication(offset: u64) -> Publication {
        Publication {
            offset,
            data: Bytes::from_static(b"{}"),
            ..Default::default()
        }
    }

    fn position(offset: u64) -> StreamPosition {
        StreamPosition {
            offset,
            epoch: "abcdefgh".into(),
        }
    }

    async fn offsets(outbox: &Outbox) -> Vec<u64> {
        let Drained::Messages(messages) = outbox.drain().await else {
            panic!("outbox closed");
        };
        messages
            .iter()
            .flat_map(|m| herald_proto::decode_reply(Protocol::Json, m).expect("valid"))
            .map(|r| r.push.and_then(|p| p.r#pub).map_or(u64::MAX, |p| p.offset))
            .collect()
    }

    #[tokio::test]
    async fn verbatim_subscribers_get_the_data_as_published_except_the_excluded_one() {
        let registry = Registry::new();
        let sender = Arc::new(Outbox::verbatim(1 << 20));
        let other = Arc::new(Outbox::verbatim(1 << 20));
        let centrifugo = Arc::new(Outbox::new(Protocol::Json, 1 << 20));
        for (id, outbox) in [("1.1", &sender), ("1.2", &other), ("c", &centrifugo)] {
            let id: Arc<str> = Arc::from(id);
            registry
                .add_pending("ch", &id, subscriber(outbox, false))
                .expect("new");
            registry.activate("ch", &id, None, None);
        }
        let frame =
            Bytes::from_static(br#"{"event":"client-x","channel":"private-a","data":"{}"}"#);
        let mut event = Publication {
            data: frame.clone(),
            ..Default::default()
        };
        event
            .tags
            .insert("__herald.exclude".to_owned(), "1.1".to_owned());
        registry.handle_publication("ch", &event, &StreamPosition::default());
        registry.handle_join("ch", &ClientInfo::default());
        let Drained::Messages(got) = other.drain().await else {
            panic!("closed")
        };
        assert_eq!(got, vec![frame]);
        // The Centrifugo subscriber gets it as a push, the sender nothing.
        let Drained::Messages(pushes) = centrifugo.drain().await else {
            panic!("closed")
        };
        assert!(pushes[0].starts_with(br#"{"push":{"channel":"ch","pub":"#));
        registry.handle_publication("ch", &publication(1), &StreamPosition::default());
        let Drained::Messages(later) = sender.drain().await else {
            panic!("closed")
        };
        assert_eq!(later, vec![Bytes::from_static(b"{}")]);
    }

    #[test]
    fn a_subscription_entry_stays_small() {
        // Every idle subscription pays for this; the delta flags live in padding.
        assert!(std::mem::size_of::<Subscriber>() <= 56);
    }

    #[tokio::test]
    async fn activation_queues_the_reply_then_only_what_continues_the_position() {
        let registry = Registry::new();
        let outbox = Arc::new(Outbox::new(Protocol::Json, 1 << 20));
        let client: Arc<str> = Arc::from("c");
        assert_eq!(
            registry.add_pending("ch", &client, subscriber(&outbox, true)),
            Ok(true)
        );
        // Arrive while the subscribe is pending: 2 is covered by the reply's position, 3
        // continues it, a publication without history (offset 0) is not part of the stream.
        registry.handle_publication("ch", &publication(2), &position(2));
        registry.handle_publication("ch", &publication(3), &position(3));
        registry.handle_publication("ch", &publication(0), &StreamPosition::default());
        let reply = Bytes::from_static(br#"{"id":2,"subscribe":{}}"#);
        registry.activate("ch", &client, Some(reply), Some(position(2)));
        assert_eq!(offsets(&outbox).await, vec![u64::MAX, 3, 0]);
    }
}
