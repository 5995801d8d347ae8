//! The HTTP API's requests (`rest-api.md`), read and checked: triggering events, batches,
//! and the `info` attributes of channel queries. Each refusal carries the status Pusher
//! answers (400, or 413 for an event's data past the app's limit) and a message.

use serde::Deserialize;

use crate::{Channel, ChannelKind, SocketId};

/// Most channels one trigger may name.
pub const MAX_TRIGGER_CHANNELS: usize = 100;
/// Most events in one `batch_events`.
pub const MAX_BATCH_EVENTS: usize = 10;
/// Longest event name, in bytes.
pub const MAX_EVENT_NAME_LEN: usize = 200;

/// A refused request: the HTTP status and the message of the response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// 400 or 413.
    pub status: u16,
    /// What was wrong.
    pub message: String,
}

impl ApiError {
    fn bad(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
        }
    }
}

/// An attribute a caller may ask about a channel (`info=user_count,subscription_count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfoAttribute {
    /// Distinct users of a presence channel.
    UserCount,
    /// Connections subscribed.
    SubscriptionCount,
    /// The cached event of a cache channel (`channels/{name}` only).
    Cache,
}

/// One event to trigger, on one or more channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The event name.
    pub name: String,
    /// The event's data, a string, passed to clients as is.
    pub data: String,
    /// The channels, at least one.
    pub channels: Vec<Channel>,
    /// The connection that must not receive it (the one that caused it).
    pub socket_id: Option<SocketId>,
    /// Attributes of each channel to answer with.
    pub info: Vec<InfoAttribute>,
}

#[derive(Deserialize)]
struct RawTrigger {
    name: Option<String>,
    data: Option<serde_json::Value>,
    channels: Option<Vec<String>>,
    channel: Option<String>,
    socket_id: Option<String>,
    info: Option<String>,
}

#[derive(Deserialize)]
struct RawBatch {
    batch: Option<Vec<RawTrigger>>,
}

impl Trigger {
    /// Reads `POST /apps/{id}/events`; `max_data` is the app's limit on `data` (413 past it).
    pub fn parse(body: &[u8], max_data: usize) -> Result<Self, ApiError> {
        let raw: RawTrigger = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))?;
        Self::from_raw(raw, max_data)
    }

    /// Reads `POST /apps/{id}/batch_events`: at most [`MAX_BATCH_EVENTS`] events, each on one
    /// channel.
    pub fn parse_batch(body: &[u8], max_data: usize) -> Result<Vec<Self>, ApiError> {
        let raw: RawBatch = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))?;
        let batch = raw.batch.ok_or_else(|| ApiError::bad("missing batch"))?;
        if batch.len() > MAX_BATCH_EVENTS {
            return Err(ApiError::bad(format!(
                "batch has {} events, at most {MAX_BATCH_EVENTS}",
                batch.len()
            )));
        }
        batch
            .into_iter()
            .map(|event| {
                if event.channels.is_some() {
                    return Err(ApiError::bad("a batch event names one channel"));
                }
                Self::from_raw(event, max_data)
            })
            .collect()
    }

    fn from_raw(raw: RawTrigger, max_data: usize) -> Result<Self, ApiError> {
        let name = raw.name.ok_or_else(|| ApiError::bad("missing name"))?;
        if name.is_empty() || name.len() > MAX_EVENT_NAME_LEN {
            return Err(ApiError::bad(format!(
                "event name must have 1 to {MAX_EVENT_NAME_LEN} bytes"
            )));
        }
        let data = match raw.data {
            Some(serde_json::Value::String(data)) => data,
            Some(_) => return Err(ApiError::bad("data must be a string")),
            None => return Err(ApiError::bad("missing data")),
        };
        if data.len() > max_data {
            return Err(ApiError {
                status: 413,
                message: format!("event data has {} bytes, at most {max_data}", data.len()),
            });
        }
        let names = match (raw.channels, raw.channel) {
            (Some(channels), None) => channels,
            (None, Some(channel)) => vec![channel],
            (Some(_), Some(_)) => return Err(ApiError::bad("give channels or channel, not both")),
            (None, None) => return Err(ApiError::bad("missing channels")),
        };
        if names.is_empty() || names.len() > MAX_TRIGGER_CHANNELS {
            return Err(ApiError::bad(format!(
                "an event goes to 1 to {MAX_TRIGGER_CHANNELS} channels"
            )));
        }
        let channels = names
            .iter()
            .map(|name| Channel::parse(name).map_err(|e| ApiError::bad(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        if channels.len() > 1
            && channels
                .iter()
                .any(|c| matches!(c.kind(), ChannelKind::Encrypted { .. }))
        {
            return Err(ApiError::bad(
                "an event to an encrypted channel goes to that channel alone",
            ));
        }
        let socket_id = raw
            .socket_id
            .map(|id| {
                id.parse::<SocketId>()
                    .map_err(|e| ApiError::bad(e.to_string()))
            })
            .transpose()?;
        let info = parse_info(raw.info.as_deref().unwrap_or(""))?;
        if info.contains(&InfoAttribute::Cache) {
            return Err(ApiError::bad("info=cache is only for GET channels/{name}"));
        }
        Ok(Self {
            name,
            data,
            channels,
            socket_id,
            info,
        })
    }
}

/// Reads an `info` parameter: comma-separated attribute names, empty for none.
pub fn parse_info(text: &str) -> Result<Vec<InfoAttribute>, ApiError> {
    let mut attributes = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let attribute = match name {
            "user_count" => InfoAttribute::UserCount,
            "subscription_count" => InfoAttribute::SubscriptionCount,
            "cache" => InfoAttribute::Cache,
            other => return Err(ApiError::bad(format!("unknown info attribute {other:?}"))),
        };
        if !attributes.contains(&attribute) {
            attributes.push(attribute);
        }
    }
    Ok(attributes)
}

/// Checks that every attribute asked applies to `channel` (`user_count` to presence
/// channels, `cache` to cache channels); 400 otherwise.
pub fn check_info_applies(channel: &Channel, info: &[InfoAttribute]) -> Result<(), ApiError> {
    let kind = channel.kind();
    for attribute in info {
        let applies = match attribute {
            InfoAttribute::UserCount => matches!(kind, ChannelKind::Presence { .. }),
            InfoAttribute::SubscriptionCount => true,
            InfoAttribute::Cache => kind.is_cache(),
        };
        if !applies {
            return Err(ApiError::bad(format!(
                "{attribute:?} does not apply to {channel}"
            )));
        }
    }
    Ok(())
}

/// Checks `GET /apps/{id}/channels`'s query: `user_count` only with a `presence-` prefix
/// filter, no `cache`.
pub fn check_channels_query(
    filter_by_prefix: Option<&str>,
    info: &[InfoAttribute],
) -> Result<(), ApiError> {
    if info.contains(&InfoAttribute::Cache) {
        return Err(ApiError::bad("info=cache is only for GET channels/{name}"));
    }
    if info.contains(&InfoAttribute::UserCount)
        && !filter_by_prefix.is_some_and(|prefix| prefix.starts_with("presence-"))
    {
        return Err(ApiError::bad(
            "info=user_count needs filter_by_prefix=presence-",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 10 * 1024;

    #[test]
    fn a_trigger_to_several_channels() {
        let body = br#"{"name":"foo","channels":["project-3","news"],"data":"{\"some\":\"data\"}","socket_id":"1.2","info":"subscription_count"}"#;
        let t = Trigger::parse(body, MAX).expect("valid");
        assert_eq!(t.name, "foo");
        assert_eq!(t.data, r#"{"some":"data"}"#);
        assert_eq!(t.channels.len(), 2);
        assert_eq!(t.socket_id, Some(SocketId::new(1, 2)));
        assert_eq!(t.info, [InfoAttribute::SubscriptionCount]);
        let one = Trigger::parse(br#"{"name":"foo","channel":"a","data":""}"#, MAX).expect("valid");
        assert_eq!(one.channels[0].as_str(), "a");
    }

    #[test]
    fn refusals() {
        let status = |body: &str| {
            Trigger::parse(body.as_bytes(), 8)
                .map(|_| ())
                .map_err(|e| e.status)
        };
        assert_eq!(
            status(r#"{"name":"e","channel":"a","data":"123456789"}"#),
            Err(413)
        );
        for body in [
            "not json",
            r#"{"channel":"a","data":""}"#,
            r#"{"name":"","channel":"a","data":""}"#,
            r#"{"name":"e","channel":"a"}"#,
            r#"{"name":"e","channel":"a","data":{"x":1}}"#,
            r#"{"name":"e","data":""}"#,
            r#"{"name":"e","channels":[],"data":""}"#,
            r#"{"name":"e","channel":"a","channels":["b"],"data":""}"#,
            r#"{"name":"e","channel":"bad name","data":""}"#,
            r#"{"name":"e","channels":["a","private-encrypted-b"],"data":""}"#,
            r#"{"name":"e","channel":"a","data":"","socket_id":"x"}"#,
            r#"{"name":"e","channel":"a","data":"","info":"bogus"}"#,
            r#"{"name":"e","channel":"a","data":"","info":"cache"}"#,
        ] {
            assert_eq!(status(body), Err(400), "{body}");
        }
        let many: Vec<String> = (0..=MAX_TRIGGER_CHANNELS)
            .map(|i| format!("c{i}"))
            .collect();
        let body = serde_json::json!({"name": "e", "channels": many, "data": ""}).to_string();
        assert_eq!(status(&body), Err(400));
        let long = serde_json::json!({"name": "e".repeat(MAX_EVENT_NAME_LEN + 1), "channel": "a", "data": ""});
        assert_eq!(status(&long.to_string()), Err(400));
    }

    #[test]
    fn batches() {
        let body = br#"{"batch":[{"channel":"a","name":"x","data":"1"},{"channel":"b","name":"y","data":"2","socket_id":"3.4"}]}"#;
        let batch = Trigger::parse_batch(body, MAX).expect("valid");
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[1].socket_id, Some(SocketId::new(3, 4)));
        let events: Vec<_> = (0..=MAX_BATCH_EVENTS)
            .map(|_| serde_json::json!({"channel": "a", "name": "x", "data": ""}))
            .collect();
        let body = serde_json::json!({ "batch": events }).to_string();
        assert_eq!(
            Trigger::parse_batch(body.as_bytes(), MAX).map_err(|e| e.status),
            Err(400)
        );
        assert!(Trigger::parse_batch(br#"{}"#, MAX).is_err());
        assert!(
            Trigger::parse_batch(
                br#"{"batch":[{"channels":["a"],"name":"x","data":""}]}"#,
                MAX
            )
            .is_err()
        );
    }

    #[test]
    fn info_attributes() {
        assert_eq!(parse_info(""), Ok(vec![]));
        assert_eq!(
            parse_info("user_count, subscription_count,user_count"),
            Ok(vec![
                InfoAttribute::UserCount,
                InfoAttribute::SubscriptionCount
            ])
        );
        assert!(parse_info("occupied").is_err());

        let presence = Channel::parse("presence-a").expect("valid");
        let public = Channel::parse("a").expect("valid");
        let cache = Channel::parse("cache-a").expect("valid");
        assert!(check_info_applies(&presence, &[InfoAttribute::UserCount]).is_ok());
        assert!(check_info_applies(&public, &[InfoAttribute::UserCount]).is_err());
        assert!(check_info_applies(&public, &[InfoAttribute::SubscriptionCount]).is_ok());
        assert!(check_info_applies(&cache, &[InfoAttribute::Cache]).is_ok());
        assert!(check_info_applies(&public, &[InfoAttribute::Cache]).is_err());

        assert!(check_channels_query(Some("presence-"), &[InfoAttribute::UserCount]).is_ok());
        assert!(check_channels_query(None, &[InfoAttribute::UserCount]).is_err());
        assert!(check_channels_query(Some("private-"), &[InfoAttribute::UserCount]).is_err());
        assert!(check_channels_query(None, &[InfoAttribute::Cache]).is_err());
        assert!(check_channels_query(None, &[]).is_ok());
    }
}
