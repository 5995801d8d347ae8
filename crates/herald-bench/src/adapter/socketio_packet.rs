//! Engine.IO v4 and Socket.IO v5 packets as they travel in WebSocket text frames, sans-I/O.
//!
//! Over the WebSocket transport each frame holds one Engine.IO packet: a type digit and its
//! data (`0{...}` open, `2` ping, `3` pong, `4...` message). A message holds one Socket.IO
//! packet: a type digit, for binary types `<n>-`, an optional `/namespace,`, an optional ack
//! id, then JSON (`40` connect, `42["event",...]`, `431["ok"]` ack of id 1). Binary
//! attachments are not supported: the benchmark sends and expects JSON only.

use serde::Deserialize;
use serde_json::value::RawValue;

/// One Engine.IO packet, borrowing from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnginePacket<'a> {
    /// `0{...}`: the handshake, with its JSON.
    Open(&'a str),
    /// `1`: the server closes the session.
    Close,
    /// `2`: a heartbeat; answer with [`PONG`].
    Ping,
    /// `3`: a heartbeat answer.
    Pong,
    /// `4...`: a Socket.IO packet.
    Message(&'a str),
    /// `5` / `6`: upgrade and noop, meaningless on a WebSocket-only session.
    Other,
}

/// The answer to [`EnginePacket::Ping`].
pub const PONG: &str = "3";

/// Reads one Engine.IO packet; `None` if the frame is not one.
pub fn parse_engine(frame: &str) -> Option<EnginePacket<'_>> {
    let mut chars = frame.chars();
    let kind = chars.next()?;
    let rest = chars.as_str();
    Some(match kind {
        '0' => EnginePacket::Open(rest),
        '1' => EnginePacket::Close,
        '2' => EnginePacket::Ping,
        '3' => EnginePacket::Pong,
        '4' => EnginePacket::Message(rest),
        '5' | '6' => EnginePacket::Other,
        _ => return None,
    })
}

/// The fields of the open packet the client uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    /// Engine.IO session id.
    pub sid: String,
    /// How often the server pings, in ms.
    pub ping_interval: u64,
    /// How long the server waits for a pong, in ms.
    pub ping_timeout: u64,
}

/// Socket.IO packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// `0`: connected to a namespace (from the server, data holds the sid).
    Connect,
    /// `1`: disconnected from a namespace.
    Disconnect,
    /// `2`: an event; data is `["name", args...]`.
    Event,
    /// `3`: an acknowledgement; data is `[args...]`.
    Ack,
    /// `4`: the namespace refused the connection.
    ConnectError,
    /// `5` / `6`: events or acks with binary attachments.
    Binary,
}

/// One Socket.IO packet, borrowing from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketPacket<'a> {
    /// Its type.
    pub kind: SocketKind,
    /// Namespace; `/` when absent.
    pub namespace: &'a str,
    /// Ack id, for events that want an answer and for acks.
    pub ack_id: Option<u64>,
    /// The JSON payload (may be empty).
    pub data: &'a str,
}

/// Reads one Socket.IO packet from an Engine.IO message; `None` if it is malformed.
pub fn parse_socket(message: &str) -> Option<SocketPacket<'_>> {
    let bytes = message.as_bytes();
    let kind = match *bytes.first()? {
        b'0' => SocketKind::Connect,
        b'1' => SocketKind::Disconnect,
        b'2' => SocketKind::Event,
        b'3' => SocketKind::Ack,
        b'4' => SocketKind::ConnectError,
        b'5' | b'6' => SocketKind::Binary,
        _ => return None,
    };
    let mut rest = &message[1..];
    if kind == SocketKind::Binary {
        let dash = rest.find('-')?;
        if !rest[..dash].bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        rest = &rest[dash + 1..];
    }
    let mut namespace = "/";
    if rest.starts_with('/') {
        let comma = rest.find(',');
        let end = comma.unwrap_or(rest.len());
        namespace = &rest[..end];
        rest = comma.map_or("", |c| &rest[c + 1..]);
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let ack_id = if digits > 0 {
        Some(rest[..digits].parse().ok()?)
    } else {
        None
    };
    Some(SocketPacket {
        kind,
        namespace,
        ack_id,
        data: &rest[digits..],
    })
}

/// Splits an event's data `["name", arg, ...]` into the name and its raw arguments.
pub fn event_args(data: &str) -> Option<(String, Vec<&RawValue>)> {
    let mut items: Vec<&RawValue> = serde_json::from_str(data).ok()?;
    if items.is_empty() {
        return None;
    }
    let name: String = serde_json::from_str(items.remove(0).get()).ok()?;
    Some((name, items))
}

/// The Engine.IO message that connects to the default namespace.
pub const CONNECT: &str = "40";

/// An event in the default namespace: `42[<ack id>]["name", <args>...]`. `args` are JSON
/// values, written as they are.
pub fn encode_event(event: &str, args: &[&str], ack_id: Option<u64>) -> String {
    let mut out = String::from("42");
    if let Some(id) = ack_id {
        out.push_str(&id.to_string());
    }
    out.push('[');
    out.push_str(&serde_json::Value::from(event).to_string());
    for arg in args {
        out.push(',');
        out.push_str(arg);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_packets() {
        let open = r#"0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        let Some(EnginePacket::Open(json)) = parse_engine(open) else {
            panic!("open packet");
        };
        let handshake: Handshake = serde_json::from_str(json).expect("handshake");
        assert_eq!(handshake.sid, "abc");
        assert_eq!(handshake.ping_interval, 25000);
        assert_eq!(parse_engine("2"), Some(EnginePacket::Ping));
        assert_eq!(parse_engine("3"), Some(EnginePacket::Pong));
        assert_eq!(parse_engine("1"), Some(EnginePacket::Close));
        assert_eq!(parse_engine("40"), Some(EnginePacket::Message("0")));
        assert_eq!(parse_engine(""), None);
        assert_eq!(parse_engine("x"), None);
    }

    #[test]
    fn socket_packets() {
        let connect = parse_socket(r#"0{"sid":"s1"}"#).expect("connect");
        assert_eq!(connect.kind, SocketKind::Connect);
        assert_eq!(connect.namespace, "/");
        assert_eq!(connect.data, r#"{"sid":"s1"}"#);

        let event = parse_socket(r#"2["message",{"r":1}]"#).expect("event");
        assert_eq!((event.kind, event.ack_id), (SocketKind::Event, None));
        let (name, args) = event_args(event.data).expect("args");
        assert_eq!(name, "message");
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].get(), r#"{"r":1}"#);

        let ack = parse_socket(r#"3/chat,17["ok"]"#)
            .map(|p| (p.kind, p.namespace.to_owned(), p.ack_id, p.data.to_owned()));
        assert_eq!(
            ack,
            Some((
                SocketKind::Ack,
                "/chat".to_owned(),
                Some(17),
                r#"["ok"]"#.to_owned()
            ))
        );

        let binary = parse_socket(r#"51-["up",{"_placeholder":true,"num":0}]"#).expect("binary");
        assert_eq!(binary.kind, SocketKind::Binary);
        assert!(binary.data.starts_with('['));

        assert_eq!(parse_socket("9"), None);
        assert_eq!(parse_socket("5x-[]"), None);
        assert_eq!(
            parse_socket("4").map(|p| p.kind),
            Some(SocketKind::ConnectError)
        );
        assert!(event_args("[]").is_none());
        assert!(event_args("[1]").is_none());
    }

    #[test]
    fn encodes_events() {
        assert_eq!(
            encode_event("subscribe", &[r#""room-1""#], Some(1)),
            r#"421["subscribe","room-1"]"#
        );
        assert_eq!(encode_event("ping", &[], None), r#"42["ping"]"#);
    }
}
