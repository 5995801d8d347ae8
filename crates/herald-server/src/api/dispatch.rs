//! From a method name and a body to a result: decoding, running, and batches.

use futures_util::StreamExt as _;
use herald_hub::Hub;

use super::error::ApiError;
use super::request::{
    self, BatchCommand, BatchRequest, BroadcastRequest, ChannelRequest, ChannelsRequest,
    ConnectionsRequest, DisconnectRequest, HistoryRequest, InfoRequest, PublishRequest,
    RefreshRequest, RpcRequest, SubscribeRequest, UnsubscribeRequest,
};
use super::response::{BatchResponse, Outcome, Reply};
use super::{channel, connections, listing, node, publish};

/// How many commands of a parallel batch run at once (Centrifugo's
/// `batchRequestMaxConcurrency`).
const BATCH_CONCURRENCY: usize = 1024;

/// An API method, named by the last path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Publish,
    Broadcast,
    Subscribe,
    Unsubscribe,
    Disconnect,
    Refresh,
    Presence,
    PresenceStats,
    History,
    HistoryRemove,
    Channels,
    Info,
    Rpc,
    Connections,
    Batch,
}

impl Method {
    /// Every method, each served at `{prefix}/{name}`.
    pub(crate) const ALL: [Method; 15] = [
        Method::Publish,
        Method::Broadcast,
        Method::Subscribe,
        Method::Unsubscribe,
        Method::Disconnect,
        Method::Refresh,
        Method::Presence,
        Method::PresenceStats,
        Method::History,
        Method::HistoryRemove,
        Method::Channels,
        Method::Info,
        Method::Rpc,
        Method::Connections,
        Method::Batch,
    ];

    /// The path segment and batch key.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Method::Publish => "publish",
            Method::Broadcast => "broadcast",
            Method::Subscribe => "subscribe",
            Method::Unsubscribe => "unsubscribe",
            Method::Disconnect => "disconnect",
            Method::Refresh => "refresh",
            Method::Presence => "presence",
            Method::PresenceStats => "presence_stats",
            Method::History => "history",
            Method::HistoryRemove => "history_remove",
            Method::Channels => "channels",
            Method::Info => "info",
            Method::Rpc => "rpc",
            Method::Connections => "connections",
            Method::Batch => "batch",
        }
    }
}

/// A decoded request body.
// Made once per request and matched at once; boxing the larger variant would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Call {
    /// One method, answered with `{"result"}` or `{"error"}`.
    Command(Command),
    /// Many methods, answered with `{"replies"}`.
    Batch(BatchRequest),
}

impl Call {
    /// Decodes the body of `method`; an error means a malformed body (HTTP 400).
    pub(crate) fn decode(method: Method, body: &[u8]) -> Result<Call, serde_json::Error> {
        use request::decode;
        let command = match method {
            Method::Publish => Command::Publish(decode(body)?),
            Method::Broadcast => Command::Broadcast(decode(body)?),
            Method::Subscribe => Command::Subscribe(decode(body)?),
            Method::Unsubscribe => Command::Unsubscribe(decode(body)?),
            Method::Disconnect => Command::Disconnect(decode(body)?),
            Method::Refresh => Command::Refresh(decode(body)?),
            Method::Presence => Command::Presence(decode(body)?),
            Method::PresenceStats => Command::PresenceStats(decode(body)?),
            Method::History => Command::History(decode(body)?),
            Method::HistoryRemove => Command::HistoryRemove(decode(body)?),
            Method::Channels => Command::Channels(decode(body)?),
            Method::Info => Command::Info(decode(body)?),
            Method::Rpc => Command::Rpc(decode(body)?),
            Method::Connections => Command::Connections(decode(body)?),
            Method::Batch => return Ok(Call::Batch(decode(body)?)),
        };
        Ok(Call::Command(command))
    }
}

/// One method call with its request.
#[derive(Debug)]
pub(crate) enum Command {
    Publish(PublishRequest),
    Broadcast(BroadcastRequest),
    Subscribe(SubscribeRequest),
    Unsubscribe(UnsubscribeRequest),
    Disconnect(DisconnectRequest),
    Refresh(RefreshRequest),
    Presence(ChannelRequest),
    PresenceStats(ChannelRequest),
    History(HistoryRequest),
    HistoryRemove(ChannelRequest),
    Channels(ChannelsRequest),
    Info(InfoRequest),
    Rpc(RpcRequest),
    Connections(ConnectionsRequest),
}

impl Command {
    /// Runs the call against the hub.
    pub(crate) async fn execute(self, hub: &Hub) -> Result<Outcome, ApiError> {
        match self {
            Command::Publish(req) => publish::publish(hub, req).await.map(Outcome::Publish),
            Command::Broadcast(req) => publish::broadcast(hub, req).await.map(Outcome::Broadcast),
            Command::Subscribe(req) => connections::subscribe(hub, req)
                .await
                .map(Outcome::Subscribe),
            Command::Unsubscribe(req) => connections::unsubscribe(hub, req)
                .await
                .map(Outcome::Unsubscribe),
            Command::Disconnect(req) => connections::disconnect(hub, req)
                .await
                .map(Outcome::Disconnect),
            Command::Refresh(req) => connections::refresh(hub, req).await.map(Outcome::Refresh),
            Command::Presence(req) => channel::presence(hub, req).await.map(Outcome::Presence),
            Command::PresenceStats(req) => channel::presence_stats(hub, req)
                .await
                .map(Outcome::PresenceStats),
            Command::History(req) => channel::history(hub, req).await.map(Outcome::History),
            Command::HistoryRemove(req) => channel::history_remove(hub, req)
                .await
                .map(Outcome::HistoryRemove),
            Command::Channels(req) => node::channels(hub, req).await.map(Outcome::Channels),
            Command::Info(InfoRequest {}) => Ok(Outcome::Info(node::info(hub))),
            Command::Rpc(req) => node::rpc(req),
            Command::Connections(req) => listing::connections(hub, req)
                .await
                .map(Outcome::Connections),
        }
    }

    /// The method name, for logs.
    pub(crate) fn name(&self) -> &'static str {
        let method = match self {
            Command::Publish(_) => Method::Publish,
            Command::Broadcast(_) => Method::Broadcast,
            Command::Subscribe(_) => Method::Subscribe,
            Command::Unsubscribe(_) => Method::Unsubscribe,
            Command::Disconnect(_) => Method::Disconnect,
            Command::Refresh(_) => Method::Refresh,
            Command::Presence(_) => Method::Presence,
            Command::PresenceStats(_) => Method::PresenceStats,
            Command::History(_) => Method::History,
            Command::HistoryRemove(_) => Method::HistoryRemove,
            Command::Channels(_) => Method::Channels,
            Command::Info(_) => Method::Info,
            Command::Rpc(_) => Method::Rpc,
            Command::Connections(_) => Method::Connections,
        };
        method.name()
    }
}

impl BatchCommand {
    /// The command's method: the first set field in Centrifugo's order (its `processCmd`
    /// checks them in this sequence); `None` when no known method is set.
    fn into_command(self) -> Option<Command> {
        let BatchCommand {
            publish,
            broadcast,
            subscribe,
            unsubscribe,
            disconnect,
            history,
            history_remove,
            presence,
            presence_stats,
            info,
            rpc,
            refresh,
            channels,
            connections,
        } = self;
        publish
            .map(Command::Publish)
            .or(broadcast.map(Command::Broadcast))
            .or(subscribe.map(Command::Subscribe))
            .or(unsubscribe.map(Command::Unsubscribe))
            .or(disconnect.map(Command::Disconnect))
            .or(history.map(Command::History))
            .or(history_remove.map(Command::HistoryRemove))
            .or(presence.map(Command::Presence))
            .or(presence_stats.map(Command::PresenceStats))
            .or(info.map(Command::Info))
            .or(rpc.map(Command::Rpc))
            .or(refresh.map(Command::Refresh))
            .or(channels.map(Command::Channels))
            .or(connections.map(Command::Connections))
    }
}

/// Runs a command and logs an internal failure (the caller only sees code 100). `protocol`
/// (`http` or `grpc`) labels its metrics.
pub(crate) async fn run(
    hub: &Hub,
    command: Command,
    protocol: &'static str,
) -> Result<Outcome, ApiError> {
    let name = command.name();
    let started = std::time::Instant::now();
    let result = command.execute(hub).await;
    if let Some(m) = herald_hub::metrics() {
        m.api_duration.observe((protocol, name), started.elapsed());
        if let Err(err) = &result {
            m.api_errors.inc((protocol, name, err.code));
        }
    }
    if let Err(err) = &result
        && err.code == ApiError::INTERNAL.code
    {
        tracing::warn!(method = name, "API call failed with an internal error");
    }
    result
}

/// Runs a batch: one reply per command, in order. A `null` command gets 107, a command with
/// no known method 104, as in Centrifugo. With `parallel`, commands run concurrently.
pub(crate) async fn batch(hub: &Hub, req: BatchRequest, protocol: &'static str) -> BatchResponse {
    let started = std::time::Instant::now();
    let concurrency = if req.parallel { BATCH_CONCURRENCY } else { 1 };
    let replies = futures_util::stream::iter(req.commands)
        .map(|command| async move {
            let result = match command {
                None => Err(ApiError::BAD_REQUEST),
                Some(command) => match command.into_command() {
                    None => Err(ApiError::NOT_FOUND),
                    Some(command) => run(hub, command, protocol).await,
                },
            };
            Reply::from(result)
        })
        .buffered(concurrency)
        .collect()
        .await;
    if let Some(m) = herald_hub::metrics() {
        m.api_duration
            .observe((protocol, "batch"), started.elapsed());
    }
    BatchResponse { replies }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_path_segments() {
        let mut names: Vec<_> = Method::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Method::ALL.len());
    }

    #[test]
    fn decode_picks_the_request_type() {
        let call = Call::decode(Method::Presence, br#"{"channel":"a"}"#).expect("decodes");
        assert!(
            matches!(call, Call::Command(Command::Presence(ChannelRequest { ref channel })) if channel == "a")
        );
        assert!(matches!(
            Call::decode(Method::Batch, br#"{"commands":[]}"#),
            Ok(Call::Batch(_))
        ));
        assert!(Call::decode(Method::Info, b"[").is_err());
    }

    #[test]
    fn batch_command_uses_centrifugo_priority() {
        let cmd: BatchCommand =
            serde_json::from_str(r#"{"presence":{"channel":"p"},"publish":{"channel":"x"}}"#)
                .expect("decodes");
        assert_eq!(cmd.into_command().map(|c| c.name()), Some("publish"));
        let cmd: BatchCommand =
            serde_json::from_str(r#"{"publish":null,"refresh":{"user":"u"}}"#).expect("decodes");
        assert_eq!(cmd.into_command().map(|c| c.name()), Some("refresh"));
        let cmd: BatchCommand = serde_json::from_str(r#"{"batch":{}}"#).expect("decodes");
        assert!(cmd.into_command().is_none());
    }
}
