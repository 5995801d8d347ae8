//! Result bodies, shaped as Centrifugo's `api.proto` results in JSON.
//!
//! Which fields are omitted follows the Go struct tags (`omitempty`) field by field; maps are
//! written with sorted keys, as Go writes them.
//!
//! Results hold the engine's values (client infos, publications) as they are; turning their
//! payloads into JSON happens only when a result is serialized here, so the gRPC API
//! (`crate::grpc`) converts the same results into its Protobuf messages with payloads as bytes.

use std::collections::{BTreeMap, HashMap};

use herald_engine::{ClientInfo, Publication};
use herald_hub::NodeInfo;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::error::ApiError;
use super::payload::outgoing;

/// The result of one successful method call. Serialized as a batch reply entry:
/// `{"<method>": <result>}`; [`Outcome::as_result`] gives the `{"result": <result>}` envelope of
/// a single call.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    Publish(PublishResult),
    Broadcast(BroadcastResult),
    Subscribe(Empty),
    Unsubscribe(Empty),
    Disconnect(Empty),
    Refresh(Empty),
    Presence(PresenceResult),
    PresenceStats(PresenceStatsResult),
    History(HistoryResult),
    HistoryRemove(Empty),
    Channels(ChannelsResult),
    Info(InfoResult),
    Connections(super::listing::ConnectionsResult),
}

impl Outcome {
    /// `{"result": <result>}`.
    pub(crate) fn as_result(&self) -> AsResult<'_> {
        AsResult(self)
    }
}

/// See [`Outcome::as_result`].
#[derive(Debug)]
pub(crate) struct AsResult<'a>(&'a Outcome);

impl Serialize for AsResult<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self.0 {
            Outcome::Publish(r) => map.serialize_entry("result", r)?,
            Outcome::Broadcast(r) => map.serialize_entry("result", r)?,
            Outcome::Subscribe(r)
            | Outcome::Unsubscribe(r)
            | Outcome::Disconnect(r)
            | Outcome::Refresh(r)
            | Outcome::HistoryRemove(r) => map.serialize_entry("result", r)?,
            Outcome::Presence(r) => map.serialize_entry("result", r)?,
            Outcome::PresenceStats(r) => map.serialize_entry("result", r)?,
            Outcome::History(r) => map.serialize_entry("result", r)?,
            Outcome::Channels(r) => map.serialize_entry("result", r)?,
            Outcome::Connections(r) => map.serialize_entry("result", r)?,
            Outcome::Info(r) => map.serialize_entry("result", r)?,
        }
        map.end()
    }
}

/// `/batch` answer: replies in command order. Top-level, not inside `result`; `replies` is
/// omitted when there are none (Go's `omitempty`).
#[derive(Debug, Serialize)]
pub(crate) struct BatchResponse {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) replies: Vec<Reply>,
}

impl BatchResponse {
    /// How many of the commands failed.
    pub(crate) fn errors(&self) -> usize {
        self.replies
            .iter()
            .filter(|reply| matches!(reply, Reply::Err { .. }))
            .count()
    }
}

/// One batch reply: `{"<method>": {...}}` or `{"error": {...}}`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum Reply {
    Ok(Outcome),
    Err { error: ApiError },
}

impl From<Result<Outcome, ApiError>> for Reply {
    fn from(result: Result<Outcome, ApiError>) -> Self {
        match result {
            Ok(outcome) => Reply::Ok(outcome),
            Err(error) => Reply::Err { error },
        }
    }
}

/// Results without fields.
#[derive(Debug, Serialize)]
pub(crate) struct Empty {}

/// `publish` result: the new position, both omitted without history.
#[derive(Debug, Default, Serialize)]
pub(crate) struct PublishResult {
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) offset: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) epoch: String,
}

/// `broadcast` result: one response per channel, in request order.
#[derive(Debug, Serialize)]
pub(crate) struct BroadcastResult {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) responses: Vec<PublishResponse>,
}

/// One channel of a broadcast: `{"result": {...}}` or `{"error": {...}}`.
#[derive(Debug, Serialize)]
pub(crate) struct PublishResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<ApiError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) result: Option<PublishResult>,
}

impl From<Result<PublishResult, ApiError>> for PublishResponse {
    fn from(result: Result<PublishResult, ApiError>) -> Self {
        match result {
            Ok(result) => Self {
                error: None,
                result: Some(result),
            },
            Err(error) => Self {
                error: Some(error),
                result: None,
            },
        }
    }
}

/// `presence` result: always an object, `{}` when nobody is present.
#[derive(Debug, Serialize)]
pub(crate) struct PresenceResult {
    /// By client id.
    #[serde(serialize_with = "presence_json")]
    pub(crate) presence: HashMap<String, ClientInfo>,
}

impl PresenceResult {
    pub(crate) fn new(presence: HashMap<String, ClientInfo>) -> Self {
        Self { presence }
    }
}

fn presence_json<S: Serializer>(
    presence: &HashMap<String, ClientInfo>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let sorted: BTreeMap<&str, ClientInfoOut> = presence
        .iter()
        .map(|(client, info)| (client.as_str(), ClientInfoOut::new(info)))
        .collect();
    sorted.serialize(serializer)
}

/// A connection in presence and in publications: `user` and `client` always, infos when set.
#[derive(Debug, Serialize)]
struct ClientInfoOut {
    user: String,
    client: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    conn_info: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    b64conn_info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chan_info: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    b64chan_info: Option<String>,
}

impl ClientInfoOut {
    fn new(info: &ClientInfo) -> Self {
        let conn_info = outgoing(&info.conn_info);
        let chan_info = outgoing(&info.chan_info);
        Self {
            user: info.user.clone(),
            client: info.client.clone(),
            conn_info: conn_info.json,
            b64conn_info: conn_info.base64,
            chan_info: chan_info.json,
            b64chan_info: chan_info.base64,
        }
    }
}

/// `presence_stats` result: both counters always written.
#[derive(Debug, Serialize)]
pub(crate) struct PresenceStatsResult {
    pub(crate) num_clients: u32,
    pub(crate) num_users: u32,
}

/// `history` result: publications, epoch and offset always written.
#[derive(Debug, Serialize)]
pub(crate) struct HistoryResult {
    #[serde(serialize_with = "publications_json")]
    pub(crate) publications: Vec<Publication>,
    pub(crate) epoch: String,
    pub(crate) offset: u64,
}

fn publications_json<S: Serializer>(
    publications: &[Publication],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(publications.iter().map(PublicationOut::new))
}

/// A publication in history.
#[derive(Debug, Serialize)]
struct PublicationOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    b64data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<ClientInfoOut>,
    #[serde(skip_serializing_if = "is_zero")]
    offset: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<String, String>,
}

impl PublicationOut {
    fn new(publication: &Publication) -> Self {
        let data = outgoing(&publication.data);
        Self {
            data: data.json,
            b64data: data.base64,
            info: publication.info.as_ref().map(ClientInfoOut::new),
            offset: publication.offset,
            tags: publication
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

/// `channels` result: always an object.
#[derive(Debug, Serialize)]
pub(crate) struct ChannelsResult {
    pub(crate) channels: BTreeMap<String, ChannelInfo>,
}

/// A channel in `channels`.
#[derive(Debug, Serialize)]
pub(crate) struct ChannelInfo {
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub(crate) num_clients: u32,
}

/// `info` result.
#[derive(Debug, Serialize)]
pub(crate) struct InfoResult {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) nodes: Vec<NodeResult>,
}

/// One node in `info`, in Go's field order; only `uptime` is omitted when zero.
#[derive(Debug, Serialize)]
pub(crate) struct NodeResult {
    pub(crate) uid: String,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) num_clients: u32,
    pub(crate) num_users: u32,
    pub(crate) num_channels: u32,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub(crate) uptime: u32,
    pub(crate) num_subs: u32,
}

impl From<NodeInfo> for NodeResult {
    fn from(info: NodeInfo) -> Self {
        Self {
            uid: info.uid,
            name: info.name,
            version: info.version,
            num_clients: saturating_u32(info.num_clients),
            num_users: saturating_u32(info.num_users),
            num_channels: saturating_u32(info.num_channels),
            uptime: u32::try_from(info.uptime).unwrap_or(u32::MAX),
            num_subs: saturating_u32(info.num_subs),
        }
    }
}

/// Counters are `uint32` on the wire.
pub(crate) fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn json(value: &impl Serialize) -> String {
        serde_json::to_string(value).expect("serializes")
    }

    #[test]
    fn publish_result_omits_empty_position() {
        assert_eq!(
            json(&Outcome::Publish(PublishResult::default()).as_result()),
            r#"{"result":{}}"#
        );
        let result = PublishResult {
            offset: 2,
            epoch: "abc".into(),
        };
        assert_eq!(
            json(&Outcome::Publish(result).as_result()),
            r#"{"result":{"offset":2,"epoch":"abc"}}"#
        );
    }

    #[test]
    fn batch_replies_are_keyed_by_method() {
        let replies = vec![
            Reply::Ok(Outcome::Publish(PublishResult::default())),
            Reply::Err {
                error: ApiError::NOT_FOUND,
            },
            Reply::Ok(Outcome::Presence(PresenceResult::new(HashMap::new()))),
            Reply::Ok(Outcome::PresenceStats(PresenceStatsResult {
                num_clients: 0,
                num_users: 0,
            })),
        ];
        assert_eq!(
            json(&BatchResponse { replies }),
            r#"{"replies":[{"publish":{}},{"error":{"code":104,"message":"not found"}},{"presence":{"presence":{}}},{"presence_stats":{"num_clients":0,"num_users":0}}]}"#
        );
        assert_eq!(
            json(&BatchResponse {
                replies: Vec::new()
            }),
            "{}"
        );
    }

    #[test]
    fn history_writes_raw_data_and_base64_binary() {
        let json_pub = Publication {
            offset: 1,
            data: Bytes::from_static(br#"{"a": 1}"#),
            tags: HashMap::from([("k".to_owned(), "v".to_owned())]),
            ..Default::default()
        };
        let binary_pub = Publication {
            offset: 2,
            data: Bytes::from_static(&[0xff]),
            ..Default::default()
        };
        let result = HistoryResult {
            publications: vec![json_pub, binary_pub],
            epoch: "e".into(),
            offset: 2,
        };
        assert_eq!(
            json(&result),
            r#"{"publications":[{"data":{"a": 1},"offset":1,"tags":{"k":"v"}},{"b64data":"/w==","offset":2}],"epoch":"e","offset":2}"#
        );
        let empty = HistoryResult {
            publications: Vec::new(),
            epoch: String::new(),
            offset: 0,
        };
        assert_eq!(json(&empty), r#"{"publications":[],"epoch":"","offset":0}"#);
    }

    #[test]
    fn client_info_writes_infos_only_when_set() {
        let info = ClientInfo {
            user: "u".into(),
            client: "c".into(),
            conn_info: Bytes::from_static(br#"{"name":"x"}"#),
            chan_info: Bytes::new(),
        };
        assert_eq!(
            json(&ClientInfoOut::new(&info)),
            r#"{"user":"u","client":"c","conn_info":{"name":"x"}}"#
        );
        let anonymous = ClientInfo {
            client: "c".into(),
            ..Default::default()
        };
        assert_eq!(
            json(&ClientInfoOut::new(&anonymous)),
            r#"{"user":"","client":"c"}"#
        );
    }

    #[test]
    fn node_result_field_order() {
        let node = NodeResult::from(NodeInfo {
            uid: "id".into(),
            name: "n".into(),
            version: "v".into(),
            num_clients: 1,
            num_users: 2,
            num_channels: 3,
            num_subs: 4,
            uptime: 0,
        });
        assert_eq!(
            json(&node),
            r#"{"uid":"id","name":"n","version":"v","num_clients":1,"num_users":2,"num_channels":3,"num_subs":4}"#
        );
    }
}
