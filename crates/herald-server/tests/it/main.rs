//! Integration tests of the `herald` server, over real sockets.
mod api;
mod centrifugo_config;
mod deflate;
mod e2e;
mod grpc;
mod http2;
mod proxy;
mod upgrade;
mod webhooks;
mod websocket;
