//! `POST /emulation`: a command frame for an emulated session, addressed by the `session` and
//! `node` of its connect reply. JSON: `{"session":..., "node":..., "data":"<frame as a JSON
//! string>"}`; Protobuf (`Content-Type: application/octet-stream`): an `EmulationRequest`.
//!
//! Answers: 204 once the frame is queued for the session (or handed to its node), 400 for a
//! malformed request, 404 for an unknown node or session, 413 for an oversized body, 415 for
//! a content type that is neither, 503 when the session's command queue was full (the session
//! is then closed with 3008).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use herald_hub::EmulationError;
use herald_proto::{EmulationRequest, Protocol};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::StreamTransports;
use super::connect::{body_protocol, read_body, with_cors};
use crate::transport::refusal::Refusal;

/// The JSON form of an emulation request: the frame travels as a string.
#[derive(Debug, Deserialize)]
struct JsonEmulation {
    session: String,
    node: String,
    data: String,
}

pub(super) async fn emulate(
    State(t): State<Arc<StreamTransports>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    with_cors(&t, &headers, async {
        let limit = t.settings.emulation.max_request_body_size;
        let (node, session, frame) = request(&headers, body, limit).await?;
        Ok(match t.hub.emulate(&node, &session, frame).await {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(err) => refusal(&err, &session),
        })
    })
    .await
}

/// `(node, session, frame)` out of the request.
async fn request(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<(String, String, Bytes), Refusal> {
    let protocol = body_protocol(headers)?;
    let body = read_body(body, limit).await?;
    match protocol {
        Protocol::Json => {
            let request: JsonEmulation = serde_json::from_slice(&body).map_err(|err| {
                tracing::info!(%err, "malformed emulation request");
                Refusal::BadRequest(format!("malformed emulation request: {err}"))
            })?;
            Ok((request.node, request.session, Bytes::from(request.data)))
        }
        Protocol::Protobuf => {
            let request: EmulationRequest = herald_proto::decode_message(Protocol::Protobuf, &body)
                .map_err(|err| {
                    tracing::info!(%err, "malformed emulation request");
                    Refusal::BadRequest(format!("malformed emulation request: {err}"))
                })?;
            Ok((request.node, request.session, request.data))
        }
    }
}

fn refusal(err: &EmulationError, session: &str) -> Response {
    let status = match err {
        EmulationError::UnknownNode | EmulationError::UnknownSession => StatusCode::NOT_FOUND,
        EmulationError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        EmulationError::Forward(_) => {
            tracing::warn!(%session, %err, "emulation request not forwarded");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    tracing::debug!(%session, %err, "emulation request refused");
    (status, format!("{err}\n")).into_response()
}
