//! Subscribing and unsubscribing: the permission order (`docs/protocol.md` §4.3), positioning,
//! recovery, and the pending-then-activate handshake with the registry that keeps the stream
//! free of gaps and duplicates.

use bytes::Bytes;
use herald_engine::{HistoryFilter, HistoryLimit, StreamPosition};
use herald_proto::{
    DisconnectCode, Protocol, Reply, SubscribeRequest, SubscribeResult, Unsubscribe,
    UnsubscribeCode, UnsubscribeRequest,
};

use super::{Flow, Session, Subscription};
use crate::channels::ResolvedChannel;
use crate::convert::proto_publication;
use crate::node::now_unix_secs;
use crate::registry::NewSubscriber;
use crate::{ChannelOptions, DeltaType, HubError, SubscribeOverride, SubscriptionType, TokenError};

/// Bit of `SubscribeRequest.flag`: fail with 112 instead of subscribing unrecovered.
const FLAG_REJECT_UNRECOVERED: i64 = 2;

/// `SubscribeRequest.type` of map (1), map_clients (2), map_users (3) and shared_poll (4)
/// subscriptions, which Herald does not serve.
const MAP_OR_SHARED_POLL: std::ops::RangeInclusive<i32> = 1..=4;

/// Whether a stream subscribe (`type` 0; the others were refused before the channel was
/// resolved) may go ahead in a namespace of `kind`, with the codes Centrifugo gives:
///
/// - the centrifuge library answers a map or shared-poll `type` with 108 when the node has no
///   handler for it (`client.go` `handleSubscribe`, `client_map.go`), which is Herald's case
///   for every channel (checked before this, as the library does before resolving options);
/// - a stream subscribe to a `shared_poll` namespace is 107 (the library, before any handler);
/// - a stream subscribe to a map namespace, or an unknown `type`, is 103: Centrifugo's
///   `isSubscriptionTypeAllowed` (`internal/client/handler.go`).
fn stream_type_allowed(r#type: i32, kind: SubscriptionType) -> Result<(), HubError> {
    match kind {
        SubscriptionType::SharedPoll => Err(HubError::BadRequest),
        SubscriptionType::Map | SubscriptionType::MapClients | SubscriptionType::MapUsers => {
            Err(HubError::PermissionDenied)
        }
        SubscriptionType::Stream if r#type != 0 => Err(HubError::PermissionDenied),
        SubscriptionType::Stream => Ok(()),
    }
}

/// Everything decided about a subscription before it is registered.
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub(super) channel: String,
    pub(super) positioned: bool,
    pub(super) recoverable: bool,
    /// Position to recover from, when the client asked for recovery.
    pub(super) recover_since: Option<StreamPosition>,
    pub(super) reject_unrecovered: bool,
    pub(super) presence: bool,
    pub(super) join_leave: bool,
    pub(super) push_join_leave: bool,
    pub(super) chan_info: Bytes,
    pub(super) data: Bytes,
    pub(super) expire_at: Option<i64>,
    /// The namespace's sub_refresh proxy extends the subscription when it expires.
    pub(super) refresh_by_proxy: bool,
    /// Subscribed by the server rather than by a client command.
    pub(super) server_side: bool,
    /// Delta compression negotiated: the client asked for fossil and the namespace allows it.
    pub(super) delta: bool,
}

impl Plan {
    /// Applies namespace options and token overrides; `wants_*` are the client's flags, already
    /// checked against what it may ask for.
    pub(super) fn new(
        channel: &str,
        options: &ChannelOptions,
        overrides: &SubscribeOverride,
        wants_positioned: bool,
        wants_recoverable: bool,
    ) -> Self {
        let history = options.history_enabled();
        let force_recovery = overrides.force_recovery.unwrap_or(options.force_recovery);
        let force_positioning = overrides
            .force_positioning
            .unwrap_or(options.force_positioning);
        let recoverable = history && (force_recovery || wants_recoverable);
        let positioned = history && (recoverable || force_positioning || wants_positioned);
        let join_leave = overrides.join_leave.unwrap_or(options.join_leave);
        Self {
            channel: channel.to_owned(),
            positioned,
            recoverable,
            presence: overrides.presence.unwrap_or(options.presence),
            join_leave,
            push_join_leave: join_leave
                && overrides
                    .force_push_join_leave
                    .unwrap_or(options.force_push_join_leave),
            ..Default::default()
        }
    }
}

impl Session {
    pub(super) async fn on_subscribe(&mut self, id: u32, request: SubscribeRequest) -> Flow {
        if request.channel.is_empty() {
            return self.disconnect(DisconnectCode::BAD_REQUEST);
        }
        if MAP_OR_SHARED_POLL.contains(&request.r#type) {
            return self.send_error(id, HubError::NotAvailable);
        }
        if !request.delta.is_empty() && DeltaType::from_name(&request.delta).is_none() {
            // Centrifugo's rule: a delta type nobody knows is a broken client, not a choice.
            tracing::info!(client = %self.client, delta = %request.delta, "unknown delta type");
            return self.disconnect(DisconnectCode::BAD_REQUEST);
        }
        let hub = self.hub.clone();
        let resolved = match hub.shared.rules.resolve(&request.channel) {
            Ok(resolved) => resolved,
            Err(err) => return self.send_error(id, err),
        };
        if let Err(err) = stream_type_allowed(request.r#type, resolved.options.subscription_type) {
            return self.send_error(id, err);
        }
        if request.tf.is_some() {
            // A tags filter (Centrifugo 6.4) is not implemented: subscribing anyway would
            // deliver what the client asked to have filtered out. Centrifugo answers 107 to a
            // filter where `allow_tags_filter` is off, which is Herald's case everywhere.
            return self.send_error(id, HubError::BadRequest);
        }
        if self.subs.contains_key(&request.channel) {
            return self.send_error(id, HubError::AlreadySubscribed);
        }
        if self.subs.len() >= hub.shared.options.client.channel_limit {
            return self.send_error(id, HubError::LimitExceeded);
        }
        let mut stream = None;
        let options = resolved.options;
        let proxied = proxies_decide(&request, &resolved);
        let subscribe_proxy = options.subscribe_proxy.clone().filter(|_| proxied);
        let stream_proxy = options.subscribe_stream_proxy.clone().filter(|_| proxied);
        let decided = match (subscribe_proxy, stream_proxy) {
            (Some(proxy), _) => self
                .subscribe_via_proxy(proxy, &request, options)
                .await
                .map(|mut plan| {
                    plan.delta = DeltaType::from_name(&request.delta)
                        .is_some_and(|t| options.allowed_delta_types.contains(&t));
                    plan
                }),
            (None, Some(proxy)) => self
                .subscribe_via_stream_proxy(proxy, &request, options)
                .await
                .map(|(plan, publications)| {
                    stream = Some(publications);
                    plan
                }),
            (None, None) => self.authorize_subscribe(&request, &resolved),
        };
        let mut plan = match decided {
            Ok(plan) => plan,
            Err(Denied::Error(err)) => return self.send_error(id, err),
            Err(Denied::Disconnect(code)) => return self.disconnect(code),
            Err(Denied::Custom(error)) => return self.send_client_error(id, error),
            Err(Denied::Close(disconnect)) => return self.close_outbox(disconnect),
        };
        plan.refresh_by_proxy = resolved.options.sub_refresh_proxy.is_some();
        let prepared = match self.prepare(plan).await {
            Ok(prepared) => prepared,
            Err(err) => return self.send_error(id, err),
        };
        let reply = Reply {
            id,
            subscribe: Some(prepared.result.clone()),
            ..Default::default()
        };
        let bytes = match self.encode(&reply) {
            Ok(bytes) => bytes,
            Err(disconnect) => {
                self.abandon(&prepared.plan).await;
                return self.close_outbox(disconnect);
            }
        };
        let channel = prepared.plan.channel.clone();
        // The registry queues this reply (before the publications buffered meanwhile).
        self.count_reply(None);
        self.activate(prepared, Some(bytes)).await;
        if let Some(publications) = stream {
            self.forward_stream(channel, publications);
        }
        Flow::Continue
    }

    pub(super) async fn on_unsubscribe(&mut self, id: u32, request: UnsubscribeRequest) -> Flow {
        if request.channel.is_empty() {
            return self.disconnect(DisconnectCode::BAD_REQUEST);
        }
        self.remove_subscription(&request.channel).await;
        let reply = Reply {
            id,
            unsubscribe: Some(Default::default()),
            ..Default::default()
        };
        self.send_reply(&reply)
    }

    /// Unsubscribes on the server's initiative and tells the client with an unsubscribe push.
    pub(super) async fn unsubscribe_with_push(
        &mut self,
        channel: &str,
        code: UnsubscribeCode,
    ) -> Flow {
        if !self.subs.contains_key(channel) {
            return Flow::Continue;
        }
        self.remove_subscription(channel).await;
        let push = herald_proto::Push {
            channel: channel.to_owned(),
            unsubscribe: Some(Unsubscribe {
                code: code.code,
                reason: code.reason.to_owned(),
            }),
            ..Default::default()
        };
        self.send_reply(&Reply {
            push: Some(push),
            ..Default::default()
        })
    }

    /// Removes a subscription: registry, broker interest, presence, leave.
    pub(super) async fn remove_subscription(&mut self, channel: &str) {
        let Some(sub) = self.subs.remove(channel) else {
            return;
        };
        self.stop_stream(channel);
        self.release(channel, sub.presence).await;
        if sub.join_leave
            && let Err(err) = self
                .hub
                .shared
                .broker
                .publish_leave(channel, &self.client_info(sub.chan_info))
                .await
        {
            tracing::warn!(client = %self.client, %channel, %err, "leave not published");
        }
        self.schedule_sub_expiry();
    }

    /// Permission order of Centrifugo's subscribe (`docs/protocol.md` §4.3).
    fn authorize_subscribe(
        &self,
        request: &SubscribeRequest,
        resolved: &ResolvedChannel<'_>,
    ) -> Result<Plan, Denied> {
        let options = resolved.options;
        let insecure = self.hub.shared.options.client.insecure;
        let channel = request.channel.as_str();
        let history_access = self.allowed(
            options.allow_history_for_subscriber,
            options.allow_history_for_client,
            options.allow_history_for_anonymous,
            true,
        );
        let wants_positioned = request.positioned && (options.allow_positioning || history_access);
        let wants_recoverable = request.recoverable && (options.allow_recovery || history_access);

        if resolved.private && request.token.is_empty() {
            return Err(Denied::Error(HubError::PermissionDenied));
        }
        let mut plan = if !request.token.is_empty() {
            let claims = match self
                .hub
                .shared
                .verifier
                .verify_subscribe_token(&request.token)
            {
                Ok(claims) => claims,
                Err(TokenError::Expired) => return Err(Denied::Error(HubError::TokenExpired)),
                Err(TokenError::Invalid(why)) => {
                    tracing::info!(client = %self.client, %channel, %why, "invalid subscription token");
                    return Err(Denied::Error(HubError::PermissionDenied));
                }
            };
            let client_mismatch = !claims.client.is_empty() && claims.client != *self.client;
            if *claims.user != *self.user || claims.channel != channel || client_mismatch {
                tracing::info!(client = %self.client, %channel, "subscription token for another user, channel or client");
                return Err(Denied::Disconnect(DisconnectCode::INVALID_TOKEN));
            }
            if claims.expire_at.is_some_and(|at| at <= now_unix_secs()) {
                return Err(Denied::Error(HubError::Expired));
            }
            let mut plan = Plan::new(
                channel,
                options,
                &claims.overrides,
                wants_positioned,
                wants_recoverable,
            );
            plan.chan_info = claims.info;
            plan.data = claims.data;
            plan.expire_at = claims.expire_at;
            plan
        } else {
            let listed = options.allow_user_limited_channels
                && resolved.user_limited
                && resolved.allowed_users.contains(&&*self.user);
            let by_option = options.allow_subscribe_for_client
                && (!self.user.is_empty() || options.allow_subscribe_for_anonymous)
                && !resolved.user_limited;
            if !(listed || by_option || insecure) {
                return Err(Denied::Error(HubError::PermissionDenied));
            }
            Plan::new(
                channel,
                options,
                &SubscribeOverride::default(),
                wants_positioned,
                wants_recoverable,
            )
        };
        if request.join_leave && plan.join_leave && !plan.push_join_leave {
            // Join/leave pushes are presence information: only for those who may see presence.
            plan.push_join_leave = self.allowed(
                options.allow_presence_for_subscriber,
                options.allow_presence_for_client,
                options.allow_presence_for_anonymous,
                true,
            );
        }
        plan.delta = DeltaType::from_name(&request.delta)
            .is_some_and(|wanted| options.allowed_delta_types.contains(&wanted));
        if plan.recoverable && request.recover {
            plan.recover_since = Some(StreamPosition {
                offset: request.offset,
                epoch: request.epoch.clone(),
            });
            plan.reject_unrecovered = request.flag & FLAG_REJECT_UNRECOVERED != 0;
        }
        Ok(plan)
    }

    /// Registers the subscription as pending, takes the broker interest, adds presence and
    /// reads the stream position (and the missed publications when recovering).
    pub(super) async fn prepare(&mut self, plan: Plan) -> Result<Prepared, HubError> {
        let hub = self.hub.clone();
        let spec = NewSubscriber {
            outbox: self.outbox.clone(),
            push_join_leave: plan.push_join_leave,
            positioned: plan.positioned,
            server_side: plan.server_side,
            delta: plan.delta,
        };
        let first = hub
            .shared
            .registry
            .add_pending(&plan.channel, &self.client, spec)
            .map_err(|_| HubError::AlreadySubscribed)?;
        if first && let Err(err) = hub.shared.broker.subscribe(&plan.channel).await {
            self.release(&plan.channel, false).await;
            return Err(err.into());
        }
        if first {
            hub.lifecycle_channel(&plan.channel).await;
        }
        if plan.presence {
            let info = self.client_info(plan.chan_info.clone());
            let ttl = hub.shared.options.client.presence_ttl;
            if let Err(err) = hub
                .shared
                .presence
                .add_presence(&plan.channel, &self.client, &info, ttl)
                .await
            {
                self.release(&plan.channel, false).await;
                return Err(err.into());
            }
            hub.lifecycle_join(&plan.channel, &info).await;
        }
        match self.position(&plan).await {
            Ok((result, position)) => Ok(Prepared {
                plan,
                result,
                position,
            }),
            Err(err) => {
                self.abandon(&plan).await;
                Err(err)
            }
        }
    }

    /// Makes a prepared subscription live: queues `reply` (if any) and the publications that
    /// arrived meanwhile, records it, and announces the join.
    pub(super) async fn activate(&mut self, prepared: Prepared, reply: Option<Bytes>) {
        let Prepared { plan, position, .. } = prepared;
        self.hub
            .shared
            .registry
            .activate(&plan.channel, &self.client, reply, position);
        let chan_info = plan.chan_info;
        if plan.join_leave
            && let Err(err) = self
                .hub
                .shared
                .broker
                .publish_join(&plan.channel, &self.client_info(chan_info.clone()))
                .await
        {
            tracing::warn!(client = %self.client, channel = %plan.channel, %err, "join not published");
        }
        let sub = Subscription {
            presence: plan.presence,
            join_leave: plan.join_leave,
            chan_info,
            expire_at: plan.expire_at,
            refresh_by_proxy: plan.refresh_by_proxy,
        };
        self.subs.insert(plan.channel, sub);
        self.schedule_sub_expiry();
    }

    /// Undoes [`Session::prepare`] for a subscription that will not be activated.
    pub(super) async fn abandon(&mut self, plan: &Plan) {
        self.release(&plan.channel, plan.presence).await;
    }

    async fn release(&self, channel: &str, presence: bool) {
        let shared = &self.hub.shared;
        let last = shared.registry.remove(channel, &self.client);
        if last && let Err(err) = shared.broker.unsubscribe(channel).await {
            tracing::warn!(%channel, %err, "broker unsubscribe failed");
        }
        if presence {
            if let Err(err) = shared
                .presence
                .remove_presence(channel, &self.client, &self.user)
                .await
            {
                tracing::warn!(client = %self.client, %channel, %err, "presence not removed");
            }
            self.hub
                .lifecycle_leave(channel, &self.client, &self.user)
                .await;
        }
        if last {
            self.hub.lifecycle_channel(channel).await;
        }
    }

    /// The subscribe result's position part, and the position up to which publications buffered
    /// while pending are already covered by it.
    async fn position(
        &self,
        plan: &Plan,
    ) -> Result<(SubscribeResult, Option<StreamPosition>), HubError> {
        let mut result = SubscribeResult {
            recoverable: plan.recoverable,
            positioned: plan.positioned,
            data: plan.data.clone(),
            delta: plan.delta,
            ..Default::default()
        };
        // A subscription its namespace's sub_refresh proxy extends is not the client's to
        // refresh (Centrifugo's `ClientSideRefresh: false`).
        if let Some(at) = plan.expire_at
            && !plan.refresh_by_proxy
        {
            result.expires = true;
            result.ttl = (at - now_unix_secs()).max(0) as u32;
        }
        if !plan.positioned {
            return Ok((result, None));
        }
        let hub = &self.hub;
        let options = hub.resolve_api(&plan.channel)?.options;
        let top = match &plan.recover_since {
            Some(since) => {
                result.was_recovering = true;
                let limit = hub.shared.options.client.recovery_max_publication_limit;
                let filter = HistoryFilter {
                    since: Some(since.clone()),
                    limit: HistoryLimit::Max(limit),
                    reverse: false,
                };
                match hub.read_history(&plan.channel, options, filter).await {
                    Ok(history) => {
                        let top = history.position.clone();
                        let recovered = recovered(since, &history.publications, &top);
                        if recovered {
                            result.recovered = true;
                            result.publications =
                                self.recovered_publications(plan, &history.publications);
                        }
                        top
                    }
                    Err(HubError::UnrecoverablePosition) => {
                        self.current_position(&plan.channel, options).await?
                    }
                    Err(err) => return Err(err),
                }
            }
            None => self.current_position(&plan.channel, options).await?,
        };
        if result.was_recovering
            && let Some(m) = crate::metrics()
        {
            m.recoveries[usize::from(result.recovered)].inc();
        }
        if plan.reject_unrecovered && !result.recovered {
            return Err(HubError::UnrecoverablePosition);
        }
        result.offset = top.offset;
        result.epoch = top.epoch.clone();
        Ok((result, Some(top)))
    }

    /// Recovered publications as the reply carries them: always full payloads (a recovery is
    /// the first thing after a subscribe, and the SDK restarts its delta chain there), but for
    /// a JSON client with delta compression each payload is a JSON string, since the SDK parses
    /// every publication of such a subscription from one.
    fn recovered_publications(
        &self,
        plan: &Plan,
        publications: &[herald_engine::Publication],
    ) -> Vec<herald_proto::Publication> {
        let as_strings = plan.delta && self.outbox.protocol() == Protocol::Json;
        publications
            .iter()
            .map(|publication| {
                let mut recovered = proto_publication(publication);
                // Not UTF-8: left as it is, and the reply then fails to encode for JSON (3506)
                // like any binary payload would.
                if as_strings && let Some(text) = herald_proto::json_string(&recovered.data) {
                    recovered.data = text;
                }
                recovered
            })
            .collect()
    }

    async fn current_position(
        &self,
        channel: &str,
        options: &ChannelOptions,
    ) -> Result<StreamPosition, HubError> {
        let filter = HistoryFilter::default();
        Ok(self
            .hub
            .read_history(channel, options, filter)
            .await?
            .position)
    }
}

/// A subscription registered as pending, with its reply ready.
#[derive(Debug)]
pub(super) struct Prepared {
    pub(super) plan: Plan,
    pub(super) result: SubscribeResult,
    /// The stream position the reply carries (positioned subscriptions).
    pub(super) position: Option<StreamPosition>,
}

/// Whether the namespace's proxies (subscribe, then subscribe stream) decide this subscribe:
/// Centrifugo asks them only when there is no token, the channel is not private, and the
/// channel is not user-limited (a user listed in the name is allowed without asking).
fn proxies_decide(request: &SubscribeRequest, resolved: &ResolvedChannel<'_>) -> bool {
    let user_limited = resolved.options.allow_user_limited_channels && resolved.user_limited;
    request.token.is_empty() && !resolved.private && !user_limited
}

/// Why a subscribe is refused.
#[derive(Debug)]
pub(super) enum Denied {
    /// An error reply; the connection goes on.
    Error(HubError),
    /// The connection is closed.
    Disconnect(DisconnectCode),
    /// The subscribe proxy's error, sent as it is.
    Custom(crate::ProxyClientError),
    /// The subscribe proxy's disconnect.
    Close(crate::Disconnect),
}

/// Centrifugo's recovery rule: same epoch, and the publications read continue the client's
/// offset up to the stream top with nothing missing.
fn recovered(
    since: &StreamPosition,
    publications: &[herald_engine::Publication],
    top: &StreamPosition,
) -> bool {
    if !since.epoch.is_empty() && since.epoch != top.epoch {
        return false;
    }
    match (publications.first(), publications.last()) {
        (Some(first), Some(last)) => first.offset == since.offset + 1 && last.offset == top.offset,
        _ => since.offset == top.offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_engine::Publication;

    fn position(offset: u64) -> StreamPosition {
        StreamPosition {
            offset,
            epoch: "abcdefgh".into(),
        }
    }

    fn publications(offsets: std::ops::RangeInclusive<u64>) -> Vec<Publication> {
        offsets
            .map(|offset| Publication {
                offset,
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn recovery_needs_the_same_epoch_and_no_gap() {
        assert!(recovered(&position(3), &publications(4..=6), &position(6)));
        assert!(recovered(&position(6), &[], &position(6)));
        assert!(!recovered(&position(3), &publications(5..=6), &position(6)));
        assert!(
            !recovered(&position(3), &publications(4..=5), &position(6)),
            "limit cut it short"
        );
        assert!(!recovered(&position(3), &[], &position(6)));
        let other_epoch = StreamPosition {
            offset: 3,
            epoch: "zzzzzzzz".into(),
        };
        assert!(!recovered(&other_epoch, &publications(4..=6), &position(6)));
    }
}
