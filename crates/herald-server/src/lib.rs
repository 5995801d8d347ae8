//! The `herald` server: the edges around the hub.
//!
//! - [`config`]: Centrifugo v6 configuration (JSON/YAML/TOML + `HERALD_*` environment), validated
//!   into hub options and server settings.
//! - [`jwt`]: connection and subscription JWT verification.
//! - [`transport`]: the WebSocket transport.
//! - [`api`]: the HTTP server API (`/api/<method>`).
//! - [`grpc`]: the same API over gRPC (`grpc_api`), and the unidirectional gRPC transport
//!   (`uni_grpc`).
//! - [`engines`]: connecting the configured broker and presence manager.
//! - `proxy`: the HTTP and gRPC proxies the hub asks (connect, refresh, subscribe, publish,
//!   sub_refresh, rpc), built from configuration.
//! - [`metrics`]: the Prometheus endpoint (`prometheus.*`), rendering the hub's counters.
//! - `telemetry`: OpenTelemetry tracing of API and proxy calls (`opentelemetry.*`), compiled in
//!   with the `otel` feature.
//! - [`server`]: assembling engine, hub and routes; graceful shutdown.
//! - [`cli`]: the command line (`serve`, `genconfig`, `gentoken`, `checkconfig`, `version`).

pub mod admin;
pub mod api;
pub mod cli;
pub mod config;
pub mod engines;
pub mod grpc;
pub mod jwt;
pub mod metrics;
mod outbound;
mod proxy;
mod pusher;
pub mod server;
mod telemetry;
mod tls;
pub mod transport;
pub mod webhooks;
