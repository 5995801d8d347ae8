//! The connection to NATS as the node sees it: whether it is healthy, and when messages may have
//! been missed (a gap) so the handler must be told.
//!
//! async-nats reconnects by itself and subscribes every live subscription again, reporting what
//! happens as [`Event`]s. Events only take note here ([`Link::on_event`]); a monitor task
//! ([`Link::monitor`]) does the rest:
//!
//! - after a reconnect it confirms the resubscriptions with a probe round trip (a message to
//!   this broker's own `{prefix}.probe.{id}` subject comes back only once the server has handled
//!   every subscription sent before it), then reports the broker healthy again and calls
//!   [`handle_gap`](herald_engine::BrokerEventHandler::handle_gap): publications made while
//!   the connection was down never arrived;
//! - after a slow-consumer event (async-nats dropped messages of a channel whose queue was
//!   full) it calls `handle_gap` too, once per burst of such events.
//!
//! The client's event queue is bounded and drops events when full, so the monitor also checks
//! the client's connection state every [`RECHECK_INTERVAL`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::connection::State as ConnectionState;
use async_nats::{Client, Event};
use bytes::Bytes;
use herald_engine::EngineError;
// A poisoned lock is taken over: every critical section here is a few field or map operations,
// which a panic cannot leave half done.
use herald_engine::lock;
use tokio::sync::{Notify, oneshot};
use tokio::time::timeout;

use crate::delivery::Delivery;

/// How often the monitor looks at the client's connection state without being woken.
const RECHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How soon it looks again when woken while the state does not say connected yet.
const STATE_SETTLE: Duration = Duration::from_millis(10);

/// Shared by the broker, the client's event callback and the monitor task.
pub(crate) struct Link {
    healthy: AtomicBool,
    /// Nothing awaits while it is held.
    state: Mutex<State>,
    wake: Notify,
    delivery: Arc<Delivery>,
    /// `{prefix}.probe.{id}`.
    probe_subject: String,
    next_probe: AtomicU64,
    /// Probes sent and not answered yet, by token. Each entry is removed by the probe that
    /// added it, answered or not, so there are never more than the probes in flight.
    probes: Mutex<HashMap<u64, oneshot::Sender<()>>>,
}

#[derive(Debug, Default)]
struct State {
    /// The connection was lost; its subscriptions are not confirmed again yet.
    resubscribing: bool,
    /// Messages may have been missed and the handler has not been told yet.
    gap: bool,
    /// Bumped on every disconnect, so a confirmation that raced with one is not trusted.
    generation: u64,
}

impl Link {
    /// A link to a client that has just connected.
    pub(crate) fn new(delivery: Arc<Delivery>, probe_subject: String) -> Self {
        Self {
            healthy: AtomicBool::new(true),
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            delivery,
            probe_subject,
            next_probe: AtomicU64::new(0),
            probes: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the connection is up with every subscription confirmed.
    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Takes note of a client event; called on the client's event task, so it never waits.
    pub(crate) fn on_event(&self, event: Event) {
        match event {
            Event::Disconnected => {
                self.disconnected();
                tracing::warn!(
                    "nats connection lost; publications until it is back do not reach this node"
                );
            }
            Event::Connected => {
                if lock(&self.state).resubscribing {
                    tracing::info!("nats connection re-established");
                    self.wake.notify_one();
                }
            }
            Event::SlowConsumer(sid) => {
                self.delivery.count_slow_consumer();
                let first = !std::mem::replace(&mut lock(&self.state).gap, true);
                if first {
                    tracing::warn!(
                        sid,
                        "nats dropped messages of a channel whose reader fell behind (slow consumer)"
                    );
                }
                self.wake.notify_one();
            }
            Event::Closed => {
                self.healthy.store(false, Ordering::Relaxed);
                tracing::debug!("nats connection closed");
            }
            Event::ServerError(error) => tracing::warn!(%error, "nats server error"),
            Event::ClientError(error) => tracing::warn!(%error, "nats client error"),
            Event::LameDuckMode => tracing::info!("nats server entered lame duck mode"),
            Event::Draining => tracing::debug!("nats connection draining"),
        }
    }

    /// The monitor task: confirms resubscriptions, restores health and reports gaps. Runs
    /// until aborted.
    pub(crate) async fn monitor(self: Arc<Self>, client: Client, probe_timeout: Duration) {
        let mut wait = RECHECK_INTERVAL;
        loop {
            // Woken by an event, or looks anyway after a while.
            let woken = timeout(wait, self.wake.notified()).await.is_ok();
            wait = RECHECK_INTERVAL;
            if client.connection_state() != ConnectionState::Connected {
                if !lock(&self.state).resubscribing {
                    // The Disconnected event was lost.
                    self.disconnected();
                    tracing::warn!("nats connection found down");
                }
                if woken {
                    // The client reports Connected just before its state says so.
                    wait = STATE_SETTLE;
                }
                continue;
            }
            let (resubscribing, generation) = {
                let state = lock(&self.state);
                (state.resubscribing, state.generation)
            };
            if resubscribing {
                if let Err(error) = self.probe(&client, probe_timeout).await {
                    tracing::debug!(%error, "nats resubscriptions not confirmed yet");
                    continue;
                }
                let mut state = lock(&self.state);
                if state.generation != generation {
                    continue;
                }
                state.resubscribing = false;
                state.gap = true;
                self.healthy.store(true, Ordering::Relaxed);
                tracing::info!("nats subscriptions restored");
            }
            if std::mem::take(&mut lock(&self.state).gap) {
                tracing::warn!("nats messages may have been missed; telling subscribers");
                self.delivery.gap();
            }
        }
    }

    /// Sends a probe to this broker's probe subject and waits until it comes back: by then the
    /// server has handled everything this client sent before (subscriptions included).
    pub(crate) async fn probe(&self, client: &Client, limit: Duration) -> Result<(), EngineError> {
        let token = self.next_probe.fetch_add(1, Ordering::Relaxed);
        let (answer, answered) = oneshot::channel();
        lock(&self.probes).insert(token, answer);
        let _pending = PendingProbe { link: self, token };
        let payload = Bytes::copy_from_slice(&token.to_be_bytes());
        let round_trip = async {
            client
                .publish(self.probe_subject.clone(), payload)
                .await
                .map_err(|e| e.to_string())?;
            answered.await.map_err(|_| "probe abandoned".to_owned())
        };
        match timeout(limit, round_trip).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(unavailable(&reason)),
            Err(_) => Err(unavailable("the server did not confirm in time")),
        }
    }

    /// A message on the probe subject came back.
    pub(crate) fn answer(&self, payload: &[u8]) {
        let Ok(token) = <[u8; 8]>::try_from(payload) else {
            tracing::debug!(len = payload.len(), "unexpected nats probe message");
            return;
        };
        if let Some(answer) = lock(&self.probes).remove(&u64::from_be_bytes(token)) {
            // The prober may have timed out and gone.
            let _ = answer.send(());
        }
    }

    /// The connection is down: unhealthy until its subscriptions are confirmed again, and the
    /// handler will have to be told about the gap.
    fn disconnected(&self) {
        self.healthy.store(false, Ordering::Relaxed);
        let mut state = lock(&self.state);
        state.resubscribing = true;
        state.generation += 1;
    }
}

/// Removes a probe's entry however the probe ends (answered, timed out or dropped).
struct PendingProbe<'a> {
    link: &'a Link,
    token: u64,
}

impl Drop for PendingProbe<'_> {
    fn drop(&mut self) {
        lock(&self.link.probes).remove(&self.token);
    }
}

fn unavailable(reason: &str) -> EngineError {
    EngineError::Unavailable {
        reason: format!("nats subscription not confirmed: {reason}"),
    }
}
