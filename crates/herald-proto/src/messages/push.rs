//! Server-initiated messages: [`Push`] and the bodies it carries.

use std::collections::HashMap;

/// An asynchronous server-to-client message about `channel`. Sent inside `Reply.push` on
/// bidirectional transports, bare on unidirectional ones. Exactly one body field is set.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Push {
    /// Numeric channel id replacing `channel` when channel compaction is on.
    #[prost(int64, tag = "1")]
    pub id: i64,
    #[prost(string, tag = "2")]
    pub channel: String,
    #[prost(message, optional, tag = "4")]
    pub r#pub: Option<Publication>,
    #[prost(message, optional, tag = "5")]
    pub join: Option<Join>,
    #[prost(message, optional, tag = "6")]
    pub leave: Option<Leave>,
    #[prost(message, optional, tag = "7")]
    pub unsubscribe: Option<Unsubscribe>,
    #[prost(message, optional, tag = "8")]
    pub message: Option<Message>,
    #[prost(message, optional, tag = "9")]
    pub subscribe: Option<Subscribe>,
    /// Unidirectional transports only.
    #[prost(message, optional, tag = "10")]
    pub connect: Option<Connect>,
    /// Emulation and unidirectional transports; WebSocket uses a Close frame instead.
    #[prost(message, optional, tag = "11")]
    pub disconnect: Option<Disconnect>,
    /// Unidirectional transports only.
    #[prost(message, optional, tag = "12")]
    pub refresh: Option<Refresh>,
}

/// Who a connection is: user id, client (connection) id and opaque info.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ClientInfo {
    /// User id; empty for anonymous users. Always written in JSON.
    #[prost(string, tag = "1")]
    pub user: String,
    /// Connection id. Always written in JSON.
    #[prost(string, tag = "2")]
    pub client: String,
    /// Connection info from the token or proxy (raw JSON in JSON encoding).
    #[prost(bytes = "bytes", tag = "3")]
    pub conn_info: ::bytes::Bytes,
    /// Channel info from the subscription token or proxy (raw JSON in JSON encoding).
    #[prost(bytes = "bytes", tag = "4")]
    pub chan_info: ::bytes::Bytes,
}

/// A publication in a channel.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Publication {
    /// Payload (raw JSON in JSON encoding).
    #[prost(bytes = "bytes", tag = "4")]
    pub data: ::bytes::Bytes,
    /// Publisher; set only for client-side publishes.
    #[prost(message, optional, tag = "5")]
    pub info: Option<ClientInfo>,
    /// Offset in the channel stream; the epoch travels in the subscribe result.
    #[prost(uint64, tag = "6")]
    pub offset: u64,
    #[prost(map = "string, string", tag = "7")]
    pub tags: HashMap<String, String>,
    /// `data` is a fossil delta against the previous publication.
    #[prost(bool, tag = "8")]
    pub delta: bool,
    /// Publication time, Unix milliseconds.
    #[prost(int64, tag = "9")]
    pub time: i64,
    /// Channel, for wildcard subscriptions.
    #[prost(string, tag = "10")]
    pub channel: String,
    #[prost(string, tag = "11")]
    pub key: String,
    #[prost(bool, tag = "12")]
    pub removed: bool,
    #[prost(sint64, tag = "13")]
    pub score: i64,
    #[prost(string, tag = "14")]
    pub epoch: String,
    /// Previous payload, used by brokers to compute deltas during fan-out.
    #[prost(bytes = "bytes", tag = "15")]
    pub prev_data: ::bytes::Bytes,
    #[prost(uint64, tag = "16")]
    pub version: u64,
}

/// A client joined the channel (join_leave subscriptions).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Join {
    #[prost(message, optional, tag = "1")]
    pub info: Option<ClientInfo>,
}

/// A client left the channel (join_leave subscriptions).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Leave {
    #[prost(message, optional, tag = "1")]
    pub info: Option<ClientInfo>,
}

/// The server unsubscribed the client. The SDK resubscribes when `code >= 2500`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Unsubscribe {
    #[prost(uint32, tag = "2")]
    pub code: u32,
    #[prost(string, tag = "3")]
    pub reason: String,
}

/// A server-side subscription was added at runtime.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Subscribe {
    #[prost(bool, tag = "1")]
    pub recoverable: bool,
    #[prost(string, tag = "4")]
    pub epoch: String,
    #[prost(uint64, tag = "5")]
    pub offset: u64,
    #[prost(bool, tag = "6")]
    pub positioned: bool,
    #[prost(bytes = "bytes", tag = "7")]
    pub data: ::bytes::Bytes,
}

/// An asynchronous message addressed to this connection (server API `send`).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Message {
    #[prost(bytes = "bytes", tag = "1")]
    pub data: ::bytes::Bytes,
}

/// Connect result pushed on unidirectional transports (no command to reply to).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Connect {
    #[prost(string, tag = "1")]
    pub client: String,
    #[prost(string, tag = "2")]
    pub version: String,
    #[prost(bytes = "bytes", tag = "3")]
    pub data: ::bytes::Bytes,
    #[prost(map = "string, message", tag = "4")]
    pub subs: HashMap<String, crate::messages::SubscribeResult>,
    #[prost(bool, tag = "5")]
    pub expires: bool,
    #[prost(uint32, tag = "6")]
    pub ttl: u32,
    #[prost(uint32, tag = "7")]
    pub ping: u32,
    #[prost(bool, tag = "8")]
    pub pong: bool,
    #[prost(string, tag = "9")]
    pub session: String,
    #[prost(string, tag = "10")]
    pub node: String,
    /// Server time, Unix milliseconds.
    #[prost(int64, tag = "11")]
    pub time: i64,
}

/// Disconnect advice pushed on emulation and unidirectional transports.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Disconnect {
    #[prost(uint32, tag = "1")]
    pub code: u32,
    #[prost(string, tag = "2")]
    pub reason: String,
    /// Deprecated: the SDK decides from the code range.
    #[prost(bool, tag = "3")]
    pub reconnect: bool,
}

/// Connection refresh pushed on unidirectional transports.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Refresh {
    #[prost(bool, tag = "1")]
    pub expires: bool,
    #[prost(uint32, tag = "2")]
    pub ttl: u32,
}

impl From<crate::messages::ConnectResult> for Connect {
    /// The connect push a unidirectional transport sends carries what the connect reply of a
    /// bidirectional one would.
    fn from(result: crate::messages::ConnectResult) -> Self {
        Self {
            client: result.client,
            version: result.version,
            data: result.data,
            subs: result.subs,
            expires: result.expires,
            ttl: result.ttl,
            ping: result.ping,
            pong: result.pong,
            session: result.session,
            node: result.node,
            time: result.time,
        }
    }
}
