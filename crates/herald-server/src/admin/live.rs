//! The live view: `GET {prefix}/admin/live?channel=<name>` streams the channel's publications
//! as Server-Sent Events (`data: {"channel":..,"pub":{..}}`), from a server-side watch
//! (`herald_hub::Watch`), so publications made on any node appear. The browser reads it with
//! `fetch` (not `EventSource`) so the token travels in a header, never in the URL.
//!
//! Bounded as a connection is (the watch's queue, `client.queue_max_size`; a viewer that does
//! not keep up is cut off and the stream ends); the watch is released when the response body
//! is dropped, i.e. when the browser closes the request.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use bytes::Bytes;
use herald_hub::{Hub, HubError, Watch};

/// A comment line sent first, so the browser sees the response start at once.
const OPENING: &[u8] = b": watching\n\n";

/// The stream of `channel`'s publications, or 400 for a channel the hub refuses.
pub(super) async fn live(hub: &Hub, channel: &str) -> Response {
    let watch = match hub.watch(channel).await {
        Ok(watch) => watch,
        Err(err @ (HubError::BadRequest | HubError::UnknownChannel)) => {
            return (StatusCode::BAD_REQUEST, format!("{}\n", err.code().message)).into_response();
        }
        Err(err) => {
            tracing::warn!(%channel, %err, "admin live view not started");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    tracing::debug!(channel = watch.channel(), "admin live view opened");
    let opening = futures_util::stream::once(async { Ok(Bytes::from_static(OPENING)) });
    let events = futures_util::stream::unfold(watch, |watch: Watch| async move {
        let messages = watch.next().await?;
        Some((Ok::<_, std::io::Error>(events(&messages)), watch))
    });
    let body = Body::from_stream(futures_util::StreamExt::chain(opening, events));
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// One SSE event per push. The pushes are single-line JSON (the encoder writes no newlines).
fn events(messages: &[Bytes]) -> Bytes {
    let mut out = Vec::new();
    for message in messages {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(message);
        out.extend_from_slice(b"\n\n");
    }
    Bytes::from(out)
}
