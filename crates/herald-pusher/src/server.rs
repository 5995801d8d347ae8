//! Messages from the server, each encoded to the JSON text of one frame. A channel event is
//! encoded once and the same `String` (shared by the caller) goes to every subscriber.
//!
//! `data` is a JSON-encoded string everywhere except in `pusher:error`, `pusher:signin_success`
//! and `pusher:subscription_error`, where it is an object (pusher-js reads both, and the other
//! servers write these so), and in client events, which carry the sender's `data` untouched.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::{Channel, SocketId};

/// `pusher:connection_established`: the connection's id and the seconds of silence after
/// which the client pings (pusher-js refuses a connection without one).
pub fn connection_established(socket_id: &SocketId, activity_timeout_secs: u32) -> String {
    #[derive(Serialize)]
    struct Data<'a> {
        socket_id: &'a str,
        activity_timeout: u32,
    }
    let data = json(&Data {
        socket_id: &socket_id.to_string(),
        activity_timeout: activity_timeout_secs,
    });
    frame("pusher:connection_established", None, Some(data.as_str()))
}

/// `pusher:error` with an optional close code and a message.
pub fn error(code: Option<u16>, message: &str) -> String {
    #[derive(Serialize)]
    struct Payload<'a> {
        code: Option<u16>,
        message: &'a str,
    }
    frame("pusher:error", None, Some(Payload { code, message }))
}

/// `pusher:ping`.
pub fn ping() -> String {
    frame("pusher:ping", None, Some(Empty {}))
}

/// `pusher:pong`, the answer to a client's ping.
pub fn pong() -> String {
    frame("pusher:pong", None, Some(Empty {}))
}

/// `pusher_internal:subscription_succeeded` on a channel that is not a presence channel.
pub fn subscription_succeeded(channel: &Channel) -> String {
    frame(
        "pusher_internal:subscription_succeeded",
        Some(channel),
        Some("{}"),
    )
}

/// `pusher_internal:subscription_succeeded` on a presence channel: every member once, by
/// user id, with its `user_info` (`null` when it has none).
pub fn presence_subscription_succeeded<'a>(
    channel: &Channel,
    members: impl IntoIterator<Item = (&'a str, Option<&'a RawValue>)>,
) -> String {
    let mut ids = Vec::new();
    let mut hash = serde_json::Map::new();
    for (id, info) in members {
        if hash.contains_key(id) {
            continue;
        }
        let info = info
            .and_then(|info| serde_json::from_str(info.get()).ok())
            .unwrap_or(serde_json::Value::Null);
        ids.push(id);
        hash.insert(id.to_owned(), info);
    }
    #[derive(Serialize)]
    struct Presence<'a> {
        ids: &'a [&'a str],
        hash: &'a serde_json::Map<String, serde_json::Value>,
        count: usize,
    }
    #[derive(Serialize)]
    struct Payload<'a> {
        presence: Presence<'a>,
    }
    let data = json(&Payload {
        presence: Presence {
            ids: &ids,
            hash: &hash,
            count: ids.len(),
        },
    });
    frame(
        "pusher_internal:subscription_succeeded",
        Some(channel),
        Some(data.as_str()),
    )
}

/// `pusher:subscription_error`: the subscription was refused (`kind`: `AuthError`,
/// `LimitReached`, ...; `status` the HTTP-like status pusher-js shows).
pub fn subscription_error(channel: &Channel, kind: &str, message: &str, status: u16) -> String {
    #[derive(Serialize)]
    struct Payload<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        error: &'a str,
        status: u16,
    }
    frame(
        "pusher:subscription_error",
        Some(channel),
        Some(Payload {
            kind,
            error: message,
            status,
        }),
    )
}

/// `pusher_internal:member_added`.
pub fn member_added(channel: &Channel, user_id: &str, user_info: Option<&RawValue>) -> String {
    #[derive(Serialize)]
    struct Payload<'a> {
        user_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        user_info: Option<&'a RawValue>,
    }
    let data = json(&Payload { user_id, user_info });
    frame(
        "pusher_internal:member_added",
        Some(channel),
        Some(data.as_str()),
    )
}

/// `pusher_internal:member_removed`.
pub fn member_removed(channel: &Channel, user_id: &str) -> String {
    #[derive(Serialize)]
    struct Payload<'a> {
        user_id: &'a str,
    }
    let data = json(&Payload { user_id });
    frame(
        "pusher_internal:member_removed",
        Some(channel),
        Some(data.as_str()),
    )
}

/// `pusher:signin_success` with the `user_data` that was signed.
pub fn signin_success(user_data: &str) -> String {
    #[derive(Serialize)]
    struct Payload<'a> {
        user_data: &'a str,
    }
    frame("pusher:signin_success", None, Some(Payload { user_data }))
}

/// `pusher:cache_miss`: a cache channel had no event to replay.
pub fn cache_miss(channel: &Channel) -> String {
    frame("pusher:cache_miss", Some(channel), None::<()>)
}

/// `pusher_internal:subscription_count`.
pub fn subscription_count(channel: &Channel, count: u64) -> String {
    #[derive(Serialize)]
    struct Payload {
        subscription_count: u64,
    }
    let data = json(&Payload {
        subscription_count: count,
    });
    frame(
        "pusher_internal:subscription_count",
        Some(channel),
        Some(data.as_str()),
    )
}

/// An event on a channel: one triggered through the HTTP API (its `data` is a string, so
/// `data` here is that string JSON-encoded) or a client event (the sender's `data` as it came),
/// with the sender's `user_id` on presence channels.
pub fn channel_event(
    channel: &Channel,
    event: &str,
    data: &RawValue,
    user_id: Option<&str>,
) -> String {
    #[derive(Serialize)]
    struct Event<'a> {
        event: &'a str,
        channel: &'a str,
        data: &'a RawValue,
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<&'a str>,
    }
    json(&Event {
        event,
        channel: channel.as_str(),
        data,
        user_id,
    })
}

#[derive(Serialize)]
struct Empty {}

/// One frame: `data` is written as it serializes, so a `&str` becomes a JSON string (what
/// Pusher calls JSON-encoded data) and a struct an object.
fn frame<D: Serialize>(event: &str, channel: Option<&Channel>, data: Option<D>) -> String {
    #[derive(Serialize)]
    struct Frame<'a, D> {
        event: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        channel: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<D>,
    }
    json(&Frame {
        event,
        channel: channel.map(Channel::as_str),
        data,
    })
}

fn json<T: Serialize + ?Sized>(value: &T) -> String {
    // Only strings, numbers, maps and raw JSON that was valid are serialized: cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| unreachable!("serializing plain data"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(name: &str) -> Channel {
        Channel::parse(name).expect("valid")
    }

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).expect("valid JSON")
    }

    #[test]
    fn connection_established_data_is_a_string() {
        assert_eq!(
            connection_established(&SocketId::new(123, 456), 120),
            r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"123.456\",\"activity_timeout\":120}"}"#
        );
    }

    #[test]
    fn errors_carry_an_object() {
        assert_eq!(
            error(Some(4001), "App key x not in this cluster"),
            r#"{"event":"pusher:error","data":{"code":4001,"message":"App key x not in this cluster"}}"#
        );
        assert_eq!(
            error(None, "m"),
            r#"{"event":"pusher:error","data":{"code":null,"message":"m"}}"#
        );
    }

    #[test]
    fn pings_and_subscriptions() {
        assert_eq!(pong(), r#"{"event":"pusher:pong","data":{}}"#);
        assert_eq!(ping(), r#"{"event":"pusher:ping","data":{}}"#);
        assert_eq!(
            subscription_succeeded(&channel("news")),
            r#"{"event":"pusher_internal:subscription_succeeded","channel":"news","data":"{}"}"#
        );
        assert_eq!(
            cache_miss(&channel("cache-a")),
            r#"{"event":"pusher:cache_miss","channel":"cache-a"}"#
        );
        assert_eq!(
            subscription_count(&channel("a"), 3),
            r#"{"event":"pusher_internal:subscription_count","channel":"a","data":"{\"subscription_count\":3}"}"#
        );
        assert_eq!(
            subscription_error(&channel("private-a"), "AuthError", "Invalid signature", 401),
            r#"{"event":"pusher:subscription_error","channel":"private-a","data":{"type":"AuthError","error":"Invalid signature","status":401}}"#
        );
        assert_eq!(
            signin_success(r#"{"id":"1"}"#),
            r#"{"event":"pusher:signin_success","data":{"user_data":"{\"id\":\"1\"}"}}"#
        );
    }

    #[test]
    fn presence() {
        let info = raw(r#"{"name":"A"}"#);
        let text = presence_subscription_succeeded(
            &channel("presence-r"),
            [("1", Some(&*info)), ("2", None), ("1", Some(&*info))],
        );
        let frame: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(frame["event"], "pusher_internal:subscription_succeeded");
        let data: serde_json::Value =
            serde_json::from_str(frame["data"].as_str().expect("a string")).expect("JSON");
        assert_eq!(
            data,
            serde_json::json!({"presence": {"ids": ["1", "2"], "hash": {"1": {"name": "A"}, "2": null}, "count": 2}})
        );
        assert_eq!(
            member_added(&channel("presence-r"), "1", Some(&info)),
            r#"{"event":"pusher_internal:member_added","channel":"presence-r","data":"{\"user_id\":\"1\",\"user_info\":{\"name\":\"A\"}}"}"#
        );
        assert_eq!(
            member_removed(&channel("presence-r"), "1"),
            r#"{"event":"pusher_internal:member_removed","channel":"presence-r","data":"{\"user_id\":\"1\"}"}"#
        );
    }

    #[test]
    fn channel_events() {
        // From the API: data is a string.
        let data = raw(&serde_json::to_string(r#"{"some":"data"}"#).expect("a string"));
        assert_eq!(
            channel_event(&channel("news"), "foo", &data, None),
            r#"{"event":"foo","channel":"news","data":"{\"some\":\"data\"}"}"#
        );
        // A client event on a presence channel: the sender's data untouched, and its user.
        let data = raw(r#"{"typing": true}"#);
        assert_eq!(
            channel_event(&channel("presence-r"), "client-typing", &data, Some("u1")),
            r#"{"event":"client-typing","channel":"presence-r","data":{"typing": true},"user_id":"u1"}"#
        );
    }
}
