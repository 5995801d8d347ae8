//! Integration tests of the `herald` server, over real sockets.
mod api;
mod centrifugo_config;
mod e2e;
mod upgrade;
mod websocket;
