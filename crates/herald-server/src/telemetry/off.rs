//! The facade without the `otel` feature: nothing is traced. Configuration validation refuses
//! `opentelemetry.enabled` in such a binary, so [`install`] never sees it on.

use std::future::Future;

use super::{Api, ProxyReplyKind};
use crate::config::OpenTelemetrySettings;

/// No span.
#[derive(Debug)]
pub(crate) struct Span;

impl Span {
    #[inline]
    pub(crate) fn none() -> Self {
        Span
    }

    #[inline]
    pub(crate) async fn run<F: Future>(&self, future: F) -> F::Output {
        future.await
    }

    #[inline]
    pub(crate) fn fail(&self, _code: Option<u32>, _message: &str) {}

    #[inline]
    pub(crate) fn http_status(&self, _status: u16) {}

    #[inline]
    pub(crate) fn proxy_reply(&self, _reply: ProxyReplyKind) {}

    #[inline]
    pub(crate) fn batch(&self, _commands: usize, _errors: usize) {}
}

/// Nothing to flush.
#[derive(Debug)]
pub(crate) struct Telemetry;

impl Telemetry {
    pub(crate) async fn shutdown(self) {}
}

#[inline]
pub(crate) fn install(_settings: &OpenTelemetrySettings) -> anyhow::Result<Option<Telemetry>> {
    Ok(None)
}

#[inline]
pub(crate) fn api_span<'a>(
    _api: Api<'_>,
    _method: &'static str,
    _header: impl Fn(&'static str) -> Option<&'a str>,
) -> Span {
    Span
}

#[inline]
pub(crate) fn proxy_span<'a>(
    _call: &'static str,
    _proxy: &str,
    _endpoint: &str,
    _header: impl Fn(&'static str) -> Option<&'a str>,
) -> Span {
    Span
}

#[inline]
pub(crate) fn trace_headers() -> Vec<(&'static str, String)> {
    Vec::new()
}
