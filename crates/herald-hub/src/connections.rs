//! The connections API: the connections of a user, or of everybody, across the cluster, one
//! page at a time.
//!
//! Every node answers a [survey](crate::survey) with up to `limit` of its connections whose
//! client id sorts after the cursor, in client-id order; the asker merges the answers and keeps
//! the first `limit`. The cursor is the last client id of a page, so paging is stable while
//! connections come and go: a connection that arrives with an id before the cursor is not
//! shown, one that leaves is not shown twice.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use herald_proto::Protocol;
use serde::{Deserialize, Serialize};

use crate::HubError;
use crate::node::{Hub, Shared};
use crate::outbox::Outbox;
use crate::survey::{SurveyAnswer, SurveyQuery};

/// Most connections in one page (and the page size when none is asked for).
pub const MAX_CONNECTIONS_PAGE: usize = 1000;

/// Which connections to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionsQuery {
    /// Only this user's connections; `None` for everybody's.
    pub user: Option<String>,
    /// Only connections whose client id sorts after this one (the previous page's cursor).
    pub after: Option<String>,
    /// Page size, 1..=[`MAX_CONNECTIONS_PAGE`]; 0 means the maximum, larger is clamped.
    pub limit: usize,
}

/// One connection, as the connections API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionDetails {
    /// Client id.
    pub client: String,
    /// User id ("" for anonymous).
    pub user: String,
    /// Id of the node holding the connection.
    pub node: String,
    /// Transport name (`websocket`, `http_stream`, `sse`, `uni_websocket`, ...).
    pub transport: String,
    /// `json` or `protobuf`.
    pub protocol: String,
    /// Channels the connection is subscribed to (sorted).
    pub channels: Vec<String>,
    /// The socket's remote address (a reverse proxy's when behind one).
    pub ip: Option<IpAddr>,
    /// Unix seconds of the connect.
    pub connected_at: i64,
    /// Connection info (token `info`, or set by a proxy or refresh).
    #[serde(with = "base64_bytes")]
    pub info: Bytes,
}

/// A page of connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionsPage {
    /// The connections, ordered by client id.
    pub connections: Vec<ConnectionDetails>,
    /// Where the next page starts (`after` of the next query); `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One node's answer: up to `limit` matching connections, and whether it has more.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct NodeConnections {
    connections: Vec<ConnectionDetails>,
    more: bool,
}

impl Hub {
    /// A page of the connections matching `query` on every node of the cluster. Fails with
    /// 100 when a node does not answer in time, 106 when too many such calls are in progress.
    pub async fn connections(&self, query: ConnectionsQuery) -> Result<ConnectionsPage, HubError> {
        let limit = page_size(query.limit);
        let query = ConnectionsQuery { limit, ..query };
        let answers = self.survey(SurveyQuery::Connections(query)).await?;
        let mut more = false;
        let mut connections = Vec::new();
        for answer in answers {
            if let SurveyAnswer::Connections(answer) = answer {
                more |= answer.more;
                connections.extend(answer.connections);
            }
        }
        connections.sort_unstable_by(|a, b| a.client.cmp(&b.client));
        connections.dedup_by(|a, b| a.client == b.client);
        more |= connections.len() > limit;
        connections.truncate(limit);
        let next_cursor = if more {
            connections.last().map(|c| c.client.clone())
        } else {
            None
        };
        Ok(ConnectionsPage {
            connections,
            next_cursor,
        })
    }
}

impl Shared {
    /// This node's connections matching `query` (its `limit` already checked).
    pub(crate) fn local_connections(&self, query: &ConnectionsQuery) -> NodeConnections {
        let limit = page_size(query.limit);
        let after = query.after.as_deref().unwrap_or("");
        let keep = |id: &Arc<str>| **id > *after;
        let mut picked: Vec<(Arc<str>, Arc<str>, Arc<Outbox>)> = {
            let clients = self.clients();
            match &query.user {
                Some(user) => clients
                    .of_user(user)
                    .filter(|(id, _)| keep(id))
                    .map(|(id, outbox)| (Arc::from(user.as_str()), id.clone(), outbox.clone()))
                    .collect(),
                None => clients
                    .all()
                    .filter(|(_, id, _)| keep(id))
                    .map(|(user, id, outbox)| (user.clone(), id.clone(), outbox.clone()))
                    .collect(),
            }
        };
        picked.sort_unstable_by(|a, b| a.1.cmp(&b.1));
        let more = picked.len() > limit;
        picked.truncate(limit);
        let ids: HashSet<Arc<str>> = picked.iter().map(|(_, id, _)| id.clone()).collect();
        let mut channels = self.registry.channels_of(&ids);
        let connections = picked
            .into_iter()
            .map(|(user, id, outbox)| {
                let peer = outbox.peer();
                ConnectionDetails {
                    channels: channels.remove(&id).unwrap_or_default(),
                    client: id.to_string(),
                    user: user.to_string(),
                    node: self.node_id.clone(),
                    transport: peer.transport.to_owned(),
                    protocol: match peer.protocol {
                        Protocol::Json => "json",
                        Protocol::Protobuf => "protobuf",
                    }
                    .to_owned(),
                    ip: peer.ip,
                    connected_at: i64::from(peer.connected_at),
                    info: peer.info,
                }
            })
            .collect();
        NodeConnections { connections, more }
    }
}

fn page_size(limit: usize) -> usize {
    if limit == 0 {
        MAX_CONNECTIONS_PAGE
    } else {
        limit.min(MAX_CONNECTIONS_PAGE)
    }
}

/// Connection info is arbitrary bytes; the control plane speaks JSON, so it travels as base64.
mod base64_bytes {
    use super::*;

    pub(super) fn serialize<S: serde::Serializer>(bytes: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(0), MAX_CONNECTIONS_PAGE);
        assert_eq!(page_size(5), 5);
        assert_eq!(page_size(MAX_CONNECTIONS_PAGE + 1), MAX_CONNECTIONS_PAGE);
    }

    #[test]
    fn details_round_trip_through_the_control_plane_encoding() {
        let details = ConnectionDetails {
            client: "c".into(),
            user: "u".into(),
            node: "n".into(),
            transport: "websocket".into(),
            protocol: "json".into(),
            channels: vec!["a".into()],
            ip: Some("127.0.0.1".parse().expect("ip")),
            connected_at: 1_700_000_000,
            info: Bytes::from_static(b"\x00\xffbinary"),
        };
        let text = serde_json::to_string(&details).expect("encodes");
        let back: ConnectionDetails = serde_json::from_str(&text).expect("decodes");
        assert_eq!(back, details);
    }
}
