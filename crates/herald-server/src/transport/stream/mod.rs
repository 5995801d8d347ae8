//! The HTTP streaming transports, for clients that cannot use WebSocket (blocked by a proxy)
//! or want no SDK:
//!
//! | endpoint | connect request | stream |
//! |---|---|---|
//! | `http_stream` (`POST`) | the body: a frame with the `connect` command, JSON or Protobuf (`Content-Type: application/octet-stream`) | replies, one JSON per line or length-prefixed Protobuf |
//! | `sse` (`GET ?cf_connect=`, or `POST`) | the same frame, JSON | one event per reply |
//! | `uni_http_stream` (`POST`) | the body: a `ConnectRequest` (JSON) | bare pushes, one per line |
//! | `uni_sse` (`GET ?cf_connect=`, or `POST`) | a `ConnectRequest` (JSON) | one event per bare push |
//!
//! The first two are bidirectional emulation: the connect reply carries `session` and `node`,
//! and the client posts every later command (pongs too) to the emulation endpoint
//! (`emulation.rs`), which reaches the session on whichever node holds it. Each connection is
//! one task (`driver.rs`) that owns the [`Session`](herald_hub::Session): the same session,
//! outbox, limits, pings and close codes as WebSocket; a close becomes a `disconnect` push and
//! the end of the response.

mod connect;
pub(crate) mod driver;
mod emulation;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use herald_hub::Hub;
use tokio_util::task::TaskTracker;

use crate::config::{OriginPolicy, TransportSettings};

/// The streaming transports and the emulation endpoint.
#[derive(Clone)]
pub struct StreamTransports {
    /// The node.
    pub hub: Hub,
    /// Which endpoints are on, their paths and body limits.
    pub settings: TransportSettings,
    /// Which `Origin` headers are acceptable (`client.allowed_origins`).
    pub origins: OriginPolicy,
    /// Tracks connection tasks so shutdown can wait for them.
    pub tracker: TaskTracker,
}

impl std::fmt::Debug for StreamTransports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamTransports")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl StreamTransports {
    /// A router with every enabled endpoint (none when all are off).
    pub fn router(self) -> Router {
        let settings = self.settings.clone();
        let state = Arc::new(self);
        let mut router = Router::new();
        if settings.http_stream.enabled {
            router = router.route(
                &settings.http_stream.handler_prefix,
                post(connect::http_stream).options(connect::preflight_post),
            );
        }
        if settings.sse.enabled {
            router = router.route(
                &settings.sse.handler_prefix,
                get(connect::sse)
                    .post(connect::sse)
                    .options(connect::preflight_get_post),
            );
        }
        if settings.emulation.enabled {
            router = router.route(
                &settings.emulation.handler_prefix,
                post(emulation::emulate).options(connect::preflight_post),
            );
        }
        if settings.uni_http_stream.enabled {
            router = router.route(
                &settings.uni_http_stream.handler_prefix,
                post(connect::uni_http_stream).options(connect::preflight_post),
            );
        }
        if settings.uni_sse.enabled {
            router = router.route(
                &settings.uni_sse.handler_prefix,
                get(connect::uni_sse)
                    .post(connect::uni_sse)
                    .options(connect::preflight_get_post),
            );
        }
        router.with_state(state)
    }
}
