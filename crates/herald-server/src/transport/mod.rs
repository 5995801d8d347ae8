//! Transports: how bytes reach a [`Session`](herald_hub::Session). Each transport is a thin
//! shell: it reads frames into the session and writes what the session's outbox holds.

pub mod websocket;
