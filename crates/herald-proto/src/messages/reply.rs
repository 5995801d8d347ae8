//! Server-to-client messages: [`Reply`] and the result bodies it carries.

use std::collections::HashMap;

use crate::messages::{ClientInfo, Publication, Push};

/// A reply to a [`crate::Command`] (`id > 0`), an asynchronous push (`push` set, no id), or —
/// with neither — a server ping.
///
/// A successful reply must carry its result key even when the result is empty: the SDK reads
/// e.g. `reply.publish` directly.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Reply {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(message, optional, tag = "2")]
    pub error: Option<Error>,
    #[prost(message, optional, tag = "4")]
    pub push: Option<Push>,
    #[prost(message, optional, tag = "5")]
    pub connect: Option<ConnectResult>,
    #[prost(message, optional, tag = "6")]
    pub subscribe: Option<SubscribeResult>,
    #[prost(message, optional, tag = "7")]
    pub unsubscribe: Option<UnsubscribeResult>,
    #[prost(message, optional, tag = "8")]
    pub publish: Option<PublishResult>,
    #[prost(message, optional, tag = "9")]
    pub presence: Option<PresenceResult>,
    #[prost(message, optional, tag = "10")]
    pub presence_stats: Option<PresenceStatsResult>,
    #[prost(message, optional, tag = "11")]
    pub history: Option<HistoryResult>,
    #[prost(message, optional, tag = "12")]
    pub ping: Option<PingResult>,
    #[prost(message, optional, tag = "13")]
    pub rpc: Option<RpcResult>,
    #[prost(message, optional, tag = "14")]
    pub refresh: Option<RefreshResult>,
    #[prost(message, optional, tag = "15")]
    pub sub_refresh: Option<SubRefreshResult>,
}

/// A command failed. Build it from [`crate::ErrorCode`] for the protocol's own codes.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Error {
    #[prost(uint32, tag = "1")]
    pub code: u32,
    #[prost(string, tag = "2")]
    pub message: String,
    /// The SDK retries temporary errors.
    #[prost(bool, tag = "3")]
    pub temporary: bool,
}

/// A shared compression dictionary offered in the connect result.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Dictionary {
    /// SHA-256 of the content, first 12 bytes, base64url without padding.
    #[prost(string, tag = "1")]
    pub id: String,
    /// DEFLATE-compressed content, set on Protobuf connections.
    #[prost(bytes = "bytes", tag = "2")]
    pub data: ::bytes::Bytes,
    /// Base64 of the compressed content, set on JSON connections.
    #[prost(string, tag = "3")]
    pub data_b64: String,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ConnectResult {
    /// Connection id (UUIDv4).
    #[prost(string, tag = "1")]
    pub client: String,
    /// Server version string.
    #[prost(string, tag = "2")]
    pub version: String,
    #[prost(bool, tag = "3")]
    pub expires: bool,
    /// Seconds until the connection must be refreshed.
    #[prost(uint32, tag = "4")]
    pub ttl: u32,
    #[prost(bytes = "bytes", tag = "5")]
    pub data: ::bytes::Bytes,
    /// Results of the subscriptions made during connect, keyed by channel.
    #[prost(map = "string, message", tag = "6")]
    pub subs: HashMap<String, SubscribeResult>,
    /// Server ping interval in seconds.
    #[prost(uint32, tag = "7")]
    pub ping: u32,
    /// The client must answer pings.
    #[prost(bool, tag = "8")]
    pub pong: bool,
    /// Set only for emulation and unidirectional transports.
    #[prost(string, tag = "9")]
    pub session: String,
    /// Set only for emulation and unidirectional transports.
    #[prost(string, tag = "10")]
    pub node: String,
    /// Server time, Unix milliseconds.
    #[prost(int64, tag = "11")]
    pub time: i64,
    /// Connection feature bits the server enabled.
    #[prost(int64, tag = "12")]
    pub flag: i64,
    #[prost(message, optional, tag = "13")]
    pub dict: Option<Dictionary>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RefreshResult {
    #[prost(string, tag = "1")]
    pub client: String,
    #[prost(string, tag = "2")]
    pub version: String,
    #[prost(bool, tag = "3")]
    pub expires: bool,
    #[prost(uint32, tag = "4")]
    pub ttl: u32,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SubscribeResult {
    #[prost(bool, tag = "1")]
    pub expires: bool,
    #[prost(uint32, tag = "2")]
    pub ttl: u32,
    #[prost(bool, tag = "3")]
    pub recoverable: bool,
    #[prost(string, tag = "6")]
    pub epoch: String,
    /// Recovered publications.
    #[prost(message, repeated, tag = "7")]
    pub publications: Vec<Publication>,
    #[prost(bool, tag = "8")]
    pub recovered: bool,
    #[prost(uint64, tag = "9")]
    pub offset: u64,
    #[prost(bool, tag = "10")]
    pub positioned: bool,
    #[prost(bytes = "bytes", tag = "11")]
    pub data: ::bytes::Bytes,
    #[prost(bool, tag = "12")]
    pub was_recovering: bool,
    /// Delta compression was negotiated.
    #[prost(bool, tag = "13")]
    pub delta: bool,
    /// Numeric channel id for channel compaction.
    #[prost(int64, tag = "14")]
    pub id: i64,
    #[prost(int32, tag = "15")]
    pub r#type: i32,
    #[prost(int32, tag = "16")]
    pub phase: i32,
    #[prost(string, tag = "17")]
    pub cursor: String,
    #[prost(message, repeated, tag = "18")]
    pub state: Vec<Publication>,
    /// Milliseconds the SDK should debounce publishes by.
    #[prost(uint32, tag = "19")]
    pub publish_debounce: u32,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SubRefreshResult {
    #[prost(bool, tag = "1")]
    pub expires: bool,
    #[prost(uint32, tag = "2")]
    pub ttl: u32,
    #[prost(message, repeated, tag = "3")]
    pub items: Vec<Publication>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct UnsubscribeResult {}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PublishResult {}

/// Presence of a channel, keyed by client id. Always written in JSON, `{}` when empty.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PresenceResult {
    #[prost(map = "string, message", tag = "1")]
    pub presence: HashMap<String, ClientInfo>,
}

/// Both counts are always written in JSON, even when zero.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PresenceStatsResult {
    #[prost(uint32, tag = "1")]
    pub num_clients: u32,
    /// Distinct user ids; anonymous `""` counts as one user.
    #[prost(uint32, tag = "2")]
    pub num_users: u32,
}

/// All three fields are always written in JSON (`[]`, `""`, `0` when empty).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct HistoryResult {
    #[prost(message, repeated, tag = "1")]
    pub publications: Vec<Publication>,
    #[prost(string, tag = "2")]
    pub epoch: String,
    #[prost(uint64, tag = "3")]
    pub offset: u64,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PingResult {}

/// Result of an RPC call (proto `RPCResult`).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RpcResult {
    #[prost(bytes = "bytes", tag = "1")]
    pub data: ::bytes::Bytes,
}
