//! Per-channel reads and maintenance: `presence`, `presence_stats`, `history`,
//! `history_remove`. The hub answers 102 for an unknown namespace and 108 when the feature is
//! off for the channel.

use herald_engine::StreamPosition;
use herald_hub::Hub;

use super::error::ApiError;
use super::request::{ChannelRequest, HistoryRequest};
use super::response::{Empty, HistoryResult, PresenceResult, PresenceStatsResult};

/// Who is in a channel.
pub(crate) async fn presence(hub: &Hub, req: ChannelRequest) -> Result<PresenceResult, ApiError> {
    let channel = required(&req.channel)?;
    Ok(PresenceResult::new(hub.presence(channel).await?))
}

/// How many connections and users are in a channel.
pub(crate) async fn presence_stats(
    hub: &Hub,
    req: ChannelRequest,
) -> Result<PresenceStatsResult, ApiError> {
    let channel = required(&req.channel)?;
    let stats = hub.presence_stats(channel).await?;
    Ok(PresenceStatsResult {
        num_clients: stats.num_clients,
        num_users: stats.num_users,
    })
}

/// Publications of a channel stream and its current position.
pub(crate) async fn history(hub: &Hub, req: HistoryRequest) -> Result<HistoryResult, ApiError> {
    let channel = required(&req.channel)?;
    let since = req.since.map(|since| StreamPosition {
        offset: since.offset,
        epoch: since.epoch,
    });
    let history = hub.history(channel, req.limit, since, req.reverse).await?;
    Ok(HistoryResult {
        publications: history.publications,
        epoch: history.position.epoch,
        offset: history.position.offset,
    })
}

/// Drops a channel's publications; its position stays.
pub(crate) async fn history_remove(hub: &Hub, req: ChannelRequest) -> Result<Empty, ApiError> {
    let channel = required(&req.channel)?;
    hub.history_remove(channel).await?;
    Ok(Empty {})
}

fn required(channel: &str) -> Result<&str, ApiError> {
    if channel.is_empty() {
        Err(ApiError::BAD_REQUEST)
    } else {
        Ok(channel)
    }
}
