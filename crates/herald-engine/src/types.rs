//! Value types that cross the engine boundary: what a publication is, where a stream stands, who
//! is present. They mirror the protocol's messages but belong to the engine so that engine crates
//! never depend on the wire format.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;

/// Who a connection is, as shown in presence, join/leave and client-side publications.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// User id; `""` is an anonymous user.
    pub user: String,
    /// Connection id (a UUID chosen by the node).
    pub client: String,
    /// Connection info from the connection token (raw JSON or binary), may be empty.
    pub conn_info: Bytes,
    /// Channel info from the subscription token, may be empty.
    pub chan_info: Bytes,
}

/// One message in a channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Publication {
    /// Position in the channel stream, from 1; 0 when the channel keeps no history.
    pub offset: u64,
    /// Payload as published (raw JSON for JSON clients, or binary).
    pub data: Bytes,
    /// Publisher, set only for client-side publications.
    pub info: Option<ClientInfo>,
    /// Free-form tags given by the publisher.
    pub tags: HashMap<String, String>,
    /// Publication time as Unix milliseconds; 0 when not recorded.
    pub time: i64,
    /// Send it as a fossil delta against the channel's previous publication to subscribers
    /// that negotiated delta compression (API `delta` flag or the namespace's `delta_publish`).
    /// Only live delivery looks at it: history and recovery always carry full payloads.
    pub delta: bool,
}

/// Where a channel stream stands: the offset of its newest publication and the stream's epoch.
/// The epoch changes whenever the stream is lost, so an offset is only meaningful with its epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct StreamPosition {
    /// Offset of the newest publication (0 for an empty stream).
    pub offset: u64,
    /// Stream generation: 8 random ASCII letters, stable while the stream lives.
    pub epoch: String,
}

/// How a publication is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishOptions {
    /// Keep at most this many publications in the channel stream; 0 keeps no history (the
    /// publication then has offset 0 and the position is empty).
    pub history_size: usize,
    /// Drop the stream this long after its last publication; zero keeps no history.
    pub history_ttl: Duration,
    /// How long the stream's position (offset and epoch) lives after the last publish; zero
    /// keeps it forever. Once it expires, the next publish starts a new epoch at offset 1.
    pub history_meta_ttl: Duration,
    /// When set, a second publish with the same key into the same channel within
    /// `idempotent_result_ttl` is not delivered again and returns the first result.
    pub idempotency_key: Option<String>,
    /// How long an idempotency key is remembered; zero means
    /// [`DEFAULT_IDEMPOTENT_RESULT_TTL`], as in Centrifugo.
    pub idempotent_result_ttl: Duration,
    /// The publication's version (Centrifugo 6.2 `version`), for publishers that send the whole
    /// state each time and may send it out of order: when the channel keeps history and its last
    /// versioned publication had a version at least this high (in the same `version_epoch`),
    /// this one is dropped and the result is [`SuppressReason::Version`]. 0 (the default) is no
    /// version: nothing is checked and the channel's last version is left as it was. Ignored
    /// without history, as in Centrifugo (a broker without streams has nowhere to keep it).
    pub version: u64,
    /// Names the generation of `version` (Centrifugo's `version_epoch`), for a publisher whose
    /// version counter may restart: a different non-empty epoch than the last one's always
    /// passes; an empty epoch compares with the last version whatever its epoch was.
    pub version_epoch: String,
}

/// How long an idempotency key is remembered when
/// [`PublishOptions::idempotent_result_ttl`] is zero: 5 minutes, as in Centrifugo.
pub const DEFAULT_IDEMPOTENT_RESULT_TTL: Duration = Duration::from_secs(300);

impl PublishOptions {
    /// Whether this publish appends to a stream (both size and ttl must be set, as in Centrifugo).
    pub fn keeps_history(&self) -> bool {
        self.history_size > 0 && !self.history_ttl.is_zero()
    }

    /// Whether a channel whose last versioned publication was `last` (version, epoch) must drop
    /// this publish: only a versioned publish is checked, and it passes when it is newer or
    /// names a different epoch. The one rule both engines apply (the Redis engine in Lua).
    pub fn version_is_stale(&self, last: Option<(u64, &str)>) -> bool {
        match last {
            Some((version, epoch)) if self.version > 0 => {
                (self.version_epoch.is_empty() || self.version_epoch == epoch)
                    && self.version <= version
            }
            _ => false,
        }
    }
}

/// What a publish returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishResult {
    /// Position of the new publication (empty when the channel keeps no history).
    pub position: StreamPosition,
    /// Why nothing was published this time, if so; the position is then the one the
    /// idempotency key remembered, or the channel's current top for a stale version.
    pub suppressed: Option<SuppressReason>,
}

/// Why a publish delivered and stored nothing (Centrifugo's `SuppressReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuppressReason {
    /// The idempotency key was seen before within its TTL.
    Idempotency,
    /// The channel's last versioned publication was at least as new (see
    /// [`PublishOptions::version`]).
    Version,
}

/// How many publications a history read returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HistoryLimit {
    /// Only the stream position, no publications.
    #[default]
    PositionOnly,
    /// Every publication in the stream (after `since`, if set).
    All,
    /// At most this many publications.
    Max(usize),
}

impl HistoryLimit {
    /// The protocol's encoding: 0 is position only, -1 (or any negative) is all.
    pub fn from_protocol(limit: i32) -> Self {
        match limit {
            0 => Self::PositionOnly,
            n if n < 0 => Self::All,
            n => Self::Max(n as usize),
        }
    }
}

/// Which publications a history read returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    /// Only publications after this position (offset > `since.offset`); at or past the top
    /// there are none. An epoch that is not the stream's epoch, or an offset whose next
    /// publication the stream no longer holds (trimmed or expired), fails with
    /// [`EngineError::UnrecoverablePosition`](crate::EngineError::UnrecoverablePosition). An
    /// empty epoch matches any epoch, as in Centrifugo.
    ///
    /// With `reverse`, Centrifugo's backward paging applies instead: the publications *before*
    /// this position (offset < `since.offset`), newest first; only the epoch is checked.
    pub since: Option<StreamPosition>,
    /// How many publications. Without `since`, `Max(n)` keeps the oldest n, or the newest n when
    /// reversed.
    pub limit: HistoryLimit,
    /// Newest first.
    pub reverse: bool,
}

/// A history read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryOptions {
    /// Which publications.
    pub filter: HistoryFilter,
    /// Position TTL to apply from now (reading a channel that never had a publication creates
    /// its epoch, so later recoveries compare against a stable epoch). Like Centrifugo's
    /// engines, a read also refreshes the TTL of an existing position; zero leaves an existing
    /// TTL alone and makes a created position live forever.
    pub meta_ttl: Duration,
}

/// What a history read returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryResult {
    /// Publications in the order asked for.
    pub publications: Vec<Publication>,
    /// The stream's current top position.
    pub position: StreamPosition,
}

/// Presence counters of a channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PresenceStats {
    /// Distinct connections present.
    pub num_clients: u32,
    /// Distinct user ids present; the anonymous user `""` counts as one.
    pub num_users: u32,
}
