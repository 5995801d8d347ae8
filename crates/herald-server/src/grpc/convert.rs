//! Between the gRPC API's Protobuf messages and the HTTP API's request and result structs, so
//! both front-ends run the same methods (`crate::api::dispatch`). Requests: the Protobuf
//! `bytes` payloads become the requests' raw payloads as they are (no copy). Results: one
//! conversion into the batch `Reply`, from which each method's response takes its field.
//!
//! The PRO-only fields of the requests (`label_filter`, `all_users`) are ignored, as the HTTP
//! API ignores them.

use herald_grpc::api as pb;

use crate::api::dispatch::Command;
use crate::api::error::ApiError;
use crate::api::listing::ConnectionsResult;
use crate::api::request::{
    BatchCommand, BatchRequest, BoolValue, BroadcastRequest, ChannelRequest, ChannelsRequest,
    ConnectionsRequest, DisconnectReason, DisconnectRequest, HistoryRequest, InfoRequest,
    PublishRequest, RefreshRequest, RpcRequest, StreamPosition, SubscribeOverride,
    SubscribeRequest, UnsubscribeRequest,
};
use crate::api::response::{BroadcastResult, NodeResult, Outcome, PublishResponse, PublishResult};

pub(super) fn publish(req: pb::PublishRequest) -> PublishRequest {
    PublishRequest {
        channel: req.channel,
        data: req.data.into(),
        b64data: req.b64data,
        skip_history: req.skip_history,
        tags: req.tags,
        idempotency_key: req.idempotency_key,
        delta: req.delta,
        version: req.version,
        version_epoch: req.version_epoch,
    }
}

pub(super) fn broadcast(req: pb::BroadcastRequest) -> BroadcastRequest {
    BroadcastRequest {
        channels: req.channels,
        data: req.data.into(),
        b64data: req.b64data,
        skip_history: req.skip_history,
        tags: req.tags,
        idempotency_key: req.idempotency_key,
        delta: req.delta,
        version: req.version,
        version_epoch: req.version_epoch,
    }
}

pub(super) fn subscribe(req: pb::SubscribeRequest) -> SubscribeRequest {
    SubscribeRequest {
        user: req.user,
        channel: req.channel,
        client: req.client,
        session: req.session,
        info: req.info.into(),
        b64info: req.b64info,
        data: req.data.into(),
        b64data: req.b64data,
        expire_at: req.expire_at,
        recover_since: req.recover_since.map(position),
        overrides: req.r#override.map(|o| SubscribeOverride {
            presence: o.presence.map(bool_value),
            join_leave: o.join_leave.map(bool_value),
            force_push_join_leave: o.force_push_join_leave.map(bool_value),
            force_positioning: o.force_positioning.map(bool_value),
            force_recovery: o.force_recovery.map(bool_value),
        }),
    }
}

pub(super) fn unsubscribe(req: pb::UnsubscribeRequest) -> UnsubscribeRequest {
    UnsubscribeRequest {
        user: req.user,
        channel: req.channel,
        client: req.client,
        session: req.session,
    }
}

pub(super) fn disconnect(req: pb::DisconnectRequest) -> DisconnectRequest {
    DisconnectRequest {
        user: req.user,
        client: req.client,
        session: req.session,
        whitelist: req.whitelist,
        disconnect: req.disconnect.map(|d| DisconnectReason {
            code: d.code,
            reason: d.reason,
        }),
    }
}

pub(super) fn refresh(req: pb::RefreshRequest) -> RefreshRequest {
    RefreshRequest {
        user: req.user,
        client: req.client,
        session: req.session,
        expired: req.expired,
        expire_at: req.expire_at,
        info: req.info.into(),
    }
}

pub(super) fn channel(channel: String) -> ChannelRequest {
    ChannelRequest { channel }
}

pub(super) fn history(req: pb::HistoryRequest) -> HistoryRequest {
    HistoryRequest {
        channel: req.channel,
        limit: req.limit,
        since: req.since.map(position),
        reverse: req.reverse,
    }
}

pub(super) fn channels(req: pb::ChannelsRequest) -> ChannelsRequest {
    ChannelsRequest {
        pattern: req.pattern,
    }
}

/// `Connections`: the request has no paging fields, so gRPC gets the first page (1000
/// connections); `label_filter` (PRO) is ignored, `expression` is refused as over HTTP.
pub(super) fn connections(req: pb::ConnectionsRequest) -> ConnectionsRequest {
    ConnectionsRequest {
        user: req.user,
        expression: req.expression,
        ..ConnectionsRequest::default()
    }
}

pub(super) fn rpc(req: pb::RpcRequest) -> RpcRequest {
    RpcRequest { method: req.method }
}

/// A batch: each command's first set method in Centrifugo's order (as for the HTTP API); a
/// command with none Herald serves (a PRO or map method) is answered with 104.
pub(super) fn batch(req: pb::BatchRequest) -> BatchRequest {
    BatchRequest {
        commands: req
            .commands
            .into_iter()
            .map(|c| {
                Some(BatchCommand {
                    publish: c.publish.map(publish),
                    broadcast: c.broadcast.map(broadcast),
                    subscribe: c.subscribe.map(subscribe),
                    unsubscribe: c.unsubscribe.map(unsubscribe),
                    disconnect: c.disconnect.map(disconnect),
                    history: c.history.map(history),
                    history_remove: c.history_remove.map(|r| channel(r.channel)),
                    presence: c.presence.map(|r| channel(r.channel)),
                    presence_stats: c.presence_stats.map(|r| channel(r.channel)),
                    info: c.info.map(|pb::InfoRequest {}| InfoRequest {}),
                    rpc: c.rpc.map(rpc),
                    refresh: c.refresh.map(refresh),
                    channels: c.channels.map(channels),
                    connections: c.connections.map(connections),
                })
            })
            .collect(),
        parallel: req.parallel,
    }
}

/// `Command::Info`, which has no fields.
pub(super) fn info() -> Command {
    Command::Info(InfoRequest {})
}

fn position(p: pb::StreamPosition) -> StreamPosition {
    StreamPosition {
        offset: p.offset,
        epoch: p.epoch,
    }
}

fn bool_value(v: pb::BoolValue) -> BoolValue {
    BoolValue { value: v.value }
}

/// The reply of one method call: `error`, or the field of the method's result.
pub(super) fn reply(result: Result<Outcome, ApiError>) -> pb::Reply {
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(err) => {
            return pb::Reply {
                error: Some(error(err)),
                ..Default::default()
            };
        }
    };
    let mut reply = pb::Reply::default();
    match outcome {
        Outcome::Publish(r) => reply.publish = Some(publish_result(r)),
        Outcome::Broadcast(r) => reply.broadcast = Some(broadcast_result(r)),
        Outcome::Subscribe(_) => reply.subscribe = Some(pb::SubscribeResult {}),
        Outcome::Unsubscribe(_) => reply.unsubscribe = Some(pb::UnsubscribeResult {}),
        Outcome::Disconnect(_) => reply.disconnect = Some(pb::DisconnectResult {}),
        Outcome::Refresh(_) => reply.refresh = Some(pb::RefreshResult {}),
        Outcome::HistoryRemove(_) => reply.history_remove = Some(pb::HistoryRemoveResult {}),
        Outcome::Presence(r) => {
            reply.presence = Some(pb::PresenceResult {
                presence: r
                    .presence
                    .into_iter()
                    .map(|(client, info)| (client, client_info(info)))
                    .collect(),
            });
        }
        Outcome::PresenceStats(r) => {
            reply.presence_stats = Some(pb::PresenceStatsResult {
                num_clients: r.num_clients,
                num_users: r.num_users,
            });
        }
        Outcome::History(r) => {
            reply.history = Some(pb::HistoryResult {
                publications: r
                    .publications
                    .into_iter()
                    .map(|p| pb::Publication {
                        data: p.data.into(),
                        info: p.info.map(client_info),
                        offset: p.offset,
                        tags: p.tags,
                    })
                    .collect(),
                epoch: r.epoch,
                offset: r.offset,
            });
        }
        Outcome::Channels(r) => {
            reply.channels = Some(pb::ChannelsResult {
                channels: r
                    .channels
                    .into_iter()
                    .map(|(name, info)| {
                        let num_clients = info.num_clients;
                        (name, pb::ChannelInfo { num_clients })
                    })
                    .collect(),
            });
        }
        Outcome::Info(r) => {
            reply.info = Some(pb::InfoResult {
                nodes: r.nodes.into_iter().map(node).collect(),
            });
        }
        Outcome::Connections(r) => reply.connections = Some(connections_result(r)),
    }
    reply
}

/// PRO's `ConnectionsResult`; Herald's `ip`, `node` and `info` have no field in it.
pub(super) fn connections_result(r: ConnectionsResult) -> pb::ConnectionsResult {
    let connections = r
        .page
        .connections
        .into_iter()
        .map(|c| {
            let state = pb::ConnectionState {
                channels: c
                    .channels
                    .into_iter()
                    .map(|ch| (ch, pb::ChannelContext { source: 0 }))
                    .collect(),
                ..Default::default()
            };
            let info = pb::ConnectionInfo {
                transport: c.transport,
                protocol: c.protocol,
                user: c.user,
                state: Some(state),
                connected_at_ms: c.connected_at.saturating_mul(1000),
                // Not measured.
                ping_pong_latency_ms: -1,
                ..Default::default()
            };
            (c.client, info)
        })
        .collect();
    pb::ConnectionsResult { connections }
}

pub(super) fn error(err: ApiError) -> pb::Error {
    pb::Error {
        code: err.code,
        message: err.message.to_owned(),
    }
}

fn publish_result(r: PublishResult) -> pb::PublishResult {
    pb::PublishResult {
        offset: r.offset,
        epoch: r.epoch,
    }
}

fn broadcast_result(r: BroadcastResult) -> pb::BroadcastResult {
    pb::BroadcastResult {
        responses: r
            .responses
            .into_iter()
            .map(|PublishResponse { error: e, result }| pb::PublishResponse {
                error: e.map(error),
                result: result.map(publish_result),
            })
            .collect(),
    }
}

fn client_info(info: herald_engine::ClientInfo) -> pb::ClientInfo {
    pb::ClientInfo {
        user: info.user,
        client: info.client,
        conn_info: info.conn_info.into(),
        chan_info: info.chan_info.into(),
    }
}

fn node(n: NodeResult) -> pb::NodeResult {
    pb::NodeResult {
        uid: n.uid,
        name: n.name,
        version: n.version,
        num_clients: n.num_clients,
        num_users: n.num_users,
        num_channels: n.num_channels,
        uptime: n.uptime,
        metrics: None,
        process: None,
        num_subs: n.num_subs,
    }
}
