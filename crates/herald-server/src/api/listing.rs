//! `connections`: the connections of a user (or of everybody) across the cluster, paged.
//!
//! Centrifugo PRO answers `{"connections":{"<client>":{ConnectionInfo}}}` with every
//! connection at once. Herald answers in the same shape, one page at a time: at most `limit`
//! connections (default and maximum 1000) in client-id order, and `next_cursor` (omitted on the
//! last page) to pass as `cursor` for the next. Beside PRO's fields (`transport`, `protocol`,
//! `user`, `state.channels`, `connected_at_ms`) each connection has Herald's `node` (node id),
//! `ip` (the socket's remote address) and `info` (`b64info` when not JSON). PRO's
//! `expression` (a CEL filter) is not supported: a non-empty one is 107.

use std::collections::BTreeMap;

use herald_hub::{ConnectionDetails, ConnectionsPage, ConnectionsQuery, Hub};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::error::ApiError;
use super::payload::outgoing;
use super::request::ConnectionsRequest;

/// Lists a page of connections.
pub(crate) async fn connections(
    hub: &Hub,
    req: ConnectionsRequest,
) -> Result<ConnectionsResult, ApiError> {
    if !req.expression.is_empty() {
        return Err(ApiError::BAD_REQUEST);
    }
    let query = ConnectionsQuery {
        user: Some(req.user).filter(|u| !u.is_empty()),
        after: Some(req.cursor).filter(|c| !c.is_empty()),
        limit: usize::try_from(req.limit).unwrap_or(usize::MAX),
    };
    let page = hub.connections(query).await?;
    Ok(ConnectionsResult { page })
}

/// `connections` result.
#[derive(Debug)]
pub(crate) struct ConnectionsResult {
    pub(crate) page: ConnectionsPage,
}

impl Serialize for ConnectionsResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let connections: BTreeMap<&str, ConnectionOut<'_>> = self
            .page
            .connections
            .iter()
            .map(|c| (c.client.as_str(), ConnectionOut::new(c)))
            .collect();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("connections", &connections)?;
        if let Some(cursor) = &self.page.next_cursor {
            map.serialize_entry("next_cursor", cursor)?;
        }
        map.end()
    }
}

/// One connection: PRO's `ConnectionInfo` fields, then Herald's.
#[derive(Debug, Serialize)]
struct ConnectionOut<'a> {
    transport: &'a str,
    protocol: &'a str,
    user: &'a str,
    state: StateOut<'a>,
    connected_at_ms: i64,
    node: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    b64info: Option<String>,
}

/// PRO's `ConnectionState`: the channels, each with an empty `ChannelContext`.
#[derive(Debug, Serialize)]
struct StateOut<'a> {
    channels: BTreeMap<&'a str, Empty>,
}

#[derive(Debug, Serialize)]
struct Empty {}

impl<'a> ConnectionOut<'a> {
    fn new(c: &'a ConnectionDetails) -> Self {
        let info = outgoing(&c.info);
        Self {
            transport: &c.transport,
            protocol: &c.protocol,
            user: &c.user,
            state: StateOut {
                channels: c
                    .channels
                    .iter()
                    .map(|ch| (ch.as_str(), Empty {}))
                    .collect(),
            },
            connected_at_ms: c.connected_at.saturating_mul(1000),
            node: &c.node,
            ip: c.ip.map(|ip| ip.to_canonical().to_string()),
            info: info.json,
            b64info: info.base64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_in_centrifugo_pro_shape_with_herald_fields() {
        let details = ConnectionDetails {
            client: "c1".into(),
            user: "42".into(),
            node: "n1".into(),
            transport: "websocket".into(),
            protocol: "json".into(),
            channels: vec!["a".into(), "b".into()],
            ip: Some("::ffff:127.0.0.1".parse().expect("ip")),
            connected_at: 1_700_000_000,
            info: bytes::Bytes::from_static(br#"{"name":"x"}"#),
        };
        let result = ConnectionsResult {
            page: ConnectionsPage {
                connections: vec![details],
                next_cursor: Some("c1".into()),
            },
        };
        let json = serde_json::to_value(&result).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "connections": {"c1": {
                    "transport": "websocket", "protocol": "json", "user": "42",
                    "state": {"channels": {"a": {}, "b": {}}},
                    "connected_at_ms": 1_700_000_000_000_i64,
                    "node": "n1", "ip": "127.0.0.1", "info": {"name": "x"}
                }},
                "next_cursor": "c1"
            })
        );
        let last = ConnectionsResult {
            page: ConnectionsPage::default(),
        };
        assert_eq!(
            serde_json::to_value(&last).expect("serializes"),
            serde_json::json!({"connections": {}})
        );
    }
}
