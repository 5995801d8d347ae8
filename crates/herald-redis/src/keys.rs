//! Where a channel's data lives: which shard, and under which keys. The names follow
//! Centrifugo's Redis engine: under a prefix `{p}`, a channel `{ch}` has its publications in the
//! stream `{p}.stream.{ch}`, its position (epoch and top offset) in the hash
//! `{p}.stream.meta.{ch}`, remembered idempotent publish results in `{p}.result.{ch}.{key}`,
//! its presence in the hash `{p}.presence.data.{ch}` with expiry times in the sorted set
//! `{p}.presence.expire.{ch}`, and its PUB/SUB channel is `{p}.client.{ch}`; nodes talk to each
//! other on `{p}.control`. Channels are spread over shards as Centrifugo spreads them. Only the
//! names and the placement are shared: the values are Herald's own encoding (`codec.rs`), which
//! is why the default prefix is `herald`, not Centrifugo's `centrifugo`.
//!
//! All keys of a channel are on one shard, so every script touches a single server.
//!
//! With Redis Cluster, the channel name in every key is wrapped in a hash tag
//! (`{p}.stream.{<ch>}`, as Centrifugo does), so all keys of a channel hash to one slot and each
//! script runs on one node. A channel name that is empty or starts with `}` makes an empty hash
//! tag, which Redis ignores: such a channel's keys may then land on different slots and its
//! scripts fail with CROSSSLOT.

use std::borrow::Cow;

/// Key and PUB/SUB channel names under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
    /// `{prefix}.client.`, the PUB/SUB channel name before the channel.
    client_prefix: String,
    /// Wrap channel names of keys in a hash tag, for Redis Cluster.
    cluster: bool,
}

impl Keys {
    pub(crate) fn new(prefix: &str, cluster: bool) -> Self {
        Self {
            prefix: prefix.to_owned(),
            client_prefix: format!("{prefix}.client."),
            cluster,
        }
    }

    /// The channel as it appears in key names: `{ch}` (a hash tag) with Redis Cluster, else as
    /// it is. PUB/SUB channel names never carry the tag.
    fn tagged<'a>(&self, channel: &'a str) -> Cow<'a, str> {
        if self.cluster {
            Cow::Owned(format!("{{{channel}}}"))
        } else {
            Cow::Borrowed(channel)
        }
    }

    /// PUB/SUB channel of publications, joins and leaves: `{p}.client.{ch}`.
    pub(crate) fn client_channel(&self, channel: &str) -> String {
        format!("{}{channel}", self.client_prefix)
    }

    /// PUB/SUB channel of control messages between nodes: `{p}.control`, on the first shard.
    pub(crate) fn control_channel(&self) -> String {
        format!("{}.control", self.prefix)
    }

    /// The Herald channel of a PUB/SUB channel name, if it is one of ours.
    pub(crate) fn channel_of<'a>(&self, pubsub_channel: &'a [u8]) -> Option<&'a str> {
        let rest = pubsub_channel.strip_prefix(self.client_prefix.as_bytes())?;
        std::str::from_utf8(rest).ok()
    }

    /// Stream of publications: `{p}.stream.{ch}`.
    pub(crate) fn stream(&self, channel: &str) -> String {
        format!("{}.stream.{}", self.prefix, self.tagged(channel))
    }

    /// Hash of the stream position, `e` epoch and `s` top offset: `{p}.stream.meta.{ch}`.
    pub(crate) fn stream_meta(&self, channel: &str) -> String {
        format!("{}.stream.meta.{}", self.prefix, self.tagged(channel))
    }

    /// Hash of a remembered publish result, `e` and `s`: `{p}.result.{ch}.{key}`.
    pub(crate) fn result(&self, channel: &str, idempotency_key: &str) -> String {
        format!(
            "{}.result.{}.{idempotency_key}",
            self.prefix,
            self.tagged(channel)
        )
    }

    /// Hash of client id to encoded `ClientInfo`: `{p}.presence.data.{ch}`.
    pub(crate) fn presence_data(&self, channel: &str) -> String {
        format!("{}.presence.data.{}", self.prefix, self.tagged(channel))
    }

    /// Sorted set of client id scored by expiry (Unix milliseconds): `{p}.presence.expire.{ch}`.
    pub(crate) fn presence_expire(&self, channel: &str) -> String {
        format!("{}.presence.expire.{}", self.prefix, self.tagged(channel))
    }

    /// Set of nodes holding local subscribers of a channel: `{p}.occupancy.nodes.{ch}`.
    pub(crate) fn occupancy_nodes(&self, channel: &str) -> String {
        format!("{}.occupancy.nodes.{}", self.prefix, self.tagged(channel))
    }

    /// The channel's current occupancy period id, absent when vacated:
    /// `{p}.occupancy.state.{ch}`.
    pub(crate) fn occupancy_state(&self, channel: &str) -> String {
        format!("{}.occupancy.state.{}", self.prefix, self.tagged(channel))
    }

    /// Set of the channels a node holds: `{p}.lifecycle.channels.{node}` (first shard; with
    /// Redis Cluster the node id is the hash tag, so a node's two keys share a slot).
    pub(crate) fn node_channels(&self, node: &str) -> String {
        format!("{}.lifecycle.channels.{}", self.prefix, self.tagged(node))
    }

    /// Hash of the presence entries a node holds, `<channel length>:<channel><client>` -> user:
    /// `{p}.lifecycle.presence.{node}`.
    pub(crate) fn node_presence(&self, node: &str) -> String {
        format!("{}.lifecycle.presence.{}", self.prefix, self.tagged(node))
    }

    /// Hash of node id -> last heartbeat: `{p}.lifecycle.nodes`.
    pub(crate) fn lifecycle_nodes(&self) -> String {
        format!("{}.lifecycle.nodes", self.prefix)
    }

    /// Claim on a dead node's cleanup: `{p}.lifecycle.cleanup.{node}`.
    pub(crate) fn cleanup_claim(&self, node: &str) -> String {
        format!("{}.lifecycle.cleanup.{}", self.prefix, self.tagged(node))
    }
}

/// The shard of `channel` among `shards`: jump consistent hash over FNV-1a-64 of the name, as
/// Centrifugo's `consistentIndex`, so Herald and Centrifugo nodes agree on placement.
pub(crate) fn shard_index(channel: &str, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    let buckets = i64::try_from(shards).unwrap_or(i64::MAX);
    // `jump` returns a bucket in 0..buckets, which fits in usize because `buckets` came from one.
    jump(fnv1a64(channel.as_bytes()), buckets) as usize
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(PRIME)
    })
}

/// Jump consistent hash (Lamping & Veach 2014), exactly as Go computes it, floats included.
fn jump(mut key: u64, buckets: i64) -> i64 {
    let mut b = -1i64;
    let mut j = 0i64;
    while j < buckets {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1i64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keys_as_centrifugo() {
        let keys = Keys::new("centrifugo", false);
        assert_eq!(keys.client_channel("news"), "centrifugo.client.news");
        assert_eq!(keys.control_channel(), "centrifugo.control");
        assert_eq!(keys.stream("news"), "centrifugo.stream.news");
        assert_eq!(keys.stream_meta("news"), "centrifugo.stream.meta.news");
        assert_eq!(keys.result("news", "k"), "centrifugo.result.news.k");
        assert_eq!(keys.presence_data("news"), "centrifugo.presence.data.news");
        assert_eq!(
            keys.presence_expire("news"),
            "centrifugo.presence.expire.news"
        );
        assert_eq!(keys.channel_of(b"centrifugo.client.a:b"), Some("a:b"));
        assert_eq!(keys.channel_of(b"other.client.a"), None);
        assert_eq!(keys.channel_of(b"centrifugo.client.\xff"), None);
    }

    #[test]
    fn tags_channels_in_cluster_keys() {
        let keys = Keys::new("centrifugo", true);
        assert_eq!(keys.client_channel("news"), "centrifugo.client.news");
        assert_eq!(keys.control_channel(), "centrifugo.control");
        assert_eq!(keys.stream("news"), "centrifugo.stream.{news}");
        assert_eq!(keys.stream_meta("news"), "centrifugo.stream.meta.{news}");
        assert_eq!(keys.result("news", "k"), "centrifugo.result.{news}.k");
        assert_eq!(
            keys.presence_data("news"),
            "centrifugo.presence.data.{news}"
        );
        assert_eq!(
            keys.presence_expire("news"),
            "centrifugo.presence.expire.{news}"
        );
        assert_eq!(keys.channel_of(b"centrifugo.client.news"), Some("news"));
    }

    #[test]
    fn fnv1a64_matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn jump_matches_reference_vectors() {
        // From github.com/dgryski/go-jump, which Centrifugo's `consistentIndex` adapts.
        assert_eq!(jump(1, 1), 0);
        assert_eq!(jump(42, 57), 43);
        assert_eq!(jump(0xDEAD_10CC, 1), 0);
        assert_eq!(jump(0xDEAD_10CC, 666), 361);
        assert_eq!(jump(256, 1024), 520);
    }

    #[test]
    fn adding_a_shard_only_moves_channels_to_it() {
        for i in 0..2000 {
            let channel = format!("channel-{i}");
            for shards in 1..8 {
                let before = shard_index(&channel, shards);
                let after = shard_index(&channel, shards + 1);
                assert!(before < shards);
                assert!(
                    after == before || after == shards,
                    "{channel}: {before} -> {after}"
                );
            }
        }
    }
}
