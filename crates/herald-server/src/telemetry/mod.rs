//! OpenTelemetry tracing of server API calls and proxy calls (`opentelemetry.*`,
//! `docs/tracing.md`), compiled in with the `otel` cargo feature.
//!
//! The rest of the server sees only this facade, the same with and without the feature:
//!
//! - [`install`] at start-up: with `opentelemetry.enabled`, an OTLP/HTTP exporter configured
//!   by the standard `OTEL_*` variables behind a batch span processor, and the W3C trace
//!   context propagator; its `Telemetry` guard flushes what is queued at shutdown.
//! - [`api_span`]: a server span around one HTTP or gRPC API call, the child of the caller's
//!   `traceparent` when it sent one.
//! - [`proxy_span`]: a client span around one proxy call; [`trace_headers`], called while the
//!   call runs inside [`Span::run`], gives the `traceparent` the backend receives, so its own
//!   spans join the trace.
//!
//! Without the feature every function is an empty inline one and [`Span`] is zero-sized: the
//! default binary pays nothing. With it but tracing off, each call site costs one relaxed load.
//!
//! Spans wait for export in the SDK's batch queue: bounded by `OTEL_BSP_MAX_QUEUE_SIZE`
//! (2,048), overflow policy *drop the new span* (the SDK counts and logs the drops), exported
//! from the SDK's own thread so a slow collector never holds a request back.

#[cfg(feature = "otel")]
mod otel;
#[cfg(feature = "otel")]
pub(crate) use otel::{Span, api_span, install, proxy_span, trace_headers};

#[cfg(not(feature = "otel"))]
mod off;
#[cfg(not(feature = "otel"))]
pub(crate) use off::{Span, api_span, install, proxy_span, trace_headers};

/// Which API a span's call came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api<'a> {
    /// `POST {http_api.handler_prefix}/{method}`, with the request's path.
    Http(&'a str),
    /// `centrifugal.centrifugo.api.CentrifugoApi/{Method}`.
    Grpc,
}

/// How a proxy call ended, for its span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProxyReplyKind {
    /// The backend answered a result.
    Result,
    /// The backend answered an error for the client (with its code).
    Error(u32),
    /// The backend answered a disconnect (with its code).
    Disconnect(u32),
}
