//! Request bodies, shaped as Centrifugo's `api.proto` messages in JSON.
//!
//! Decoding follows Go's `encoding/json` where callers can notice: unknown fields are ignored,
//! missing fields take their zero value, and an explicit `null` does too (backends that send
//! `"client": null` keep working). Payload fields (`data`, `info`) are kept as raw JSON bytes
//! (empty when absent), which is also what the gRPC API's `bytes` fields carry: both
//! front-ends build these structs and share everything after (`crate::grpc` converts).

use std::collections::HashMap;

use bytes::Bytes;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// `/publish`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PublishRequest {
    #[serde(deserialize_with = "nullable")]
    pub(crate) channel: String,
    #[serde(deserialize_with = "raw")]
    pub(crate) data: Bytes,
    #[serde(deserialize_with = "nullable")]
    pub(crate) b64data: String,
    #[serde(deserialize_with = "nullable")]
    pub(crate) skip_history: bool,
    #[serde(deserialize_with = "nullable")]
    pub(crate) tags: HashMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    pub(crate) idempotency_key: String,
    /// Send as a fossil delta to subscribers that negotiated delta compression.
    #[serde(deserialize_with = "nullable")]
    pub(crate) delta: bool,
    /// Publication version (Centrifugo 6.2), 0 for none: with history on, a publication not
    /// newer than the channel's last versioned one is dropped.
    #[serde(deserialize_with = "nullable")]
    pub(crate) version: u64,
    /// Generation of `version`: a different one always passes, empty compares with any.
    #[serde(deserialize_with = "nullable")]
    pub(crate) version_epoch: String,
}

/// `/broadcast`: the fields of `/publish`, with a list of channels.
// Not `#[serde(flatten)]` of a shared struct: flattening buffers the input, and a buffered
// value can no longer be borrowed as a `RawValue`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct BroadcastRequest {
    #[serde(deserialize_with = "nullable")]
    pub(crate) channels: Vec<String>,
    #[serde(deserialize_with = "raw")]
    pub(crate) data: Bytes,
    #[serde(deserialize_with = "nullable")]
    pub(crate) b64data: String,
    #[serde(deserialize_with = "nullable")]
    pub(crate) skip_history: bool,
    #[serde(deserialize_with = "nullable")]
    pub(crate) tags: HashMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    pub(crate) idempotency_key: String,
    /// Send as a fossil delta to subscribers that negotiated delta compression.
    #[serde(deserialize_with = "nullable")]
    pub(crate) delta: bool,
    /// Publication version (Centrifugo 6.2), 0 for none: with history on, a publication not
    /// newer than the channel's last versioned one is dropped.
    #[serde(deserialize_with = "nullable")]
    pub(crate) version: u64,
    /// Generation of `version`: a different one always passes, empty compares with any.
    #[serde(deserialize_with = "nullable")]
    pub(crate) version_epoch: String,
}

/// `/subscribe`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SubscribeRequest {
    #[serde(deserialize_with = "nullable")]
    pub(crate) user: String,
    #[serde(deserialize_with = "nullable")]
    pub(crate) channel: String,
    #[serde(deserialize_with = "nullable")]
    pub(crate) client: String,
    /// Accepted for compatibility; the hub addresses connections by user and client only.
    #[serde(deserialize_with = "nullable")]
    pub(crate) session: String,
    #[serde(deserialize_with = "raw")]
    pub(crate) info: Bytes,
    #[serde(deserialize_with = "nullable")]
    pub(crate) b64info: String,
    #[serde(deserialize_with = "raw")]
    pub(crate) data: Bytes,
    #[serde(deserialize_with = "nullable")]
    pub(crate) b64data: String,
    /// Unix seconds; 0 is no expiry.
    #[serde(deserialize_with = "nullable")]
    pub(crate) expire_at: i64,
    /// Accepted for compatibility; the hub's server-side subscribe does not recover yet.
    pub(crate) recover_since: Option<StreamPosition>,
    #[serde(rename = "override")]
    pub(crate) overrides: Option<SubscribeOverride>,
}

/// `override` of `/subscribe`: each set value replaces the namespace option.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SubscribeOverride {
    pub(crate) presence: Option<BoolValue>,
    pub(crate) join_leave: Option<BoolValue>,
    pub(crate) force_push_join_leave: Option<BoolValue>,
    pub(crate) force_positioning: Option<BoolValue>,
    pub(crate) force_recovery: Option<BoolValue>,
}

/// `{"value": bool}`.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(default)]
pub(crate) struct BoolValue {
    #[serde(deserialize_with = "nullable")]
    pub(crate) value: bool,
}

/// `/unsubscribe`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct UnsubscribeRequest {
    #[serde(deserialize_with = "nullable")]
    pub(crate) user: String,
    #[serde(deserialize_with = "nullable")]
    pub(crate) channel: String,
    #[serde(deserialize_with = "nullable")]
    pub(crate) client: String,
    /// See [`SubscribeRequest::session`].
    #[serde(deserialize_with = "nullable")]
    pub(crate) session: String,
}

/// `/disconnect`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct DisconnectRequest {
    #[serde(deserialize_with = "nullable")]
    pub(crate) user: String,
    #[serde(deserialize_with = "nullable")]
    pub(crate) client: String,
    /// See [`SubscribeRequest::session`].
    #[serde(deserialize_with = "nullable")]
    pub(crate) session: String,
    #[serde(deserialize_with = "nullable")]
    pub(crate) whitelist: Vec<String>,
    pub(crate) disconnect: Option<DisconnectReason>,
}

/// `disconnect` of `/disconnect`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct DisconnectReason {
    #[serde(deserialize_with = "nullable")]
    pub(crate) code: u32,
    #[serde(deserialize_with = "nullable")]
    pub(crate) reason: String,
}

/// `/refresh`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RefreshRequest {
    #[serde(deserialize_with = "nullable")]
    pub(crate) user: String,
    #[serde(deserialize_with = "nullable")]
    pub(crate) client: String,
    /// See [`SubscribeRequest::session`].
    #[serde(deserialize_with = "nullable")]
    pub(crate) session: String,
    #[serde(deserialize_with = "nullable")]
    pub(crate) expired: bool,
    /// Unix seconds; 0 is no expiry.
    #[serde(deserialize_with = "nullable")]
    pub(crate) expire_at: i64,
    #[serde(deserialize_with = "raw")]
    pub(crate) info: Bytes,
}

/// `/presence`, `/presence_stats` and `/history_remove`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ChannelRequest {
    #[serde(deserialize_with = "nullable")]
    pub(crate) channel: String,
}

/// `/history`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct HistoryRequest {
    #[serde(deserialize_with = "nullable")]
    pub(crate) channel: String,
    /// 0: position only; negative: everything.
    #[serde(deserialize_with = "nullable")]
    pub(crate) limit: i32,
    pub(crate) since: Option<StreamPosition>,
    #[serde(deserialize_with = "nullable")]
    pub(crate) reverse: bool,
}

/// `{"offset": u64, "epoch": string}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct StreamPosition {
    #[serde(deserialize_with = "nullable")]
    pub(crate) offset: u64,
    #[serde(deserialize_with = "nullable")]
    pub(crate) epoch: String,
}

/// `/channels`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ChannelsRequest {
    /// Glob (gobwas/glob syntax); empty matches every channel.
    #[serde(deserialize_with = "nullable")]
    pub(crate) pattern: String,
}

/// `/connections` (a Centrifugo PRO method): `user` and `expression` as in Centrifugo, plus
/// Herald's paging, `limit` and `cursor`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ConnectionsRequest {
    /// Only this user's connections; empty for everybody's.
    #[serde(deserialize_with = "nullable")]
    pub(crate) user: String,
    /// Centrifugo PRO's CEL filter; Herald has no CEL, so a non-empty one is 107.
    #[serde(deserialize_with = "nullable")]
    pub(crate) expression: String,
    /// Page size: 0 (the default) or more than 1000 mean 1000.
    #[serde(deserialize_with = "nullable")]
    pub(crate) limit: u32,
    /// `next_cursor` of the previous page; empty for the first.
    #[serde(deserialize_with = "nullable")]
    pub(crate) cursor: String,
}

/// `/info`: no fields.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct InfoRequest {}

/// `/rpc`: server-side RPC extensions.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RpcRequest {
    #[serde(deserialize_with = "nullable")]
    pub(crate) method: String,
}

/// `/batch`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct BatchRequest {
    /// A `null` element is answered with 107 at its index.
    #[serde(deserialize_with = "nullable")]
    pub(crate) commands: Vec<Option<BatchCommand>>,
    /// Run the commands concurrently (replies stay in order).
    #[serde(deserialize_with = "nullable")]
    pub(crate) parallel: bool,
}

/// One command of a batch: the first set field, in [`BatchCommand::into_command`]'s order,
/// is the method. `null` counts as unset, as in Go.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct BatchCommand {
    pub(crate) publish: Option<PublishRequest>,
    pub(crate) broadcast: Option<BroadcastRequest>,
    pub(crate) subscribe: Option<SubscribeRequest>,
    pub(crate) unsubscribe: Option<UnsubscribeRequest>,
    pub(crate) disconnect: Option<DisconnectRequest>,
    pub(crate) history: Option<HistoryRequest>,
    pub(crate) history_remove: Option<ChannelRequest>,
    pub(crate) presence: Option<ChannelRequest>,
    pub(crate) presence_stats: Option<ChannelRequest>,
    pub(crate) info: Option<InfoRequest>,
    pub(crate) rpc: Option<RpcRequest>,
    pub(crate) refresh: Option<RefreshRequest>,
    pub(crate) channels: Option<ChannelsRequest>,
    pub(crate) connections: Option<ConnectionsRequest>,
}

/// Decodes a request body, which must be a JSON object. A body of `null` is the empty request,
/// as for Go's `json.Unmarshal`; an array is refused as Go refuses it (serde alone would read
/// it as the struct's fields in order).
pub(crate) fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, serde_json::Error> {
    let trimmed = body.trim_ascii();
    if trimmed == b"null" {
        return serde_json::from_slice(b"{}");
    }
    if trimmed.starts_with(b"[") {
        return Err(serde::de::Error::custom(
            "a request body must be a JSON object",
        ));
    }
    serde_json::from_slice(body)
}

/// A field whose `null` means its zero value.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A raw JSON payload field, byte for byte but without raw `\n` bytes: in valid JSON they can
/// only be whitespace, and JSON clients split frames on `\n`. A literal `null` is kept as the
/// payload `null` (Centrifugo's `Raw` type does the same); an absent field stays empty.
fn raw<'de, D>(deserializer: D) -> Result<Bytes, D::Error>
where
    D: Deserializer<'de>,
{
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    let json = raw.get().as_bytes();
    Ok(if json.contains(&b'\n') {
        json.iter()
            .copied()
            .filter(|&b| b != b'\n')
            .collect::<Vec<u8>>()
            .into()
    } else {
        Bytes::copy_from_slice(json)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_keeps_raw_data_and_ignores_unknown_fields() {
        let body = br#"{"channel":"a","data":{"z":1, "a":[true]},"unknown":5,"tags":{"k":"v"}}"#;
        let req: PublishRequest = decode(body).expect("decodes");
        assert_eq!(req.channel, "a");
        assert_eq!(&req.data[..], br#"{"z":1, "a":[true]}"#);
        assert_eq!(req.tags.get("k").map(String::as_str), Some("v"));
    }

    #[test]
    fn nulls_are_zero_values_but_null_data_is_a_payload() {
        let body = br#"{"channel":null,"data":null,"tags":null,"skip_history":null}"#;
        let req: PublishRequest = decode(body).expect("decodes");
        assert_eq!(req.channel, "");
        assert_eq!(&req.data[..], b"null");
        assert!(req.tags.is_empty());
        let req: PublishRequest = decode(b"{}").expect("decodes");
        assert!(req.data.is_empty());
    }

    #[test]
    fn null_and_empty_bodies() {
        assert!(decode::<InfoRequest>(b"null").is_ok());
        assert!(decode::<InfoRequest>(b" {} ").is_ok());
        assert!(decode::<InfoRequest>(b"").is_err());
        assert!(decode::<InfoRequest>(b"{} x").is_err());
        assert!(decode::<ChannelRequest>(br#"{"channel":5}"#).is_err());
        assert!(decode::<ChannelRequest>(br#"["a"]"#).is_err());
        assert!(decode::<ChannelRequest>(b" []").is_err());
    }

    #[test]
    fn batch_commands() {
        let body = br#"{"commands":[{"publish":{"channel":"a","data":1}},null,{"nope":{}},{"info":{}}],"parallel":true}"#;
        let req: BatchRequest = decode(body).expect("decodes");
        assert!(req.parallel);
        assert_eq!(req.commands.len(), 4);
        assert!(
            req.commands[0]
                .as_ref()
                .is_some_and(|c| c.publish.is_some())
        );
        assert!(req.commands[1].is_none());
        assert!(
            req.commands[2]
                .as_ref()
                .is_some_and(|c| c.publish.is_none() && c.info.is_none())
        );
        assert!(req.commands[3].as_ref().is_some_and(|c| c.info.is_some()));
    }

    #[test]
    fn subscribe_override() {
        let body =
            br#"{"user":"u","channel":"c","override":{"presence":{"value":true},"join_leave":{}}}"#;
        let req: SubscribeRequest = decode(body).expect("decodes");
        let overrides = req.overrides.expect("override");
        assert!(overrides.presence.is_some_and(|v| v.value));
        assert!(overrides.join_leave.is_some_and(|v| !v.value));
        assert!(overrides.force_recovery.is_none());
    }
}
