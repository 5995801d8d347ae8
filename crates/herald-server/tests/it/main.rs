//! Integration tests of the `herald` server, over real sockets.
mod api;
mod centrifugo_config;
mod deflate;
mod e2e;
mod http2;
mod upgrade;
mod webhooks;
mod websocket;
