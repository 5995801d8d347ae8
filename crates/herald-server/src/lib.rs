//! The `herald` server: the edges around the hub.
//!
//! - [`config`]: Centrifugo v6 configuration (JSON/YAML/TOML + `HERALD_*` environment), validated
//!   into hub options and server settings.
//! - [`jwt`]: connection and subscription JWT verification.
//! - [`transport`]: the WebSocket transport.
//! - [`api`]: the HTTP server API (`/api/<method>`).
//! - [`engines`]: connecting the configured broker and presence manager.
//! - [`server`]: assembling engine, hub and routes; graceful shutdown.
//! - [`cli`]: the command line (`serve`, `genconfig`, `gentoken`, `checkconfig`, `version`).

pub mod api;
pub mod cli;
pub mod config;
pub mod engines;
pub mod jwt;
mod outbound;
pub mod server;
pub mod transport;
pub mod webhooks;
