//! Client-to-server messages: [`Command`] and the request bodies it carries.

use std::collections::HashMap;

/// A command sent by a client. `id` lets the client match the [`crate::Reply`]; a command with
/// `id == 0` and no request is a pong (or, with `send`, a fire-and-forget message).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Command {
    /// Command id, echoed in the reply. Zero for pongs and `send`.
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(message, optional, tag = "4")]
    pub connect: Option<ConnectRequest>,
    #[prost(message, optional, tag = "5")]
    pub subscribe: Option<SubscribeRequest>,
    #[prost(message, optional, tag = "6")]
    pub unsubscribe: Option<UnsubscribeRequest>,
    #[prost(message, optional, tag = "7")]
    pub publish: Option<PublishRequest>,
    #[prost(message, optional, tag = "8")]
    pub presence: Option<PresenceRequest>,
    #[prost(message, optional, tag = "9")]
    pub presence_stats: Option<PresenceStatsRequest>,
    #[prost(message, optional, tag = "10")]
    pub history: Option<HistoryRequest>,
    /// Unused by protocol v2, where a ping is an empty reply and a pong an empty command.
    #[prost(message, optional, tag = "11")]
    pub ping: Option<PingRequest>,
    /// Asynchronous message; has no id and gets no reply.
    #[prost(message, optional, tag = "12")]
    pub send: Option<SendRequest>,
    #[prost(message, optional, tag = "13")]
    pub rpc: Option<RpcRequest>,
    #[prost(message, optional, tag = "14")]
    pub refresh: Option<RefreshRequest>,
    #[prost(message, optional, tag = "15")]
    pub sub_refresh: Option<SubRefreshRequest>,
}

/// Body of a POST to the bidirectional-emulation endpoint: a frame of commands (`data`) for the
/// session `session` living on node `node`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct EmulationRequest {
    #[prost(string, tag = "1")]
    pub node: String,
    #[prost(string, tag = "2")]
    pub session: String,
    #[prost(bytes = "bytes", tag = "3")]
    pub data: ::bytes::Bytes,
}

/// First command of a connection: credentials, custom data and optional subscriptions.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ConnectRequest {
    /// Connection JWT; empty for anonymous or proxy-authenticated connections.
    #[prost(string, tag = "1")]
    pub token: String,
    #[prost(bytes = "bytes", tag = "2")]
    pub data: ::bytes::Bytes,
    /// Subscriptions to establish during connect (recovery after reconnect), keyed by channel.
    #[prost(map = "string, message", tag = "3")]
    pub subs: HashMap<String, SubscribeRequest>,
    /// SDK name, `"js"` for centrifuge-js.
    #[prost(string, tag = "4")]
    pub name: String,
    #[prost(string, tag = "5")]
    pub version: String,
    /// Headers sent by an emulation client that cannot set real HTTP headers.
    #[prost(map = "string, string", tag = "6")]
    pub headers: HashMap<String, String>,
    /// Connection-level feature bits the client supports.
    #[prost(int64, tag = "7")]
    pub flag: i64,
    /// Id of the compression dictionary the client already holds.
    #[prost(string, tag = "8")]
    pub dict: String,
    /// Untrusted hint naming the kind of view this connection serves.
    #[prost(string, tag = "9")]
    pub profile: String,
}

/// Asks to replace the connection token before it expires.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RefreshRequest {
    #[prost(string, tag = "1")]
    pub token: String,
}

/// Subscribe to a channel, optionally recovering missed publications from a stream position.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SubscribeRequest {
    #[prost(string, tag = "1")]
    pub channel: String,
    /// Subscription JWT for channels that require one.
    #[prost(string, tag = "2")]
    pub token: String,
    /// Recover publications after `epoch`/`offset`.
    #[prost(bool, tag = "3")]
    pub recover: bool,
    #[prost(string, tag = "6")]
    pub epoch: String,
    #[prost(uint64, tag = "7")]
    pub offset: u64,
    #[prost(bytes = "bytes", tag = "8")]
    pub data: ::bytes::Bytes,
    #[prost(bool, tag = "9")]
    pub positioned: bool,
    #[prost(bool, tag = "10")]
    pub recoverable: bool,
    #[prost(bool, tag = "11")]
    pub join_leave: bool,
    /// Requested delta format (`"fossil"`), empty for none.
    #[prost(string, tag = "12")]
    pub delta: String,
    /// Server-side publication filter over tags.
    #[prost(message, optional, tag = "13")]
    pub tf: Option<FilterNode>,
    /// Subscription feature bits (1 = channel compaction, 2 = reject unrecovered). SDK 5.5+
    /// always sends 1.
    #[prost(int64, tag = "14")]
    pub flag: i64,
    /// 0 stream, 1 map, 2 map_clients, 3 map_users, 4 shared_poll.
    #[prost(int32, tag = "15")]
    pub r#type: i32,
    #[prost(int32, tag = "16")]
    pub phase: i32,
    #[prost(string, tag = "17")]
    pub cursor: String,
    #[prost(int32, tag = "18")]
    pub limit: i32,
    #[prost(bool, tag = "19")]
    pub asc: bool,
}

/// One key and its version inside a [`TrackBatch`].
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct KeyedItem {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(uint64, tag = "2")]
    pub version: u64,
}

/// A signed set of keys to track in a map subscription.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TrackBatch {
    /// HMAC over the batch, computed by the application backend.
    #[prost(string, tag = "1")]
    pub signature: String,
    #[prost(message, repeated, tag = "2")]
    pub items: Vec<KeyedItem>,
}

/// Replace a subscription token (type 0), or track / untrack keys (types 1 and 2).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SubRefreshRequest {
    #[prost(string, tag = "1")]
    pub channel: String,
    #[prost(string, tag = "2")]
    pub token: String,
    #[prost(int32, tag = "3")]
    pub r#type: i32,
    #[prost(message, repeated, tag = "4")]
    pub track: Vec<TrackBatch>,
    #[prost(string, repeated, tag = "5")]
    pub untrack: Vec<String>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct UnsubscribeRequest {
    #[prost(string, tag = "1")]
    pub channel: String,
}

/// Client-side publish into a channel.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PublishRequest {
    #[prost(string, tag = "1")]
    pub channel: String,
    #[prost(bytes = "bytes", tag = "2")]
    pub data: ::bytes::Bytes,
    /// 0 regular, 1 map publish.
    #[prost(int32, tag = "3")]
    pub r#type: i32,
    #[prost(string, tag = "4")]
    pub key: String,
    #[prost(bool, tag = "5")]
    pub removed: bool,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PresenceRequest {
    #[prost(string, tag = "1")]
    pub channel: String,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PresenceStatsRequest {
    #[prost(string, tag = "1")]
    pub channel: String,
}

/// A position in a channel's publication stream: the stream's epoch and an offset in it.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct StreamPosition {
    #[prost(uint64, tag = "1")]
    pub offset: u64,
    #[prost(string, tag = "2")]
    pub epoch: String,
}

/// Read a channel's history, optionally paginating from `since`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct HistoryRequest {
    #[prost(string, tag = "1")]
    pub channel: String,
    #[prost(int32, tag = "7")]
    pub limit: i32,
    #[prost(message, optional, tag = "8")]
    pub since: Option<StreamPosition>,
    #[prost(bool, tag = "9")]
    pub reverse: bool,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PingRequest {}

/// Call an RPC method handled by the application (proto `RPCRequest`).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RpcRequest {
    #[prost(bytes = "bytes", tag = "1")]
    pub data: ::bytes::Bytes,
    #[prost(string, tag = "2")]
    pub method: String,
}

/// Asynchronous message to the server; no reply is sent.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SendRequest {
    #[prost(bytes = "bytes", tag = "1")]
    pub data: ::bytes::Bytes,
}

/// A node of a server-side publication filter over tags: a leaf comparison when `op` is empty,
/// otherwise `and` / `or` / `not` over `nodes`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct FilterNode {
    /// `""` (leaf), `"and"`, `"or"` or `"not"`.
    #[prost(string, tag = "1")]
    pub op: String,
    /// Tag key compared by a leaf.
    #[prost(string, tag = "2")]
    pub key: String,
    /// Leaf comparison: `eq`, `neq`, `in`, `nin`, `ex`, `nex`, `sw`, `ew`, `ct`, `lt`, `lte`,
    /// `gt`, `gte`.
    #[prost(string, tag = "3")]
    pub cmp: String,
    #[prost(string, tag = "4")]
    pub val: String,
    #[prost(string, repeated, tag = "5")]
    pub vals: Vec<String>,
    #[prost(message, repeated, tag = "6")]
    pub nodes: Vec<FilterNode>,
}
