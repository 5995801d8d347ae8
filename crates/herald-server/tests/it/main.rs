//! Integration tests of the `herald` server, over real sockets.
mod api;
mod deflate;
mod e2e;
mod upgrade;
mod websocket;
