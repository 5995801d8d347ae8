//! The HTTP proxy's JSON: Centrifugo marshals the `proxy.proto` messages with Go's
//! `encoding/json`, with `bytes` fields as raw JSON (`data`, `info`, `meta`) and every field
//! left out when empty, except `user`, which every request but connect carries even when
//! empty. Answers are read the same way: unknown fields ignored, `null` read as absent.

use std::collections::HashMap;

use herald_grpc::proxy as pb;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use super::Answer;

/// A request body: the union of the six requests' fields.
#[derive(Debug, Default, Serialize)]
pub(super) struct Request<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    client: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    transport: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    protocol: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    encoding: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    channel: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    method: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "str::is_empty")]
    b64data: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    channels: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<&'a RawValue>,
}

/// Serializes a request. `data` and `meta` are JSON here (`request.rs` chose `b64data` for
/// payloads that are not); anything that still does not parse is left out rather than sent
/// as invalid JSON.
pub(super) fn encode(request: &Request<'_>) -> Vec<u8> {
    serde_json::to_vec(request).expect("a struct of strings and raw JSON serializes")
}

/// Raw JSON of a `bytes` field, `None` when empty or not JSON.
fn raw(bytes: &[u8]) -> Option<&RawValue> {
    if bytes.is_empty() {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

impl<'a> Request<'a> {
    pub(super) fn connect(r: &'a pb::ConnectRequest) -> Self {
        Self {
            client: &r.client,
            transport: &r.transport,
            protocol: &r.protocol,
            encoding: &r.encoding,
            data: raw(&r.data),
            b64data: &r.b64data,
            name: &r.name,
            version: &r.version,
            channels: &r.channels,
            ..Self::default()
        }
    }

    pub(super) fn refresh(r: &'a pb::RefreshRequest) -> Self {
        Self {
            client: &r.client,
            transport: &r.transport,
            protocol: &r.protocol,
            encoding: &r.encoding,
            user: Some(&r.user),
            meta: raw(&r.meta),
            ..Self::default()
        }
    }

    pub(super) fn subscribe(r: &'a pb::SubscribeRequest) -> Self {
        Self {
            client: &r.client,
            transport: &r.transport,
            protocol: &r.protocol,
            encoding: &r.encoding,
            user: Some(&r.user),
            channel: &r.channel,
            token: &r.token,
            data: raw(&r.data),
            b64data: &r.b64data,
            meta: raw(&r.meta),
            ..Self::default()
        }
    }

    pub(super) fn publish(r: &'a pb::PublishRequest) -> Self {
        Self {
            client: &r.client,
            transport: &r.transport,
            protocol: &r.protocol,
            encoding: &r.encoding,
            user: Some(&r.user),
            channel: &r.channel,
            data: raw(&r.data),
            b64data: &r.b64data,
            meta: raw(&r.meta),
            ..Self::default()
        }
    }

    pub(super) fn sub_refresh(r: &'a pb::SubRefreshRequest) -> Self {
        Self {
            client: &r.client,
            transport: &r.transport,
            protocol: &r.protocol,
            encoding: &r.encoding,
            user: Some(&r.user),
            channel: &r.channel,
            meta: raw(&r.meta),
            ..Self::default()
        }
    }

    pub(super) fn rpc(r: &'a pb::RpcRequest) -> Self {
        Self {
            client: &r.client,
            transport: &r.transport,
            protocol: &r.protocol,
            encoding: &r.encoding,
            user: Some(&r.user),
            method: &r.method,
            data: raw(&r.data),
            b64data: &r.b64data,
            meta: raw(&r.meta),
            ..Self::default()
        }
    }
}

/// Whether `bytes` is one JSON value (what may travel in `data` as it is).
pub(super) fn is_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<&RawValue>(bytes).is_ok()
}

/// A response body: `{"result":{...}}`, `{"error":{...}}` or `{"disconnect":{...}}`.
#[derive(Debug, Deserialize)]
#[serde(default, bound(deserialize = "R: Deserialize<'de> + Default"))]
pub(super) struct Response<R> {
    #[serde(deserialize_with = "nullable")]
    result: Option<R>,
    #[serde(deserialize_with = "nullable")]
    error: Option<Error>,
    #[serde(deserialize_with = "nullable")]
    disconnect: Option<Disconnect>,
}

impl<R> Default for Response<R> {
    fn default() -> Self {
        Self {
            result: None,
            error: None,
            disconnect: None,
        }
    }
}

impl<R> Response<R> {
    /// The answer, with the result converted to its `proxy.proto` form.
    pub(super) fn into_answer<P>(self) -> Answer<P>
    where
        R: Into<P>,
    {
        if let Some(d) = self.disconnect {
            Answer::Disconnect(pb::Disconnect {
                code: d.code,
                reason: d.reason,
            })
        } else if let Some(e) = self.error {
            Answer::Error(pb::Error {
                code: e.code,
                message: e.message,
                temporary: e.temporary,
            })
        } else {
            Answer::Result(self.result.map(Into::into))
        }
    }
}

/// `null` reads as the default, as Go leaves a field untouched for it.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Raw JSON of a `bytes` field as the bytes it stands for.
fn bytes(value: Option<Box<RawValue>>) -> Vec<u8> {
    value
        .map(|v| v.get().as_bytes().to_vec())
        .unwrap_or_default()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Error {
    #[serde(deserialize_with = "nullable")]
    code: u32,
    #[serde(deserialize_with = "nullable")]
    message: String,
    #[serde(deserialize_with = "nullable")]
    temporary: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Disconnect {
    #[serde(deserialize_with = "nullable")]
    code: u32,
    #[serde(deserialize_with = "nullable")]
    reason: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ConnectResult {
    #[serde(deserialize_with = "nullable")]
    user: String,
    #[serde(deserialize_with = "nullable")]
    expire_at: i64,
    info: Option<Box<RawValue>>,
    #[serde(deserialize_with = "nullable")]
    b64info: String,
    data: Option<Box<RawValue>>,
    #[serde(deserialize_with = "nullable")]
    b64data: String,
    #[serde(deserialize_with = "nullable")]
    channels: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    subs: HashMap<String, SubscribeOptions>,
    meta: Option<Box<RawValue>>,
}

impl From<ConnectResult> for pb::ConnectResult {
    fn from(r: ConnectResult) -> Self {
        pb::ConnectResult {
            user: r.user,
            expire_at: r.expire_at,
            info: bytes(r.info),
            b64info: r.b64info,
            data: bytes(r.data),
            b64data: r.b64data,
            channels: r.channels,
            subs: r.subs.into_iter().map(|(k, v)| (k, v.into())).collect(),
            meta: bytes(r.meta),
            ..pb::ConnectResult::default()
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SubscribeOptions {
    #[serde(deserialize_with = "nullable")]
    expire_at: i64,
    info: Option<Box<RawValue>>,
    #[serde(deserialize_with = "nullable")]
    b64info: String,
    data: Option<Box<RawValue>>,
    #[serde(deserialize_with = "nullable")]
    b64data: String,
    #[serde(rename = "override", deserialize_with = "nullable")]
    overrides: Option<Override>,
}

impl From<SubscribeOptions> for pb::SubscribeOptions {
    fn from(o: SubscribeOptions) -> Self {
        pb::SubscribeOptions {
            expire_at: o.expire_at,
            info: bytes(o.info),
            b64info: o.b64info,
            data: bytes(o.data),
            b64data: o.b64data,
            r#override: o.overrides.map(Into::into),
            ..pb::SubscribeOptions::default()
        }
    }
}

/// `{"value": true}` of an override.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct BoolValue {
    #[serde(deserialize_with = "nullable")]
    value: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Override {
    #[serde(deserialize_with = "nullable")]
    presence: Option<BoolValue>,
    #[serde(deserialize_with = "nullable")]
    join_leave: Option<BoolValue>,
    #[serde(deserialize_with = "nullable")]
    force_recovery: Option<BoolValue>,
    #[serde(deserialize_with = "nullable")]
    force_positioning: Option<BoolValue>,
    #[serde(deserialize_with = "nullable")]
    force_push_join_leave: Option<BoolValue>,
}

impl From<Override> for pb::SubscribeOptionOverride {
    fn from(o: Override) -> Self {
        let value = |v: Option<BoolValue>| v.map(|v| pb::BoolValue { value: v.value });
        pb::SubscribeOptionOverride {
            presence: value(o.presence),
            join_leave: value(o.join_leave),
            force_recovery: value(o.force_recovery),
            force_positioning: value(o.force_positioning),
            force_push_join_leave: value(o.force_push_join_leave),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RefreshResult {
    #[serde(deserialize_with = "nullable")]
    expired: bool,
    #[serde(deserialize_with = "nullable")]
    expire_at: i64,
    info: Option<Box<RawValue>>,
    #[serde(deserialize_with = "nullable")]
    b64info: String,
    meta: Option<Box<RawValue>>,
}

impl From<RefreshResult> for pb::RefreshResult {
    fn from(r: RefreshResult) -> Self {
        pb::RefreshResult {
            expired: r.expired,
            expire_at: r.expire_at,
            info: bytes(r.info),
            b64info: r.b64info,
            meta: bytes(r.meta),
            ..pb::RefreshResult::default()
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct SubscribeResult {
    #[serde(deserialize_with = "nullable")]
    expire_at: i64,
    info: Option<Box<RawValue>>,
    #[serde(deserialize_with = "nullable")]
    b64info: String,
    data: Option<Box<RawValue>>,
    #[serde(deserialize_with = "nullable")]
    b64data: String,
    #[serde(rename = "override", deserialize_with = "nullable")]
    overrides: Option<Override>,
}

impl From<SubscribeResult> for pb::SubscribeResult {
    fn from(r: SubscribeResult) -> Self {
        pb::SubscribeResult {
            expire_at: r.expire_at,
            info: bytes(r.info),
            b64info: r.b64info,
            data: bytes(r.data),
            b64data: r.b64data,
            r#override: r.overrides.map(Into::into),
            ..pb::SubscribeResult::default()
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct PublishResult {
    data: Option<Box<RawValue>>,
    #[serde(deserialize_with = "nullable")]
    b64data: String,
    #[serde(deserialize_with = "nullable")]
    skip_history: bool,
}

impl From<PublishResult> for pb::PublishResult {
    fn from(r: PublishResult) -> Self {
        pb::PublishResult {
            data: bytes(r.data),
            b64data: r.b64data,
            skip_history: r.skip_history,
            ..pb::PublishResult::default()
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct SubRefreshResult {
    #[serde(deserialize_with = "nullable")]
    expired: bool,
    #[serde(deserialize_with = "nullable")]
    expire_at: i64,
    info: Option<Box<RawValue>>,
    #[serde(deserialize_with = "nullable")]
    b64info: String,
}

impl From<SubRefreshResult> for pb::SubRefreshResult {
    fn from(r: SubRefreshResult) -> Self {
        pb::SubRefreshResult {
            expired: r.expired,
            expire_at: r.expire_at,
            info: bytes(r.info),
            b64info: r.b64info,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RpcResult {
    data: Option<Box<RawValue>>,
    #[serde(deserialize_with = "nullable")]
    b64data: String,
}

impl From<RpcResult> for pb::RpcResult {
    fn from(r: RpcResult) -> Self {
        pb::RpcResult {
            data: bytes(r.data),
            b64data: r.b64data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<R: for<'de> Deserialize<'de> + Default>(body: &str) -> Response<R> {
        serde_json::from_str(body).expect("parses")
    }

    #[test]
    fn disconnect_wins_over_error_over_result() {
        let both: Response<RpcResult> = parse(
            r#"{"result":{"data":1},"error":{"code":1000,"message":"m"},
                "disconnect":{"code":4000,"reason":"r"}}"#,
        );
        assert!(matches!(
            both.into_answer::<pb::RpcResult>(),
            Answer::Disconnect(pb::Disconnect { code: 4000, .. })
        ));
        let error: Response<RpcResult> =
            parse(r#"{"result":{"data":1},"error":{"code":1000,"temporary":true}}"#);
        assert!(matches!(
            error.into_answer::<pb::RpcResult>(),
            Answer::Error(pb::Error {
                code: 1000,
                temporary: true,
                ..
            })
        ));
    }

    #[test]
    fn nulls_and_unknown_fields_read_as_absent() {
        let r: Response<ConnectResult> = parse(
            r#"{"result":{"user":null,"info":null,"channels":null,"subs":{"a":{"override":null}},
                "caps":[{"channels":["x"]}]},"error":null,"extra":1}"#,
        );
        let Answer::Result(Some(result)) = r.into_answer::<pb::ConnectResult>() else {
            panic!("a result");
        };
        assert_eq!(result.user, "");
        assert!(result.info.is_empty());
        assert!(result.subs["a"].r#override.is_none());
    }

    #[test]
    fn raw_fields_keep_their_text() {
        let r: Response<SubscribeResult> = parse(r#"{"result":{"info":{"b": [1, 2]},"data":"x"}}"#);
        let Answer::Result(Some(result)) = r.into_answer::<pb::SubscribeResult>() else {
            panic!("a result");
        };
        assert_eq!(result.info, br#"{"b": [1, 2]}"#);
        assert_eq!(result.data, br#""x""#);
    }

    #[test]
    fn requests_leave_empty_fields_out_but_keep_user() {
        let request = pb::SubRefreshRequest {
            client: "c".to_owned(),
            transport: "websocket".to_owned(),
            protocol: "json".to_owned(),
            encoding: "json".to_owned(),
            channel: "ch".to_owned(),
            ..pb::SubRefreshRequest::default()
        };
        let body = encode(&Request::sub_refresh(&request));
        assert_eq!(
            std::str::from_utf8(&body).expect("utf-8"),
            r#"{"client":"c","transport":"websocket","protocol":"json","encoding":"json","user":"","channel":"ch"}"#
        );
    }
}
