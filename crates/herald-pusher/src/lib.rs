//! The Pusher Channels protocol (version 7), sans-I/O: what pusher-js, Laravel Echo and the
//! Pusher server libraries send and expect, as Herald's Pusher endpoint speaks it.
//!
//! This crate turns text frames into [`ClientMessage`]s and events into the JSON text a client
//! reads; it checks the signatures Pusher's auth scheme uses and classifies channel names. It
//! runs no async runtime and knows nothing of sockets, the hub or configuration: the server
//! crate's Pusher transport and HTTP API are built on it.
//!
//! Key types:
//! - [`Connection`]: one connection's state machine: text frames in, [`Action`]s out (what to
//!   send, what to register with the node, what to deliver to the others), under the app's
//!   [`AppRules`].
//! - [`ClientMessage`] ([`ClientMessage::parse`]): `pusher:subscribe`, `pusher:unsubscribe`,
//!   `pusher:signin`, `pusher:ping`/`pong` and `client-*` events.
//! - [`server`]: every server-to-client message, encoded once as a `String` to send to many.
//! - [`Channel`] and [`ChannelKind`]: a validated channel name and what its prefix makes it
//!   (public, private, encrypted, presence, a user's own channel; cached or not).
//! - [`sign`]: channel authorization and user sign-in signatures, and webhook signatures.
//! - [`api_auth`]: the HTTP API's request signatures (`auth_key`, `auth_timestamp`,
//!   `auth_signature`, `body_md5`); [`api`]: its requests (triggers, batches, `info`).
//! - [`webhook`]: webhook bodies in Pusher's format, signed.
//! - [`PresenceMember`] and [`UserData`]: the `channel_data` of a presence subscription and the
//!   `user_data` of a sign-in.
//! - [`SocketId`]: the `\d+.\d+` connection id; [`close`]: the 4000-4399 close codes.
//! - [`ProtocolError`]: why a client's message is refused.
//!
//! # Wire format
//!
//! Every frame is one UTF-8 JSON object `{"event", "channel"?, "data"?}`. From the server,
//! `data` is a JSON-encoded **string** for `pusher:connection_established`, `pusher_internal:*`
//! and channel events, but an object for `pusher:error`; client events are passed on with the
//! `data` the sender wrote, untouched (so encrypted channels' ciphertext is never read).
//!
//! # Example
//!
//! ```
//! use herald_pusher::{ChannelKind, ClientMessage, SocketId, sign};
//!
//! let socket_id = SocketId::new(123, 456);
//! let frame = r#"{"event":"pusher:subscribe","data":{"channel":"private-chat","auth":"key:x"}}"#;
//! let ClientMessage::Subscribe(subscribe) = ClientMessage::parse(frame)? else { unreachable!() };
//! assert_eq!(subscribe.channel.kind(), ChannelKind::Private { cache: false });
//! // A bad signature is refused (the client gets `pusher:subscription_error`).
//! assert!(sign::verify_channel_auth("key", "secret", &socket_id, &subscribe).is_err());
//! # Ok::<(), herald_pusher::ProtocolError>(())
//! ```

pub mod api;
pub mod api_auth;
mod channel;
mod channel_map;
mod client;
pub mod close;
mod connection;
mod error;
mod presence;
pub mod server;
pub mod sign;
mod socket_id;
pub mod webhook;

pub use channel::{Channel, ChannelKind, MAX_CHANNEL_NAME_LEN};
pub use channel_map::ChannelMap;
pub use client::{ClientEvent, ClientMessage, Signin, Subscribe};
pub use connection::{Action, AppRules, Connection};
pub use error::ProtocolError;
pub use presence::{MAX_USER_ID_LEN, PresenceMember, UserData};
pub use socket_id::SocketId;
