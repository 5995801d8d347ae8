//! `publish` and `broadcast`.

use futures_util::StreamExt as _;
use herald_hub::{ApiPublish, Hub};

use super::error::ApiError;
use super::payload;
use super::request::{BroadcastRequest, PublishRequest};
use super::response::{BroadcastResult, PublishResponse, PublishResult};

/// How many channels of one broadcast are published at once (Centrifugo's
/// `broadcastRequestMaxConcurrency`).
const BROADCAST_CONCURRENCY: usize = 1024;

/// Publishes into one channel. The namespace's `publication_data_format` decides whether an
/// empty payload is accepted (only `binary` does), as in Centrifugo. A publication dropped for
/// its `version` still answers with a result (the channel's current offset and epoch) and no
/// error: Centrifugo's `PublishResult` has no field to say so.
pub(crate) async fn publish(hub: &Hub, req: PublishRequest) -> Result<PublishResult, ApiError> {
    if req.channel.is_empty() {
        return Err(ApiError::BAD_REQUEST);
    }
    let data = payload::incoming(&req.data, &req.b64data)?;
    let request = ApiPublish {
        channel: req.channel,
        data,
        skip_history: req.skip_history,
        tags: req.tags,
        idempotency_key: Some(req.idempotency_key).filter(|key| !key.is_empty()),
        version: req.version,
        version_epoch: req.version_epoch,
        delta: req.delta,
    };
    publish_one(hub, request).await
}

/// Publishes the same payload into many channels; one response per channel, in order. A
/// request-level problem (no channels, bad `b64data`) fails the whole call instead.
pub(crate) async fn broadcast(
    hub: &Hub,
    req: BroadcastRequest,
) -> Result<BroadcastResult, ApiError> {
    if req.channels.is_empty() {
        return Err(ApiError::BAD_REQUEST);
    }
    let data = payload::incoming(&req.data, &req.b64data)?;
    let idempotency_key = Some(req.idempotency_key).filter(|key| !key.is_empty());
    let requests = req.channels.into_iter().map(|channel| ApiPublish {
        channel,
        data: data.clone(),
        skip_history: req.skip_history,
        tags: req.tags.clone(),
        idempotency_key: idempotency_key.clone(),
        version: req.version,
        version_epoch: req.version_epoch.clone(),
        delta: req.delta,
    });
    // `buffered` keeps the request order while running channels concurrently.
    let responses = futures_util::stream::iter(requests)
        .map(|request| async move { PublishResponse::from(publish_one(hub, request).await) })
        .buffered(BROADCAST_CONCURRENCY)
        .collect()
        .await;
    Ok(BroadcastResult { responses })
}

async fn publish_one(hub: &Hub, request: ApiPublish) -> Result<PublishResult, ApiError> {
    let position = hub.publish(request).await?;
    Ok(PublishResult {
        offset: position.offset,
        epoch: position.epoch,
    })
}
