//! Commands of a connected client other than connect and subscribe: publish, presence,
//! history, rpc, send, refresh and sub_refresh.

use herald_engine::{HistoryFilter, HistoryLimit, Publication};
use herald_proto::{
    DisconnectCode, HistoryRequest, HistoryResult, PresenceRequest, PresenceResult,
    PresenceStatsRequest, PresenceStatsResult, PublishRequest, RefreshRequest, RefreshResult,
    Reply, SubRefreshRequest, SubRefreshResult,
};

use super::proxied::Answer;
use super::{Flow, Session};
use crate::convert::{engine_position, proto_client_info, proto_publication};
use crate::node::{check_data_format, now_unix_millis, now_unix_secs};
use crate::{HubError, TokenError};

/// `PublishRequest.type` of a map publish (or remove, with `removed`).
const MAP_PUBLISH: i32 = 1;

/// `SubRefreshRequest.type` of a token refresh; 1 and 2 are track and untrack.
const SUB_REFRESH_TOKEN: i32 = 0;

impl Session {
    pub(super) async fn on_publish(&mut self, id: u32, request: PublishRequest) -> Flow {
        if request.r#type == MAP_PUBLISH {
            // Map publish and remove (Centrifugo 6.8) are not implemented. The centrifuge
            // library answers 108 when the node has no map publish handler, before looking at
            // anything else (`client.go` `handleMapPublish`), and so does Herald.
            return self.send_error(id, HubError::NotAvailable);
        }
        if request.channel.is_empty() {
            return self.disconnect(DisconnectCode::BAD_REQUEST);
        }
        let hub = self.hub.clone();
        let options = match hub.shared.rules.resolve(&request.channel) {
            Ok(resolved) => resolved.options,
            Err(err) => return self.send_error(id, err),
        };
        if let Err(err) = check_data_format(options.publication_data_format, &request.data) {
            return self.send_error(id, err);
        }
        let mut publish_options = hub.publish_options(options);
        let mut data = request.data;
        if let Some(proxy) = &options.publish_proxy {
            // The publish proxy decides instead of the permission options (Centrifugo).
            match self
                .publish_via_proxy(proxy.clone(), &request.channel, data)
                .await
            {
                Ok((decided, skip_history)) => {
                    data = decided;
                    if skip_history {
                        publish_options.history_size = 0;
                        publish_options.history_ttl = std::time::Duration::ZERO;
                    }
                }
                Err(Answer::Error(error)) => return self.send_client_error(id, error),
                Err(Answer::Disconnect(disconnect)) => return self.close_outbox(disconnect),
                Err(Answer::Result(never)) => match never {},
            }
        } else if !self.allowed(
            options.allow_publish_for_subscriber,
            options.allow_publish_for_client,
            options.allow_publish_for_anonymous,
            self.subs.contains_key(&request.channel),
        ) {
            return self.send_error(id, HubError::PermissionDenied);
        }
        let chan_info = self
            .subs
            .get(&request.channel)
            .map(|s| s.chan_info.clone())
            .unwrap_or_default();
        let publication = Publication {
            data,
            info: Some(self.client_info(chan_info)),
            time: now_unix_millis(),
            // A client cannot ask for a delta; the namespace decides, as in Centrifugo.
            delta: options.delta_publish,
            ..Default::default()
        };
        match hub
            .shared
            .broker
            .publish(&request.channel, publication, &publish_options)
            .await
        {
            Ok(_) => self.send_reply(&Reply {
                id,
                publish: Some(Default::default()),
                ..Default::default()
            }),
            Err(err) => self.send_error(id, err.into()),
        }
    }

    pub(super) async fn on_presence(&mut self, id: u32, request: PresenceRequest) -> Flow {
        if let Err(err) = self.check_presence(&request.channel) {
            return self.send_error(id, err);
        }
        match self.hub.shared.presence.presence(&request.channel).await {
            Ok(entries) => {
                let presence = entries
                    .iter()
                    .map(|(client, info)| (client.clone(), proto_client_info(info)))
                    .collect();
                let result = PresenceResult { presence };
                self.send_reply(&Reply {
                    id,
                    presence: Some(result),
                    ..Default::default()
                })
            }
            Err(err) => self.send_error(id, err.into()),
        }
    }

    pub(super) async fn on_presence_stats(
        &mut self,
        id: u32,
        request: PresenceStatsRequest,
    ) -> Flow {
        if let Err(err) = self.check_presence(&request.channel) {
            return self.send_error(id, err);
        }
        match self
            .hub
            .shared
            .presence
            .presence_stats(&request.channel)
            .await
        {
            Ok(stats) => {
                let result = PresenceStatsResult {
                    num_clients: stats.num_clients,
                    num_users: stats.num_users,
                };
                self.send_reply(&Reply {
                    id,
                    presence_stats: Some(result),
                    ..Default::default()
                })
            }
            Err(err) => self.send_error(id, err.into()),
        }
    }

    pub(super) async fn on_history(&mut self, id: u32, request: HistoryRequest) -> Flow {
        if request.channel.is_empty() {
            return self.disconnect(DisconnectCode::BAD_REQUEST);
        }
        let hub = self.hub.clone();
        let options = match hub.shared.rules.resolve(&request.channel) {
            Ok(resolved) => resolved.options,
            Err(err) => return self.send_error(id, err),
        };
        if !options.history_enabled() {
            return self.send_error(id, HubError::NotAvailable);
        }
        if !self.allowed(
            options.allow_history_for_subscriber,
            options.allow_history_for_client,
            options.allow_history_for_anonymous,
            self.subs.contains_key(&request.channel),
        ) {
            return self.send_error(id, HubError::PermissionDenied);
        }
        let max = hub.shared.options.client.history_max_publication_limit;
        let limit = match HistoryLimit::from_protocol(request.limit) {
            HistoryLimit::All => HistoryLimit::Max(max),
            HistoryLimit::Max(n) => HistoryLimit::Max(n.min(max)),
            HistoryLimit::PositionOnly => HistoryLimit::PositionOnly,
        };
        let filter = HistoryFilter {
            since: request.since.as_ref().map(engine_position),
            limit,
            reverse: request.reverse,
        };
        match hub.read_history(&request.channel, options, filter).await {
            Ok(history) => {
                let result = HistoryResult {
                    publications: history.publications.iter().map(proto_publication).collect(),
                    epoch: history.position.epoch,
                    offset: history.position.offset,
                };
                self.send_reply(&Reply {
                    id,
                    history: Some(result),
                    ..Default::default()
                })
            }
            Err(err) => self.send_error(id, err),
        }
    }

    /// No message handler exists: 3508, as Centrifugo OSS.
    pub(super) fn on_send(&mut self) -> Flow {
        self.disconnect(DisconnectCode::NOT_AVAILABLE)
    }

    pub(super) fn on_refresh(&mut self, id: u32, request: RefreshRequest) -> Flow {
        if request.token.is_empty() {
            return self.disconnect(DisconnectCode::BAD_REQUEST);
        }
        let claims = match self
            .hub
            .shared
            .verifier
            .verify_connect_token(&request.token)
        {
            Ok(claims) => claims,
            Err(TokenError::Expired) => return self.disconnect(DisconnectCode::EXPIRED),
            Err(TokenError::Invalid(why)) => {
                tracing::info!(client = %self.client, %why, "invalid refresh token");
                return self.disconnect(DisconnectCode::INVALID_TOKEN);
            }
        };
        if *claims.user != *self.user {
            tracing::info!(client = %self.client, "refresh token for another user");
            return self.disconnect(DisconnectCode::INVALID_TOKEN);
        }
        if claims.expire_at.is_some_and(|at| at <= now_unix_secs()) {
            return self.disconnect(DisconnectCode::EXPIRED);
        }
        self.expire_at = claims.expire_at;
        if !claims.info.is_empty() {
            self.outbox.set_info(claims.info);
        }
        self.schedule_expiry();
        let result = RefreshResult {
            client: self.client.to_string(),
            version: self.hub.shared.options.version.clone(),
            expires: self.expire_at.is_some(),
            ttl: self
                .expire_at
                .map_or(0, |at| (at - now_unix_secs()).max(0) as u32),
        };
        self.send_reply(&Reply {
            id,
            refresh: Some(result),
            ..Default::default()
        })
    }

    pub(super) fn on_sub_refresh(&mut self, id: u32, request: SubRefreshRequest) -> Flow {
        if request.r#type != SUB_REFRESH_TOKEN && !request.channel.is_empty() {
            // Track (1) and untrack (2) exist only for shared-poll subscriptions, which Herald
            // never grants. The centrifuge library routes them by the subscription, so on any
            // other they are a subscription refresh without a token: 103 when not subscribed,
            // else 107 (`client.go` `handleSubRefresh`; it disconnects instead when the
            // subscription expects no client-side refresh, and Herald keeps the gentler 107).
            if !self.subs.contains_key(&request.channel) {
                return self.send_error(id, HubError::PermissionDenied);
            }
            return self.send_error(id, HubError::BadRequest);
        }
        if request.channel.is_empty() || request.token.is_empty() {
            return self.disconnect(DisconnectCode::BAD_REQUEST);
        }
        if !self.subs.contains_key(&request.channel) {
            return self.send_error(id, HubError::PermissionDenied);
        }
        let claims = match self
            .hub
            .shared
            .verifier
            .verify_subscribe_token(&request.token)
        {
            Ok(claims) => claims,
            Err(TokenError::Expired) => return self.send_error(id, HubError::TokenExpired),
            Err(TokenError::Invalid(why)) => {
                tracing::info!(client = %self.client, %why, "invalid subscription refresh token");
                return self.disconnect(DisconnectCode::INVALID_TOKEN);
            }
        };
        let client_mismatch = !claims.client.is_empty() && claims.client != *self.client;
        if *claims.user != *self.user || claims.channel != request.channel || client_mismatch {
            return self.disconnect(DisconnectCode::INVALID_TOKEN);
        }
        if claims.expire_at.is_some_and(|at| at <= now_unix_secs()) {
            return self.send_error(id, HubError::Expired);
        }
        if let Some(sub) = self.subs.get_mut(&request.channel) {
            sub.expire_at = claims.expire_at;
        }
        self.schedule_sub_expiry();
        let result = SubRefreshResult {
            expires: claims.expire_at.is_some(),
            ttl: claims
                .expire_at
                .map_or(0, |at| (at - now_unix_secs()).max(0) as u32),
            ..Default::default()
        };
        self.send_reply(&Reply {
            id,
            sub_refresh: Some(result),
            ..Default::default()
        })
    }

    fn check_presence(&self, channel: &str) -> Result<(), HubError> {
        if channel.is_empty() {
            return Err(HubError::BadRequest);
        }
        let options = self.hub.shared.rules.resolve(channel)?.options;
        if !options.presence {
            return Err(HubError::NotAvailable);
        }
        let allowed = self.allowed(
            options.allow_presence_for_subscriber,
            options.allow_presence_for_client,
            options.allow_presence_for_anonymous,
            self.subs.contains_key(channel),
        );
        if allowed {
            Ok(())
        } else {
            Err(HubError::PermissionDenied)
        }
    }
}
