//! Messages from the client: one JSON object per text frame.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{Channel, ProtocolError};

/// What a client sent.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// `pusher:subscribe`.
    Subscribe(Subscribe),
    /// `pusher:unsubscribe`.
    Unsubscribe {
        /// The channel to leave.
        channel: Channel,
    },
    /// `pusher:signin`: authenticate the connection as a user.
    Signin(Signin),
    /// `pusher:ping`: answer `pusher:pong`.
    Ping,
    /// `pusher:pong`: the answer to the server's ping.
    Pong,
    /// A `client-*` event to the other subscribers of a channel.
    ClientEvent(ClientEvent),
    /// Another `pusher:` or `pusher_internal:` event, or an event name without the `client-`
    /// prefix: not something a client may send. The server ignores it (Pusher does too).
    Other {
        /// The event name.
        event: String,
    },
}

/// `pusher:subscribe`'s data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// The channel.
    pub channel: Channel,
    /// `"<app key>:<hex signature>"`, for private, encrypted and presence channels.
    pub auth: Option<String>,
    /// The member's JSON, for presence channels (and signed on private ones when sent).
    pub channel_data: Option<String>,
}

/// `pusher:signin`'s data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signin {
    /// `"<app key>:<hex signature>"` over `socket_id::user::user_data`.
    pub auth: String,
    /// The user's JSON, signed as sent (parse it with [`crate::UserData::parse`]).
    pub user_data: String,
}

/// A `client-*` event.
#[derive(Debug, Clone)]
pub struct ClientEvent {
    /// The event name, `client-` included.
    pub event: String,
    /// The channel it goes to.
    pub channel: Channel,
    /// The data as the sender wrote it (any JSON, passed on untouched); `null` when absent.
    pub data: Box<RawValue>,
}

impl PartialEq for ClientEvent {
    /// Raw data compares by its text.
    fn eq(&self, other: &Self) -> bool {
        self.event == other.event
            && self.channel == other.channel
            && self.data.get() == other.data.get()
    }
}

/// The frame as sent; `data` may be an object or a JSON-encoded string of one (older
/// clients), so it is read raw and decoded per event.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    event: std::borrow::Cow<'a, str>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    data: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct SubscribeData {
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    channel_data: Option<String>,
}

#[derive(Deserialize)]
struct SigninData {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    user_data: Option<String>,
}

impl ClientMessage {
    /// Parses one text frame.
    pub fn parse(frame: &str) -> Result<Self, ProtocolError> {
        let frame: Frame<'_> =
            serde_json::from_str(frame).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
        match frame.event.as_ref() {
            "pusher:subscribe" => {
                let data: SubscribeData = object(frame.data.as_deref())?;
                let channel = data.channel.ok_or(ProtocolError::MissingField {
                    event: "pusher:subscribe",
                    field: "channel",
                })?;
                Ok(ClientMessage::Subscribe(Subscribe {
                    channel: Channel::parse(&channel)?,
                    auth: data.auth,
                    channel_data: data.channel_data,
                }))
            }
            "pusher:unsubscribe" => {
                let data: SubscribeData = object(frame.data.as_deref())?;
                let channel = data.channel.ok_or(ProtocolError::MissingField {
                    event: "pusher:unsubscribe",
                    field: "channel",
                })?;
                Ok(ClientMessage::Unsubscribe {
                    channel: Channel::parse(&channel)?,
                })
            }
            "pusher:signin" => {
                let data: SigninData = object(frame.data.as_deref())?;
                let missing = |field| ProtocolError::MissingField {
                    event: "pusher:signin",
                    field,
                };
                Ok(ClientMessage::Signin(Signin {
                    auth: data.auth.ok_or_else(|| missing("auth"))?,
                    user_data: data.user_data.ok_or_else(|| missing("user_data"))?,
                }))
            }
            "pusher:ping" => Ok(ClientMessage::Ping),
            "pusher:pong" => Ok(ClientMessage::Pong),
            event if event.starts_with("client-") => {
                let channel = frame.channel.ok_or(ProtocolError::MissingField {
                    event: "client event",
                    field: "channel",
                })?;
                let data = match frame.data {
                    Some(data) => data,
                    None => RawValue::from_string("null".to_owned())
                        .map_err(|e| ProtocolError::Malformed(e.to_string()))?,
                };
                Ok(ClientMessage::ClientEvent(ClientEvent {
                    event: event.to_owned(),
                    channel: Channel::parse(&channel)?,
                    data,
                }))
            }
            event => Ok(ClientMessage::Other {
                event: event.to_owned(),
            }),
        }
    }
}

/// Reads `data` as an object, or as a string holding one; absent or `null` reads as `{}`.
fn object<T: for<'de> Deserialize<'de>>(data: Option<&RawValue>) -> Result<T, ProtocolError> {
    let malformed = |e: serde_json::Error| ProtocolError::Malformed(format!("data: {e}"));
    let raw = data.map_or("null", RawValue::get);
    let text = if raw.starts_with('"') {
        serde_json::from_str::<String>(raw).map_err(malformed)?
    } else if raw == "null" {
        "{}".to_owned()
    } else {
        raw.to_owned()
    };
    serde_json::from_str(&text).map_err(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscribe(frame: &str) -> Subscribe {
        match ClientMessage::parse(frame) {
            Ok(ClientMessage::Subscribe(s)) => s,
            other => panic!("not a subscribe: {other:?}"),
        }
    }

    #[test]
    fn subscribes() {
        let s = subscribe(r#"{"event":"pusher:subscribe","data":{"channel":"news"}}"#);
        assert_eq!(s.channel.as_str(), "news");
        assert_eq!((s.auth, s.channel_data), (None, None));

        let s = subscribe(
            r#"{"event":"pusher:subscribe","data":{"channel":"presence-a","auth":"k:s","channel_data":"{\"user_id\":\"1\"}"}}"#,
        );
        assert_eq!(s.auth.as_deref(), Some("k:s"));
        assert_eq!(s.channel_data.as_deref(), Some(r#"{"user_id":"1"}"#));

        // Older clients send data as a JSON string.
        let s = subscribe(r#"{"event":"pusher:subscribe","data":"{\"channel\":\"news\"}"}"#);
        assert_eq!(s.channel.as_str(), "news");
    }

    #[test]
    fn client_events_keep_their_data_untouched() {
        let frame = r#"{"event":"client-typing","channel":"private-a","data":{"b": [1, 2.50]}}"#;
        let Ok(ClientMessage::ClientEvent(event)) = ClientMessage::parse(frame) else {
            panic!("a client event");
        };
        assert_eq!(event.event, "client-typing");
        assert_eq!(event.channel.as_str(), "private-a");
        assert_eq!(event.data.get(), r#"{"b": [1, 2.50]}"#);

        let frame = r#"{"event":"client-x","channel":"private-a"}"#;
        let Ok(ClientMessage::ClientEvent(event)) = ClientMessage::parse(frame) else {
            panic!("a client event");
        };
        assert_eq!(event.data.get(), "null");
    }

    #[test]
    fn the_rest() {
        assert_eq!(
            ClientMessage::parse(r#"{"event":"pusher:ping","data":{}}"#),
            Ok(ClientMessage::Ping)
        );
        assert_eq!(
            ClientMessage::parse(r#"{"event":"pusher:pong"}"#),
            Ok(ClientMessage::Pong)
        );
        assert_eq!(
            ClientMessage::parse(r#"{"event":"pusher:unsubscribe","data":{"channel":"a"}}"#),
            Ok(ClientMessage::Unsubscribe {
                channel: Channel::parse("a").expect("valid")
            })
        );
        assert_eq!(
            ClientMessage::parse(
                r#"{"event":"pusher:signin","data":{"auth":"k:s","user_data":"{\"id\":\"1\"}"}}"#
            ),
            Ok(ClientMessage::Signin(Signin {
                auth: "k:s".to_owned(),
                user_data: r#"{"id":"1"}"#.to_owned()
            }))
        );
        assert_eq!(
            ClientMessage::parse(r#"{"event":"my-event","channel":"a","data":{}}"#),
            Ok(ClientMessage::Other {
                event: "my-event".to_owned()
            })
        );
    }

    #[test]
    fn malformed_frames_are_errors() {
        for frame in [
            "",
            "not json",
            "[]",
            r#"{"data":{}}"#,
            r#"{"event":1}"#,
            r#"{"event":"pusher:subscribe","data":{}}"#,
            r#"{"event":"pusher:subscribe","data":{"channel":"bad name"}}"#,
            r#"{"event":"pusher:subscribe","data":7}"#,
            r#"{"event":"pusher:subscribe","data":"not json"}"#,
            r#"{"event":"pusher:signin","data":{"auth":"k:s"}}"#,
            r#"{"event":"client-x","data":{}}"#,
        ] {
            assert!(ClientMessage::parse(frame).is_err(), "{frame}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(frame in ".{0,200}") {
            let _ = ClientMessage::parse(&frame);
        }
    }
}
