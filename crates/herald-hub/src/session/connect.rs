//! The connect command: credentials (JWT, insecure, anonymous), limits, server-side
//! subscriptions from the token and the personal channel, and the connect reply.

use std::collections::HashMap;

use bytes::Bytes;

use herald_engine::StreamPosition;
use herald_proto::{
    ConnectRequest, ConnectResult, DisconnectCode, ErrorCode, Push, Reply, SubscribeRequest,
};

use super::subscribe::{Plan, Prepared};
use super::{Flow, Session, State, TransportKind};
use crate::node::{now_unix_millis, now_unix_secs};
use crate::{ConnectTokenClaims, HubError, SubscribeOptionsClaim, SubscribeOverride, TokenError};

impl Session {
    /// Connects a session of a unidirectional transport with the request the client sent when
    /// it opened the stream (a query parameter, a POST body or the first WebSocket message).
    /// The result goes out as a bare `connect` push; a refusal closes the connection with a
    /// disconnect code (Centrifugo's default mapping, in `unidirectional_disconnect`), since
    /// there is no reply to carry an error.
    pub async fn connect_unidirectional(&mut self, request: ConnectRequest) -> Flow {
        if self.state != State::Connecting {
            return self.disconnect(DisconnectCode::BAD_REQUEST);
        }
        self.prepare_keys(&request.token, false).await;
        self.on_connect(0, request).await
    }

    pub(super) async fn on_connect(&mut self, id: u32, request: ConnectRequest) -> Flow {
        let hub = self.hub.clone();
        let client_options = &hub.shared.options.client;
        self.keep_emulated_headers(&request);
        let credentials = match &client_options.connect_proxy {
            Some(proxy) if request.token.is_empty() => {
                self.connect_via_proxy(proxy.clone(), &request).await
            }
            _ => self
                .credentials(&request)
                .map(|claims| (claims, Bytes::new())),
        };
        let (claims, connect_data) = match credentials {
            Ok(answer) => answer,
            Err(refused) => return self.refuse_connect(id, refused),
        };
        if claims.expire_at.is_some_and(|at| at <= now_unix_secs()) {
            return self.connect_error(id, HubError::Expired);
        }
        self.user = std::sync::Arc::from(claims.user.as_str());
        self.outbox.set_info(claims.info.clone());
        self.expire_at = claims.expire_at;
        self.set_meta(claims.meta.clone());
        self.outbox.set_connected_at(now_unix_secs());
        if let Err(disconnect) = hub.register(&self.client, &self.user, &self.outbox) {
            return self.close_outbox(disconnect);
        }
        if let Err(disconnect) = self.count_user_connection().await {
            hub.unregister(&self.client, &self.user);
            return self.close_outbox(disconnect);
        }
        self.state = State::Connected;

        let server_subs = match self.server_subscriptions(&claims) {
            Ok(subs) => subs,
            Err(refused) => return self.refuse_connect(id, refused),
        };
        let mut prepared = Vec::with_capacity(server_subs.len());
        let mut results = HashMap::new();
        for mut plan in server_subs {
            if plan.recoverable {
                plan.recover_since = request.subs.get(&plan.channel).and_then(recover_position);
            }
            match self.prepare(plan).await {
                Ok(ready) => {
                    results.insert(ready.plan.channel.clone(), ready.result.clone());
                    prepared.push(ready);
                }
                Err(err) => {
                    for ready in &prepared {
                        self.abandon(&ready.plan).await;
                    }
                    return self.connect_error(id, err);
                }
            }
        }

        let client_refresh = client_options.refresh_proxy.is_none();
        let result = ConnectResult {
            client: self.client.to_string(),
            version: hub.shared.options.version.clone(),
            // With a refresh proxy the server extends the connection itself: the client is
            // not told to refresh (Centrifugo's `ClientSideRefresh: false`).
            expires: client_refresh && self.expire_at.is_some(),
            ttl: match self.expire_at {
                Some(at) if client_refresh => (at - now_unix_secs()).max(0) as u32,
                _ => 0,
            },
            data: connect_data,
            subs: results,
            ping: client_options
                .ping_interval
                .map_or(0, |d| d.as_secs() as u32),
            // A unidirectional client cannot answer pings.
            pong: self.kind != TransportKind::Unidirectional
                && client_options.ping_interval.is_some()
                && client_options.pong_timeout.is_some(),
            session: self.session_id.as_deref().unwrap_or_default().to_owned(),
            node: if self.kind == TransportKind::Emulation {
                hub.shared.node_id.clone()
            } else {
                String::new()
            },
            time: if client_options.connect_include_server_time {
                now_unix_millis()
            } else {
                0
            },
            ..Default::default()
        };
        let reply = if self.kind == TransportKind::Unidirectional {
            Reply {
                push: Some(Push {
                    connect: Some(result.into()),
                    ..Default::default()
                }),
                ..Default::default()
            }
        } else {
            Reply {
                id,
                connect: Some(result),
                ..Default::default()
            }
        };
        let flow = self.send_reply(&reply);
        for ready in prepared {
            self.activate(ready, None).await;
        }
        if flow == Flow::Continue {
            tracing::debug!(client = %self.client, user = %self.user, "connected");
            self.start_connected_timers();
        }
        flow
    }

    /// Who the connection is: from the token, or anonymous when configuration allows it.
    fn credentials(&self, request: &ConnectRequest) -> Result<ConnectTokenClaims, Refused> {
        let options = &self.hub.shared.options.client;
        if request.token.is_empty() {
            if options.insecure || options.allow_anonymous_connect_without_token {
                return Ok(ConnectTokenClaims::default());
            }
            tracing::info!(client = %self.client, "client credentials not found");
            return Err(Refused::Disconnect(DisconnectCode::BAD_REQUEST));
        }
        let claims = match self
            .hub
            .shared
            .verifier
            .verify_connect_token(&request.token)
        {
            Ok(claims) => claims,
            Err(TokenError::Expired) => return Err(Refused::Error(HubError::TokenExpired)),
            Err(TokenError::Invalid(why)) => {
                tracing::info!(client = %self.client, %why, "invalid connection token");
                return Err(Refused::Disconnect(DisconnectCode::INVALID_TOKEN));
            }
        };
        if claims.user.is_empty() && options.disallow_anonymous_connection_tokens {
            return Err(Refused::Disconnect(DisconnectCode::PERMISSION_DENIED));
        }
        Ok(claims)
    }

    /// Server-side subscriptions: the token's `subs` (or `channels`) and the personal channel.
    fn server_subscriptions(&self, claims: &ConnectTokenClaims) -> Result<Vec<Plan>, Refused> {
        let hub = &self.hub;
        let options = &hub.shared.options.client;
        let mut wanted: Vec<(String, SubscribeOptionsClaim)> = if claims.subs.is_empty() {
            claims
                .channels
                .iter()
                .map(|c| (c.clone(), SubscribeOptionsClaim::default()))
                .collect()
        } else {
            claims
                .subs
                .iter()
                .map(|(c, o)| (c.clone(), o.clone()))
                .collect()
        };
        let personal = &options.subscribe_to_user_personal_channel;
        if personal.enabled && !self.user.is_empty() {
            let channel = hub
                .shared
                .rules
                .personal_channel(&personal.personal_channel_namespace, &self.user);
            if !wanted.iter().any(|(c, _)| *c == channel) {
                wanted.push((channel, SubscribeOptionsClaim::default()));
            }
            if personal.single_connection {
                for other in hub.other_connections(&self.user, &self.client) {
                    other.close(DisconnectCode::CONNECTION_LIMIT.into());
                }
            }
        }
        if wanted.len() > options.channel_limit {
            return Err(Refused::Disconnect(DisconnectCode::CHANNEL_LIMIT));
        }
        wanted
            .into_iter()
            .map(|(channel, claim)| {
                let resolved = hub.shared.rules.resolve(&channel).map_err(Refused::Error)?;
                let mut plan =
                    Plan::new(&channel, resolved.options, &claim.overrides, false, false);
                plan.server_side = true;
                plan.chan_info = claim.info;
                plan.data = claim.data;
                Ok(plan)
            })
            .collect()
    }

    /// Ends a refused connect: an error reply (or, unidirectional, the mapped disconnect), or
    /// the disconnect the refusal names.
    fn refuse_connect(&mut self, id: u32, refused: Refused) -> Flow {
        match refused {
            Refused::Error(err) => self.connect_error(id, err),
            Refused::Disconnect(code) => self.disconnect(code),
            Refused::Close(disconnect) => self.close_outbox(disconnect),
            Refused::Custom(error) => {
                if self.state == State::Connected {
                    self.hub.unregister(&self.client, &self.user);
                }
                self.state = State::Failed;
                if self.kind == TransportKind::Unidirectional {
                    let code = unidirectional_disconnect(ErrorCode {
                        code: error.code,
                        message: "",
                        temporary: error.temporary,
                    });
                    tracing::info!(client = %self.client, error = error.code, code = code.code, "unidirectional connect refused by the backend");
                    return self.disconnect(code);
                }
                self.send_client_error(id, error)
            }
        }
    }

    /// A connect error reply: the connection is unusable afterwards (3501 on the next command).
    fn connect_error(&mut self, id: u32, err: HubError) -> Flow {
        if self.state == State::Connected {
            self.hub.unregister(&self.client, &self.user);
        }
        self.state = State::Failed;
        if self.kind == TransportKind::Unidirectional {
            let code = unidirectional_disconnect(err.code());
            tracing::info!(client = %self.client, %err, code = code.code, "unidirectional connect refused");
            return self.disconnect(code);
        }
        self.send_error(id, err)
    }

    /// Subscribes on the server's initiative at run time (API `subscribe`): the client learns
    /// with a `subscribe` push.
    pub(super) async fn subscribe_server_side(
        &mut self,
        channel: String,
        overrides: SubscribeOverride,
        info: bytes::Bytes,
        data: bytes::Bytes,
        expire_at: Option<i64>,
    ) -> Flow {
        if self.state != State::Connected || self.subs.contains_key(&channel) {
            return Flow::Continue;
        }
        if self.subs.len() >= self.hub.shared.options.client.channel_limit {
            return self.disconnect(DisconnectCode::CHANNEL_LIMIT);
        }
        let hub = self.hub.clone();
        let Ok(resolved) = hub.shared.rules.resolve(&channel) else {
            return Flow::Continue;
        };
        let mut plan = Plan::new(&channel, resolved.options, &overrides, false, false);
        plan.server_side = true;
        plan.chan_info = info;
        plan.data = data;
        plan.expire_at = expire_at;
        let prepared: Prepared = match self.prepare(plan).await {
            Ok(prepared) => prepared,
            Err(err) => {
                tracing::warn!(client = %self.client, %channel, %err, "server-side subscribe failed");
                return Flow::Continue;
            }
        };
        let result = &prepared.result;
        let push = herald_proto::Push {
            channel: channel.clone(),
            subscribe: Some(herald_proto::Subscribe {
                recoverable: result.recoverable,
                epoch: result.epoch.clone(),
                offset: result.offset,
                positioned: result.positioned,
                data: result.data.clone(),
            }),
            ..Default::default()
        };
        match self.encode(&Reply {
            push: Some(push),
            ..Default::default()
        }) {
            Ok(bytes) => {
                self.activate(prepared, Some(bytes)).await;
                Flow::Continue
            }
            Err(disconnect) => {
                self.abandon(&prepared.plan).await;
                self.close_outbox(disconnect)
            }
        }
    }
}

/// The disconnect that ends a unidirectional connection whose connect failed with `error`:
/// Centrifugo's default mapping (`defaultUniErrorCodeToDisconnect` in the centrifuge library),
/// so a client written against Centrifugo sees the same codes.
pub(crate) fn unidirectional_disconnect(error: ErrorCode) -> DisconnectCode {
    match error.code {
        109 | 110 => DisconnectCode::EXPIRED,
        111 => DisconnectCode::TOO_MANY_REQUESTS,
        103 => DisconnectCode::PERMISSION_DENIED,
        _ => DisconnectCode::INTERNAL,
    }
}

/// Why a connect is refused.
#[derive(Debug)]
pub(super) enum Refused {
    Error(HubError),
    Disconnect(DisconnectCode),
    /// The connect proxy's error, sent as it is.
    Custom(crate::ProxyClientError),
    /// The connect proxy's disconnect.
    Close(crate::Disconnect),
}

/// The position a reconnecting client asks to recover a server-side subscription from.
fn recover_position(request: &SubscribeRequest) -> Option<StreamPosition> {
    request.recover.then(|| StreamPosition {
        offset: request.offset,
        epoch: request.epoch.clone(),
    })
}
