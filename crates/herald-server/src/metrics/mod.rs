//! `prometheus.*`: the `/metrics` endpoint. The counters live in the hub
//! (`herald_hub::metrics`); this module reads them, and the hub's state for the gauges, at
//! scrape time and writes Prometheus's text format (`render.rs`, the one place that spells
//! metric names).

mod render;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use herald_hub::Hub;

use crate::config::PrometheusSettings;
use crate::webhooks::WebhookStats;

pub use render::{Sources, render};

/// The content type of the text exposition format, version 0.0.4.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Adds the metrics route to `app` when `settings.enabled` (otherwise the path is a 404 like
/// any unknown one).
pub(crate) fn route(
    app: Router,
    settings: &PrometheusSettings,
    hub: &Hub,
    webhooks: Option<Arc<WebhookStats>>,
) -> Router {
    if !settings.enabled {
        return app;
    }
    let hub = hub.clone();
    app.route(
        &settings.handler_prefix,
        get(move || {
            let sources = Sources {
                hub: hub.clone(),
                webhooks: webhooks.clone(),
            };
            async move {
                let body = render(&sources);
                ([(http::header::CONTENT_TYPE, CONTENT_TYPE)], body)
            }
        }),
    )
}
