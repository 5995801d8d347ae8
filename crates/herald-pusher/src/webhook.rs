//! Webhooks in Pusher's format (`server_api/webhooks.md`): a POST of
//! `{"time_ms": ..., "events": [...]}` with `X-Pusher-Key` and `X-Pusher-Signature` (the hex
//! HMAC-SHA256 of the body with the app's secret). The body is compact JSON, so a receiver that
//! re-serializes the parsed body (soketi's tests do) gets the bytes that were signed.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::sign;

/// The header naming the app's key.
pub const KEY_HEADER: &str = "X-Pusher-Key";
/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Pusher-Signature";

/// One event of a webhook.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum WebhookEvent {
    /// A channel got its first subscriber, across the cluster.
    ChannelOccupied {
        /// The channel.
        channel: String,
    },
    /// A channel lost its last subscriber, across the cluster.
    ChannelVacated {
        /// The channel.
        channel: String,
    },
    /// A user joined a presence channel (their first connection in it).
    MemberAdded {
        /// The channel.
        channel: String,
        /// The user.
        user_id: String,
    },
    /// A user left a presence channel (their last connection in it).
    MemberRemoved {
        /// The channel.
        channel: String,
        /// The user.
        user_id: String,
    },
    /// A client event was sent.
    ClientEvent {
        /// The channel.
        channel: String,
        /// The event name.
        event: String,
        /// The data as the client sent it.
        data: Box<RawValue>,
        /// The sender.
        socket_id: String,
        /// The sender's user on a presence channel.
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
    },
    /// A subscriber found a cache channel empty.
    CacheMiss {
        /// The channel.
        channel: String,
    },
    /// A channel's subscription count changed.
    SubscriptionCount {
        /// The channel.
        channel: String,
        /// Connections subscribed now.
        subscription_count: u64,
    },
}

impl WebhookEvent {
    /// The event's `name`, as webhook endpoints filter on it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ChannelOccupied { .. } => "channel_occupied",
            Self::ChannelVacated { .. } => "channel_vacated",
            Self::MemberAdded { .. } => "member_added",
            Self::MemberRemoved { .. } => "member_removed",
            Self::ClientEvent { .. } => "client_event",
            Self::CacheMiss { .. } => "cache_miss",
            Self::SubscriptionCount { .. } => "subscription_count",
        }
    }
}

/// A webhook's body and its `X-Pusher-Signature`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedWebhook {
    /// The JSON body.
    pub body: String,
    /// The hex signature of `body`.
    pub signature: String,
}

/// The body for `events` sent at `time_ms` (Unix milliseconds), signed with `secret`.
pub fn webhook(time_ms: i64, events: &[WebhookEvent], secret: &str) -> SignedWebhook {
    let events: Vec<&WebhookEvent> = events.iter().collect();
    let body = body(time_ms, &events);
    let signature = sign::hmac_hex(secret, body.as_bytes());
    SignedWebhook { body, signature }
}

/// The compact JSON body `{"time_ms":..,"events":[..]}` (sign it with [`sign::hmac_hex`]).
pub fn body(time_ms: i64, events: &[&WebhookEvent]) -> String {
    #[derive(Serialize)]
    struct Body<'a> {
        time_ms: i64,
        events: &'a [&'a WebhookEvent],
    }
    serde_json::to_string(&Body { time_ms, events })
        .unwrap_or_else(|_| unreachable!("strings, numbers and valid raw JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_signatures() {
        let data = RawValue::from_string(r#"{"a":1}"#.to_owned()).expect("valid");
        let events = [
            WebhookEvent::ChannelOccupied {
                channel: "news".to_owned(),
            },
            WebhookEvent::MemberAdded {
                channel: "presence-r".to_owned(),
                user_id: "u1".to_owned(),
            },
            WebhookEvent::ClientEvent {
                channel: "private-c".to_owned(),
                event: "client-x".to_owned(),
                data,
                socket_id: "1.2".to_owned(),
                user_id: None,
            },
            WebhookEvent::SubscriptionCount {
                channel: "news".to_owned(),
                subscription_count: 3,
            },
        ];
        let signed = webhook(1_700_000_000_123, &events, "secret");
        assert_eq!(
            signed.body,
            r#"{"time_ms":1700000000123,"events":[{"name":"channel_occupied","channel":"news"},{"name":"member_added","channel":"presence-r","user_id":"u1"},{"name":"client_event","channel":"private-c","event":"client-x","data":{"a":1},"socket_id":"1.2"},{"name":"subscription_count","channel":"news","subscription_count":3}]}"#
        );
        assert!(sign::verify_hex(
            "secret",
            signed.body.as_bytes(),
            &signed.signature
        ));
    }
}
