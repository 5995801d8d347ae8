//! Herald's wire protocol: Centrifugo's client protocol v2, byte for byte.
//!
//! Existing Centrifugo SDKs (centrifuge-js and friends) talk to Herald unchanged, so everything
//! here mirrors `centrifugal/protocol`: the messages of `client.proto`, the JSON and Protobuf
//! codecs with their framing, and the client-visible error, disconnect and unsubscribe codes.
//! The crate is sans-I/O: it turns bytes into messages and messages into bytes, and runs no
//! async runtime.
//!
//! Key types:
//! - [`Command`] (client to server) and [`Reply`] (server to client; a [`Push`] travels inside
//!   `Reply.push`, and a `Reply` with neither id nor push is a ping), plus every other message
//!   of the schema, in [`messages`].
//! - [`Protocol`]: JSON or Protobuf, chosen once per connection.
//! - [`decode_commands`], [`encode_reply`], [`encode_push`]: the server's codec entry points;
//!   [`FrameWriter`] / [`append_to_frame`] join encoded messages into one transport frame.
//! - [`ErrorCode`], [`DisconnectCode`], [`UnsubscribeCode`]: the protocol's codes, defined once.
//! - [`DecodeError`], [`EncodeError`]: why a frame or message could not be handled.
//!
//! # Wire format
//!
//! - **JSON** frames join messages with exactly one `\n` (a reader accepts one trailing `\n`;
//!   an empty frame or an empty line is an error). Keys are the proto field names. Following
//!   Centrifugo's Go encoder (easyjson), zero-valued fields are omitted, except
//!   `ClientInfo.user`/`client`, `PresenceResult.presence`, `PresenceStatsResult.num_clients`/
//!   `num_users` and `HistoryResult.publications`/`epoch`/`offset`; a result that is present is
//!   always written, so an empty one reads `{"id":2,"publish":{}}`. **`bytes` fields hold raw
//!   JSON, not base64**: they are written as is minus raw `\n` bytes, and a payload that is not
//!   valid JSON fails with [`EncodeError::NotJson`]. Decoding ignores unknown keys and reads
//!   `null` as absent. (A JSON subscription with delta compression gets publication payloads
//!   as JSON strings instead: [`json_string`].)
//! - **Protobuf** frames are `uvarint(len) || message`, repeated; even a lone message carries
//!   its prefix, so a ping is the single byte `0x00`. Unknown fields are ignored.
//!
//! # Example
//!
//! Encode a publication once, then decode a JSON frame of two commands:
//!
//! ```
//! use herald_proto::{Protocol, Publication, Push, decode_commands, encode_push};
//!
//! let push = Push {
//!     channel: "chat:1".into(),
//!     r#pub: Some(Publication {
//!         data: br#"{"text":"hi"}"#.as_slice().into(),
//!         offset: 8,
//!         ..Default::default()
//!     }),
//!     ..Default::default()
//! };
//! let json = encode_push(Protocol::Json, &push)?;
//! assert_eq!(&json[..], br#"{"push":{"channel":"chat:1","pub":{"data":{"text":"hi"},"offset":8}}}"#);
//!
//! let frame = b"{\"id\":1,\"connect\":{\"name\":\"js\"}}\n{\"id\":2,\"subscribe\":{\"channel\":\"chat:1\",\"flag\":1}}";
//! let commands = decode_commands(Protocol::Json, frame)?;
//! assert_eq!(commands[0].connect.as_ref().map(|c| c.name.as_str()), Some("js"));
//! assert_eq!(commands[1].subscribe.as_ref().map(|s| s.flag), Some(1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod codec;
mod codes;
mod error;
pub mod messages;
mod protocol;

pub use codec::{
    FrameWriter, WireMessage, append_to_frame, bare_push_range, decode_commands, decode_message,
    decode_reply, encode_command, encode_message, encode_push, encode_reply, json_string,
};
pub use codes::{DisconnectCode, ErrorCode, UnsubscribeCode};
pub use error::{DecodeError, EncodeError};
pub use messages::*;
pub use protocol::Protocol;
