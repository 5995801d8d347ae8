//! The facade with the `otel` feature: the OpenTelemetry SDK, an OTLP/HTTP (Protobuf) exporter
//! and W3C trace context propagation.
//!
//! The exporter reads the standard variables itself (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `..._HEADERS`, `..._TIMEOUT`, `..._COMPRESSION`); the
//! SDK reads the sampler (`OTEL_TRACES_SAMPLER`), the batch processor's limits (`OTEL_BSP_*`)
//! and the resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`). Herald only checks the
//! protocol: the exporter compiled in speaks `http/protobuf`, so asking for `grpc` or
//! `http/json` fails at start-up instead of sending nothing.

use std::borrow::Cow;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{FutureExt as _, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use super::{Api, ProxyReplyKind};
use crate::config::OpenTelemetrySettings;

/// The gRPC API's service, for span names and `rpc.service`.
const GRPC_API_SERVICE: &str = "centrifugal.centrifugo.api.CentrifugoApi";

/// The protocol variables, the per-signal one first (it wins), and the one value accepted.
const PROTOCOL_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
];
const HTTP_PROTOBUF: &str = "http/protobuf";

/// How long shutdown waits for the last spans to reach the collector.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// What [`install`] set up, read by every span; unset while tracing is off.
static TRACING: OnceLock<Tracing> = OnceLock::new();

#[derive(Debug)]
struct Tracing {
    tracer: SdkTracer,
    propagator: TraceContextPropagator,
    /// `opentelemetry.api`.
    api: bool,
}

/// Owns the tracer provider; [`Telemetry::shutdown`] exports what is still queued.
#[derive(Debug)]
pub(crate) struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Flushes and stops the exporter, waiting at most [`FLUSH_TIMEOUT`]. A collector that
    /// does not answer in time costs the spans still queued, with a warning.
    pub(crate) async fn shutdown(self) {
        let provider = self.provider;
        // The flush blocks on the exporter's thread: off the async workers.
        let flushed =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_TIMEOUT))
                .await;
        match flushed {
            Ok(Ok(())) => tracing::debug!("OpenTelemetry spans flushed"),
            Ok(Err(error)) => tracing::warn!(%error, "OpenTelemetry spans not all exported"),
            Err(error) => tracing::warn!(%error, "OpenTelemetry flush did not finish"),
        }
    }
}

/// Starts tracing when `settings.enabled`. Call it from a blocking context (the HTTP client
/// the exporter uses is a blocking one, and must not be built on an async worker). A second
/// call in the same process keeps the first set-up.
pub(crate) fn install(settings: &OpenTelemetrySettings) -> anyhow::Result<Option<Telemetry>> {
    if !settings.enabled {
        return Ok(None);
    }
    if TRACING.get().is_some() {
        tracing::warn!("OpenTelemetry is already set up in this process; keeping that set-up");
        return Ok(None);
    }
    check_protocol(|name| std::env::var(name).ok())?;
    crate::outbound::install_crypto_provider();
    let client = reqwest::blocking::Client::builder()
        .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("OpenTelemetry: cannot build the exporter's HTTP client")?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_http_client(client)
        .build()
        .context("OpenTelemetry: cannot build the OTLP exporter (check OTEL_EXPORTER_OTLP_*)")?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource())
        .build();
    let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, "herald");
    let tracing = Tracing {
        tracer,
        propagator: TraceContextPropagator::new(),
        api: settings.api,
    };
    if TRACING.set(tracing).is_err() {
        return Ok(None);
    }
    tracing::info!(
        api = settings.api,
        endpoint = %traces_endpoint(|name| std::env::var(name).ok()),
        "OpenTelemetry tracing on: proxy calls{} exported over OTLP/HTTP",
        if settings.api { " and API calls" } else { "" }
    );
    Ok(Some(Telemetry { provider }))
}

/// Refuses an OTLP protocol the exporter does not speak, naming the variable.
fn check_protocol(variable: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    let Some((name, value)) = PROTOCOL_VARIABLES.iter().find_map(|name| {
        variable(name)
            .filter(|value| !value.trim().is_empty())
            .map(|value| (*name, value))
    }) else {
        return Ok(());
    };
    if value.trim() == HTTP_PROTOBUF {
        return Ok(());
    }
    anyhow::bail!(
        "{name}={value:?}: herald exports traces over OTLP/HTTP with Protobuf only; \
         set it to {HTTP_PROTOBUF} (collectors listen for it on port 4318) or unset it"
    )
}

/// Where the exporter sends spans, resolved as it does (for the start-up log line).
fn traces_endpoint(variable: impl Fn(&str) -> Option<String>) -> String {
    let set = |name| variable(name).filter(|value| !value.is_empty());
    if let Some(url) = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return url;
    }
    let base =
        set("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_else(|| "http://localhost:4318".to_owned());
    format!("{}/v1/traces", base.trim_end_matches('/'))
}

/// The SDK's resource (service name and attributes from the environment), named `herald`
/// unless the environment names it.
fn resource() -> Resource {
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|name| !name.is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES")
            .is_ok_and(|attributes| attributes.contains("service.name="));
    let builder = Resource::builder()
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if named {
        builder.build()
    } else {
        builder.with_service_name("herald").build()
    }
}

/// A span, or none while tracing (or this kind of span) is off.
#[derive(Debug)]
pub(crate) struct Span(Option<Context>);

impl Span {
    /// No span: what a call that is not traced passes on.
    pub(crate) fn none() -> Self {
        Span(None)
    }

    /// Runs `future` with this span current, so what it calls (a proxy's request headers)
    /// sees it.
    pub(crate) async fn run<F: Future>(&self, future: F) -> F::Output {
        match &self.0 {
            Some(context) => future.with_context(context.clone()).await,
            None => future.await,
        }
    }

    /// Marks the call failed: `herald.error.code` when there is a protocol code, and an error
    /// status with `message`.
    pub(crate) fn fail(&self, code: Option<u32>, message: &str) {
        if let Some(context) = &self.0 {
            let span = context.span();
            if let Some(code) = code {
                span.set_attribute(KeyValue::new("herald.error.code", i64::from(code)));
            }
            span.set_status(Status::error(message.to_owned()));
        }
    }

    /// The HTTP status the call was answered with; 5xx is an error (server spans leave 4xx
    /// unset, as the HTTP semantic conventions say).
    pub(crate) fn http_status(&self, status: u16) {
        if let Some(context) = &self.0 {
            let span = context.span();
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
            if status >= 500 {
                span.set_status(Status::error(format!("HTTP {status}")));
            }
        }
    }

    /// How the backend answered a proxy call. Errors and disconnects are answers, not
    /// failures of the call: the status stays unset and the code is an attribute.
    pub(crate) fn proxy_reply(&self, reply: ProxyReplyKind) {
        if let Some(context) = &self.0 {
            let span = context.span();
            let (kind, code) = match reply {
                ProxyReplyKind::Result => ("result", None),
                ProxyReplyKind::Error(code) => ("error", Some(code)),
                ProxyReplyKind::Disconnect(code) => ("disconnect", Some(code)),
            };
            span.set_attribute(KeyValue::new("herald.proxy.reply", kind));
            if let Some(code) = code {
                span.set_attribute(KeyValue::new("herald.proxy.code", i64::from(code)));
            }
        }
    }

    /// A batch's size and how many of its commands failed.
    pub(crate) fn batch(&self, commands: usize, errors: usize) {
        if let Some(context) = &self.0 {
            let span = context.span();
            let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
            span.set_attribute(KeyValue::new("herald.batch.commands", count(commands)));
            span.set_attribute(KeyValue::new("herald.batch.errors", count(errors)));
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(context) = &self.0 {
            context.span().end();
        }
    }
}

/// A server span for one API call, the child of the caller's `traceparent` (`header` looks a
/// request header or gRPC metadata up by lower-case name); none unless `opentelemetry.api`.
pub(crate) fn api_span<'a>(
    api: Api<'_>,
    method: &'static str,
    header: impl Fn(&'static str) -> Option<&'a str>,
) -> Span {
    let Some(tracing) = TRACING.get().filter(|tracing| tracing.api) else {
        return Span(None);
    };
    let parent = tracing.parent(&header);
    let (name, attributes): (Cow<'static, str>, Vec<KeyValue>) = match api {
        Api::Http(path) => (
            format!("POST {path}").into(),
            vec![
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("url.path", path.to_owned()),
                KeyValue::new("herald.api.method", method),
            ],
        ),
        Api::Grpc => {
            let rpc_method = pascal_case(method);
            (
                format!("{GRPC_API_SERVICE}/{rpc_method}").into(),
                vec![
                    KeyValue::new("rpc.system", "grpc"),
                    KeyValue::new("rpc.service", GRPC_API_SERVICE),
                    KeyValue::new("rpc.method", rpc_method),
                    KeyValue::new("herald.api.method", method),
                ],
            )
        }
    };
    let span = tracing
        .tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
        .start_with_context(&tracing.tracer, &parent);
    Span(Some(parent.with_span(span)))
}

/// A client span for one proxy call (`call` is connect, refresh, subscribe, ...), the child of
/// the connection's `traceparent` when its transport headers carry one (`header`).
pub(crate) fn proxy_span<'a>(
    call: &'static str,
    proxy: &str,
    endpoint: &str,
    header: impl Fn(&'static str) -> Option<&'a str>,
) -> Span {
    let Some(tracing) = TRACING.get() else {
        return Span(None);
    };
    let parent = tracing.parent(&header);
    let span = tracing
        .tracer
        .span_builder(format!("proxy {call}"))
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("herald.proxy.call", call),
            KeyValue::new("herald.proxy.name", proxy.to_owned()),
            KeyValue::new("server.address", endpoint.to_owned()),
        ])
        .start_with_context(&tracing.tracer, &parent);
    Span(Some(parent.with_span(span)))
}

/// The trace context headers (`traceparent`, and `tracestate` when there is one) of the span
/// current in this task, for an outgoing request; none outside a span.
pub(crate) fn trace_headers() -> Vec<(&'static str, String)> {
    let mut headers = TraceHeaders(Vec::new());
    if let Some(tracing) = TRACING.get() {
        let current = Context::current();
        if current.has_active_span() {
            tracing.propagator.inject_context(&current, &mut headers);
        }
    }
    headers.0
}

impl Tracing {
    /// The context a caller's `traceparent` (and `tracestate`) describe; an empty one (a new
    /// trace) when there is none or it is malformed.
    fn parent<'a>(&self, header: &impl Fn(&'static str) -> Option<&'a str>) -> Context {
        let carrier = Carrier {
            traceparent: header("traceparent"),
            tracestate: header("tracestate"),
        };
        if carrier.traceparent.is_none() {
            return Context::new();
        }
        self.propagator
            .extract_with_context(&Context::new(), &carrier)
    }
}

/// The two headers W3C trace context reads, looked up once.
struct Carrier<'a> {
    traceparent: Option<&'a str>,
    tracestate: Option<&'a str>,
}

impl Extractor for Carrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => self.traceparent,
            "tracestate" => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// What the propagator writes, kept under the two names it uses.
struct TraceHeaders(Vec<(&'static str, String)>);

impl Injector for TraceHeaders {
    fn set(&mut self, key: &str, value: String) {
        let name = match key {
            "traceparent" => "traceparent",
            "tracestate" => "tracestate",
            _ => return,
        };
        self.0.push((name, value));
    }
}

/// `presence_stats` -> `PresenceStats`: the gRPC method of an API method.
fn pascal_case(method: &str) -> String {
    method
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_method_names() {
        assert_eq!(pascal_case("publish"), "Publish");
        assert_eq!(pascal_case("presence_stats"), "PresenceStats");
        assert_eq!(pascal_case("history_remove"), "HistoryRemove");
    }

    #[test]
    fn only_http_protobuf_is_accepted() {
        assert!(check_protocol(|_| None).is_ok());
        assert!(
            check_protocol(|_| Some(String::new())).is_ok(),
            "empty is unset"
        );
        assert!(check_protocol(|_| Some("http/protobuf".to_owned())).is_ok());
        let grpc = check_protocol(|name| {
            (name == "OTEL_EXPORTER_OTLP_PROTOCOL").then(|| "grpc".to_owned())
        })
        .expect_err("grpc is refused");
        assert!(
            grpc.to_string()
                .contains("OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\""),
            "{grpc}"
        );
        // The per-signal variable wins over the general one.
        let json = check_protocol(|name| {
            Some(match name {
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" => "http/json".to_owned(),
                _ => "http/protobuf".to_owned(),
            })
        })
        .expect_err("http/json is refused");
        assert!(json.to_string().contains("TRACES_PROTOCOL"), "{json}");
    }

    #[test]
    fn the_logged_endpoint_is_the_exporters() {
        assert_eq!(traces_endpoint(|_| None), "http://localhost:4318/v1/traces");
        let general = |name: &str| {
            (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://collector:4318/".to_owned())
        };
        assert_eq!(traces_endpoint(general), "http://collector:4318/v1/traces");
        let both = |name: &str| {
            Some(match name {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" => "http://t/x".to_owned(),
                _ => "http://general".to_owned(),
            })
        };
        assert_eq!(traces_endpoint(both), "http://t/x");
    }

    #[test]
    fn a_traceparent_becomes_the_parent() {
        let tracing = Tracing {
            tracer: opentelemetry::trace::TracerProvider::tracer(
                &SdkTracerProvider::builder().build(),
                "test",
            ),
            propagator: TraceContextPropagator::new(),
            api: true,
        };
        let parent = tracing.parent(&|name| {
            (name == "traceparent")
                .then_some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        });
        let span = parent.span();
        let context = span.span_context();
        assert_eq!(
            context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(context.span_id().to_string(), "00f067aa0ba902b7");
        assert!(context.is_remote());
        // A malformed one starts a new trace.
        let fresh = tracing.parent(&|name| (name == "traceparent").then_some("garbage"));
        assert!(!fresh.span().span_context().is_valid());
    }
}
