//! WebSocket close codes of the Pusher protocol, with what pusher-js does on each: 4000-4099
//! it does not reconnect, 4100-4199 it reconnects after a back-off, 4200-4299 it reconnects at
//! once.

/// Only TLS connections are allowed (not reconnected as is).
pub const SSL_ONLY: u16 = 4000;
/// No app has this key.
pub const APP_NOT_FOUND: u16 = 4001;
/// The app is disabled.
pub const APP_DISABLED: u16 = 4003;
/// The app is over its connection quota.
pub const OVER_CONNECTION_QUOTA: u16 = 4004;
/// The path is not `/app/<key>`.
pub const PATH_NOT_FOUND: u16 = 4005;
/// The `protocol` query parameter is not a number.
pub const INVALID_VERSION: u16 = 4006;
/// The protocol version is not one the server speaks.
pub const UNSUPPORTED_PROTOCOL: u16 = 4007;
/// No `protocol` query parameter.
pub const NO_PROTOCOL: u16 = 4008;
/// The connection is not authorized (a sign-in that did not come in time).
pub const UNAUTHORIZED: u16 = 4009;
/// The server is over capacity: reconnect after a back-off.
pub const OVER_CAPACITY: u16 = 4100;
/// Generic "reconnect now" (a node shutting down).
pub const RECONNECT: u16 = 4200;
/// The client did not answer a ping in time.
pub const PONG_NOT_RECEIVED: u16 = 4201;
/// The client was inactive past the activity timeout.
pub const CLOSED_AFTER_INACTIVITY: u16 = 4202;
/// The client sent client events faster than its app allows.
pub const CLIENT_EVENT_RATE_LIMIT: u16 = 4301;
