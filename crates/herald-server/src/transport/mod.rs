//! Transports: how bytes reach a [`Session`](herald_hub::Session). Each transport is a thin
//! shell: it reads frames into the session and writes what the session's outbox holds.
//!
//! - [`websocket`]: `/connection/websocket` (and `/connection/uni_websocket`), one hand-written
//!   future per connection over Herald's own RFC 6455 codec.
//! - [`stream`]: HTTP-streaming and SSE, bidirectional through the emulation endpoint or
//!   unidirectional, one task per connection.

mod client_ip;
pub(crate) use client_ip::last_address;
mod cors;
mod proxy_headers;
mod refusal;
pub mod stream;
pub mod websocket;
