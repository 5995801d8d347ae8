//! The JSON of a batch: `{"events":[{"id","type","time","node", ...fields of the type}]}`.

use base64::Engine as _;
use herald_hub::{LifecycleEvent, LifecycleKind};
use serde::Serialize;
use serde_json::value::RawValue;

/// The body of a POST carrying `events`, in order.
pub fn encode_batch<E: std::borrow::Borrow<LifecycleEvent>>(events: &[E]) -> Vec<u8> {
    let batch = Batch {
        events: events.iter().map(|e| Wire::from(e.borrow())).collect(),
    };
    // Plain data with string keys: serializing cannot fail.
    serde_json::to_vec(&batch).unwrap_or_default()
}

#[derive(Serialize)]
struct Batch<'a> {
    events: Vec<Wire<'a>>,
}

#[derive(Serialize)]
struct Wire<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    time: i64,
    node: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    period: Option<u64>,
    /// Connection info as JSON, when it is JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<&'a RawValue>,
    /// Connection info that is not JSON (Protobuf clients may send binary), base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    b64info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chan_info: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    b64chan_info: Option<String>,
}

impl<'a> From<&'a LifecycleEvent> for Wire<'a> {
    fn from(event: &'a LifecycleEvent) -> Self {
        let mut wire = Wire {
            id: &event.id,
            kind: event.kind.name(),
            time: event.time,
            node: &event.node,
            channel: None,
            client: None,
            user: None,
            code: None,
            reason: None,
            period: None,
            info: None,
            b64info: None,
            chan_info: None,
            b64chan_info: None,
        };
        match &event.kind {
            LifecycleKind::Connect { client, user } => {
                wire.client = Some(client);
                wire.user = Some(user);
            }
            LifecycleKind::Disconnect {
                client,
                user,
                code,
                reason,
            } => {
                wire.client = Some(client);
                wire.user = Some(user);
                wire.code = Some(*code);
                wire.reason = Some(reason);
            }
            LifecycleKind::ChannelOccupied { channel, period }
            | LifecycleKind::ChannelVacated { channel, period } => {
                wire.channel = Some(channel);
                wire.period = Some(*period);
            }
            LifecycleKind::PresenceJoin {
                channel,
                client,
                user,
                info,
                chan_info,
            } => {
                wire.channel = Some(channel);
                wire.client = Some(client);
                wire.user = Some(user);
                (wire.info, wire.b64info) = json_or_base64(info);
                (wire.chan_info, wire.b64chan_info) = json_or_base64(chan_info);
            }
            LifecycleKind::PresenceLeave {
                channel,
                client,
                user,
            } => {
                wire.channel = Some(channel);
                wire.client = Some(client);
                wire.user = Some(user);
            }
        }
        wire
    }
}

/// Raw JSON when `bytes` is JSON, else base64 when not empty.
fn json_or_base64(bytes: &[u8]) -> (Option<&RawValue>, Option<String>) {
    if bytes.is_empty() {
        return (None, None);
    }
    match serde_json::from_slice::<&RawValue>(bytes) {
        Ok(raw) => (Some(raw), None),
        Err(_) => (
            None,
            Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use serde_json::{Value, json};

    fn event(kind: LifecycleKind) -> LifecycleEvent {
        LifecycleEvent {
            id: "e1".into(),
            time: 1_700_000_000_000,
            node: "n1".into(),
            kind,
        }
    }

    #[test]
    fn batches_carry_every_field_of_each_type() {
        let events = [
            event(LifecycleKind::Connect {
                client: "c".into(),
                user: "u".into(),
            }),
            event(LifecycleKind::ChannelOccupied {
                channel: "chat".into(),
                period: 7,
            }),
            event(LifecycleKind::PresenceJoin {
                channel: "chat".into(),
                client: "c".into(),
                user: "u".into(),
                info: Bytes::from_static(br#"{"name":"Ann"}"#),
                chan_info: Bytes::from_static(b"\x00bin"),
            }),
            event(LifecycleKind::PresenceLeave {
                channel: "chat".into(),
                client: "c".into(),
                user: "u".into(),
            }),
            event(LifecycleKind::ChannelVacated {
                channel: "chat".into(),
                period: 7,
            }),
            event(LifecycleKind::Disconnect {
                client: "c".into(),
                user: "u".into(),
                code: 3000,
                reason: "connection closed".into(),
            }),
        ];
        let body: Value = serde_json::from_slice(&encode_batch(&events)).expect("json");
        let head = json!({"id": "e1", "time": 1_700_000_000_000_i64, "node": "n1"});
        let with = |extra: Value| {
            let mut object = head.clone();
            object
                .as_object_mut()
                .expect("object")
                .extend(extra.as_object().expect("object").clone());
            object
        };
        assert_eq!(
            body,
            json!({"events": [
                with(json!({"type": "connect", "client": "c", "user": "u"})),
                with(json!({"type": "channel_occupied", "channel": "chat", "period": 7})),
                with(json!({"type": "presence_join", "channel": "chat", "client": "c", "user": "u",
                    "info": {"name": "Ann"}, "b64chan_info": "AGJpbg=="})),
                with(json!({"type": "presence_leave", "channel": "chat", "client": "c", "user": "u"})),
                with(json!({"type": "channel_vacated", "channel": "chat", "period": 7})),
                with(json!({"type": "disconnect", "client": "c", "user": "u", "code": 3000,
                    "reason": "connection closed"})),
            ]})
        );
    }

    #[test]
    fn an_empty_batch_is_an_empty_list() {
        let none: [LifecycleEvent; 0] = [];
        assert_eq!(encode_batch(&none), br#"{"events":[]}"#);
    }
}
