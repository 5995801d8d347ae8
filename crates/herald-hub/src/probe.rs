//! Readiness and the end-to-end broker probe.
//!
//! A broker's own view of its link ([`Broker::is_healthy`](herald_engine::Broker::is_healthy))
//! can be wrong in one way that matters: a PUB/SUB connection that still answers PINGs but no
//! longer delivers (a wedged connection, a lost subscription). The node then looks healthy while
//! its subscribers hear nothing. So every [`ProbeOptions::interval`] the node publishes a probe
//! on its own channel ([`probe_channel`]) THROUGH the broker and waits up to
//! [`ProbeOptions::timeout`] for it to come back through the same path publications take
//! (`BrokerEventHandler::handle_publication`). A probe that does not come back:
//!
//! - makes the node not ready ([`Hub::readiness`]: [`NotReady::ProbeFailed`]) until one does;
//! - is logged once per change of state (a warning when probes start failing, an info line when
//!   they come back), never once per probe;
//! - when the broker still claims to be healthy, makes it drop and re-establish its link
//!   ([`Broker::reconnect`](herald_engine::Broker::reconnect)): it subscribes every channel
//!   again and reports the gap, so positioned subscribers recover from history exactly as after
//!   a broker restart. A broker that knows it is down is reconnecting already and is left alone.
//!   While probes keep failing, forced reconnects back off (after failure 1, 2, 4, 8, 16, then
//!   every [`RECONNECT_EVERY_MAX`] failures): each one makes every positioned subscriber
//!   resubscribe, which must not happen every few seconds for a fault a reconnect does not fix.
//!
//! The decisions live in [`ProbeState`], a small sans-I/O struct that takes `now` and is unit
//! tested on tokio's paused clock; [`spawn`] is the thin task around it. The probe channel is
//! subscribed like any channel, so a broker that resubscribes after a reconnect resubscribes it
//! too; with a sharded Redis it lives on one shard, so it checks that shard's link (the control
//! channel, which every node needs, lives on the first).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use herald_engine::{Publication, PublishOptions, lock};
use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until, timeout};

use crate::Hub;
use crate::node::Shared;

/// While probes keep failing, a forced reconnect at most once per this many failed probes.
const RECONNECT_EVERY_MAX: u64 = 32;

/// How the end-to-end probe runs (`health.probe_interval`, `health.probe_timeout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOptions {
    /// Time between the starts of two probes; zero turns the probe off (the node is then
    /// ready whenever its broker and presence manager say they are). Default 3 s.
    pub interval: Duration,
    /// How long a probe may take to come back (publish included) before it counts as failed.
    /// Default 3 s.
    pub timeout: Duration,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3),
            timeout: Duration::from_secs(3),
        }
    }
}

/// Why the node should not get traffic now (the readiness endpoint answers 503 with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// Shutdown has started: clients are being drained and new ones refused.
    #[error("shutting down")]
    ShuttingDown,
    /// The broker cannot reach its backend (or is re-establishing its link).
    #[error("broker unavailable")]
    BrokerUnavailable,
    /// The presence manager cannot reach its backend.
    #[error("presence unavailable")]
    PresenceUnavailable,
    /// The last end-to-end probe did not come back through the broker in time.
    #[error("broker probe failed")]
    ProbeFailed,
}

/// Counts kept for metrics ([`Hub::health_counters`]); each only grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthCounters {
    /// Probes that did not come back in time.
    pub probe_failures: u64,
    /// Broker links dropped and re-established because a probe failed.
    pub link_reconnects: u64,
    /// Clients closed by a paced drain at shutdown.
    pub drained_clients: u64,
}

/// The node's probe: its channel, its state and its counters. Shared by the probe task and the
/// broker's delivery path.
#[derive(Debug)]
pub(crate) struct Probe {
    channel: String,
    /// Std mutex: a few field updates, nothing awaits under it.
    state: Mutex<ProbeState>,
    /// Wakes the probe task when its probe came back; may hold one stale wake-up, which the
    /// task ignores after looking at the state.
    answered: Notify,
    pub(crate) probe_failures: AtomicU64,
    pub(crate) link_reconnects: AtomicU64,
    pub(crate) drained_clients: AtomicU64,
}

/// The probe channel of node `node_id`. Not in any namespace a client can use by accident (it
/// holds the node's random id), and never handed to the registry.
pub(crate) fn probe_channel(node_id: &str) -> String {
    format!("__herald.probe.{node_id}")
}

impl Probe {
    pub(crate) fn new(node_id: &str, options: &ProbeOptions) -> Self {
        Self {
            channel: probe_channel(node_id),
            state: Mutex::new(ProbeState::new(options.timeout)),
            answered: Notify::new(),
            probe_failures: AtomicU64::new(0),
            link_reconnects: AtomicU64::new(0),
            drained_clients: AtomicU64::new(0),
        }
    }

    /// Whether a publication in `channel` is this node's probe (checked for every publication
    /// the broker delivers: one length comparison for nearly all of them).
    pub(crate) fn is_probe(&self, channel: &str) -> bool {
        channel == self.channel
    }

    /// A probe came back through the broker. Data that is not a probe number is ignored.
    pub(crate) fn on_publication(&self, publication: &Publication) {
        let Some(seq) = std::str::from_utf8(&publication.data)
            .ok()
            .and_then(|text| text.parse::<u64>().ok())
        else {
            return;
        };
        if lock(&self.state).answer(seq, Instant::now()) {
            self.answered.notify_one();
        }
    }

    /// Whether the last probe failed.
    pub(crate) fn is_failing(&self) -> bool {
        lock(&self.state).is_failing()
    }

    pub(crate) fn counters(&self) -> HealthCounters {
        HealthCounters {
            probe_failures: self.probe_failures.load(Ordering::Relaxed),
            link_reconnects: self.link_reconnects.load(Ordering::Relaxed),
            drained_clients: self.drained_clients.load(Ordering::Relaxed),
        }
    }
}

/// Subscribes the probe channel and starts probing every `options.interval` until shutdown.
/// Does nothing when the interval is zero.
pub(crate) async fn spawn(
    shared: &Arc<Shared>,
    options: &ProbeOptions,
) -> Result<(), herald_engine::EngineError> {
    if options.interval.is_zero() {
        return Ok(());
    }
    shared.broker.subscribe(&shared.probe.channel).await?;
    let weak = Arc::downgrade(shared);
    let stop = shared.shutdown.clone();
    let options = options.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(options.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = stop.cancelled() => return,
            }
            if !probe_once(&weak, &options).await {
                return;
            }
        }
    });
    Ok(())
}

/// Sends one probe, waits for it, and acts on the outcome. `false` once the node is gone.
async fn probe_once(weak: &Weak<Shared>, options: &ProbeOptions) -> bool {
    let Some(shared) = weak.upgrade() else {
        return false;
    };
    let probe = &shared.probe;
    let (seq, deadline) = lock(&probe.state).start(Instant::now());
    let publication = Publication {
        data: Bytes::from(seq.to_string()),
        ..Publication::default()
    };
    // Without history: nothing is stored, the message only travels.
    let no_history = PublishOptions::default();
    let publishing = shared
        .broker
        .publish(&probe.channel, publication, &no_history);
    let published = match timeout(options.timeout, publishing).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("publish timed out".to_owned()),
    };
    if published.is_ok() {
        // Until the answer or the deadline; a stale wake-up only makes it look again.
        loop {
            let woken = probe.answered.notified();
            if lock(&probe.state).is_answered() {
                break;
            }
            tokio::select! {
                () = woken => {}
                () = sleep_until(deadline) => break,
            }
        }
    }
    match lock(&probe.state).finish() {
        Outcome::Passed { recovered: true } => {
            tracing::info!("broker probe came back: node ready again");
        }
        Outcome::Passed { recovered: false } => {}
        Outcome::Failed { first, reconnect } => {
            probe.probe_failures.fetch_add(1, Ordering::Relaxed);
            let broker_healthy = shared.broker.is_healthy();
            if first {
                let why = published
                    .err()
                    .unwrap_or_else(|| "no answer in time".to_owned());
                tracing::warn!(
                    channel = %probe.channel,
                    timeout = ?options.timeout,
                    why,
                    broker_healthy,
                    "broker probe did not come back: node not ready; re-establishing the broker link",
                );
            }
            // A broker that knows it is down is reconnecting already.
            if broker_healthy && reconnect {
                probe.link_reconnects.fetch_add(1, Ordering::Relaxed);
                shared.broker.reconnect();
            }
        }
    }
    true
}

impl Hub {
    /// Whether the node can do its job, or why not: shutting down, broker or presence backend
    /// unreachable, or the end-to-end probe failing (see the module docs of `probe.rs`).
    pub fn readiness(&self) -> Result<(), NotReady> {
        let shared = &self.shared;
        if self.is_shutting_down() {
            return Err(NotReady::ShuttingDown);
        }
        if !shared.broker.is_healthy() {
            return Err(NotReady::BrokerUnavailable);
        }
        if !shared.presence.is_available() {
            return Err(NotReady::PresenceUnavailable);
        }
        if shared.probe.is_failing() {
            return Err(NotReady::ProbeFailed);
        }
        Ok(())
    }

    /// Probe failures, forced broker reconnects and drained clients since start.
    pub fn health_counters(&self) -> HealthCounters {
        self.shared.probe.counters()
    }
}

/// The probe's decisions, without I/O: which probe is in flight, whether it came back in time,
/// and whether the node is failing. The caller passes `now`.
#[derive(Debug)]
pub(crate) struct ProbeState {
    timeout: Duration,
    next_seq: u64,
    in_flight: Option<InFlight>,
    /// Probes failed in a row (0: the last one passed).
    failures: u64,
}

#[derive(Debug)]
struct InFlight {
    seq: u64,
    deadline: Instant,
    answered: bool,
}

/// How a probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It came back in time; `recovered` when the one before had failed.
    Passed { recovered: bool },
    /// It did not; `first` when the one before had passed; `reconnect` when this failure may
    /// force a reconnect (backing off while failures go on).
    Failed { first: bool, reconnect: bool },
}

impl ProbeState {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            next_seq: 0,
            in_flight: None,
            failures: 0,
        }
    }

    /// Starts a new probe (forgetting one still in flight): its number and deadline.
    pub(crate) fn start(&mut self, now: Instant) -> (u64, Instant) {
        self.next_seq += 1;
        let deadline = now + self.timeout;
        self.in_flight = Some(InFlight {
            seq: self.next_seq,
            deadline,
            answered: false,
        });
        (self.next_seq, deadline)
    }

    /// Probe `seq` came back at `now`; `true` if that answers the one in flight in time.
    pub(crate) fn answer(&mut self, seq: u64, now: Instant) -> bool {
        match &mut self.in_flight {
            Some(probe) if probe.seq == seq && now <= probe.deadline && !probe.answered => {
                probe.answered = true;
                true
            }
            _ => false,
        }
    }

    /// Whether the probe in flight came back.
    pub(crate) fn is_answered(&self) -> bool {
        self.in_flight.as_ref().is_some_and(|probe| probe.answered)
    }

    /// Ends the probe in flight: it passed if it came back in time. Without one in flight, a
    /// failure (nothing came back).
    pub(crate) fn finish(&mut self) -> Outcome {
        let passed = self.in_flight.take().is_some_and(|probe| probe.answered);
        if passed {
            let recovered = self.failures > 0;
            self.failures = 0;
            return Outcome::Passed { recovered };
        }
        self.failures += 1;
        let n = self.failures;
        Outcome::Failed {
            first: n == 1,
            reconnect: (n.is_power_of_two() && n <= RECONNECT_EVERY_MAX)
                || n.is_multiple_of(RECONNECT_EVERY_MAX),
        }
    }

    /// Whether the last finished probe failed.
    pub(crate) fn is_failing(&self) -> bool {
        self.failures > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(3);

    #[tokio::test(start_paused = true)]
    async fn a_probe_back_in_time_passes() {
        let mut state = ProbeState::new(TIMEOUT);
        let (seq, deadline) = state.start(Instant::now());
        assert_eq!(deadline, Instant::now() + TIMEOUT);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(state.answer(seq, Instant::now()));
        assert!(state.is_answered());
        assert!(!state.answer(seq, Instant::now()), "answered once");
        assert_eq!(state.finish(), Outcome::Passed { recovered: false });
        assert!(!state.is_failing());
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_or_foreign_answer_fails_and_only_the_first_failure_is_first() {
        let mut state = ProbeState::new(TIMEOUT);
        let (seq, _) = state.start(Instant::now());
        assert!(
            !state.answer(seq + 1, Instant::now()),
            "another probe's number"
        );
        tokio::time::advance(TIMEOUT + Duration::from_millis(1)).await;
        assert!(!state.answer(seq, Instant::now()), "past the deadline");
        assert_eq!(
            state.finish(),
            Outcome::Failed {
                first: true,
                reconnect: true
            }
        );
        assert!(state.is_failing());

        let (next, _) = state.start(Instant::now());
        assert_ne!(next, seq);
        assert!(
            !state.answer(seq, Instant::now()),
            "the old probe is forgotten"
        );
        assert_eq!(
            state.finish(),
            Outcome::Failed {
                first: false,
                reconnect: true
            }
        );
        assert!(state.is_failing());
    }

    #[test]
    fn forced_reconnects_back_off_while_probes_keep_failing() {
        let mut state = ProbeState::new(TIMEOUT);
        let reconnects: Vec<u64> = (1..=100)
            .filter(|_| {
                matches!(
                    state.finish(),
                    Outcome::Failed {
                        reconnect: true,
                        ..
                    }
                )
            })
            .collect();
        assert_eq!(reconnects, vec![1, 2, 4, 8, 16, 32, 64, 96]);
        // A pass starts over.
        state.start(Instant::now());
        let (seq, _) = state.start(Instant::now());
        assert!(state.answer(seq, Instant::now()));
        assert_eq!(state.finish(), Outcome::Passed { recovered: true });
        assert_eq!(
            state.finish(),
            Outcome::Failed {
                first: true,
                reconnect: true
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_back_after_failures_recovers() {
        let mut state = ProbeState::new(TIMEOUT);
        state.start(Instant::now());
        assert!(matches!(
            state.finish(),
            Outcome::Failed { first: true, .. }
        ));
        let (seq, _) = state.start(Instant::now());
        tokio::time::advance(TIMEOUT).await;
        assert!(
            state.answer(seq, Instant::now()),
            "at the deadline is in time"
        );
        assert_eq!(state.finish(), Outcome::Passed { recovered: true });
        assert!(!state.is_failing());
    }

    #[test]
    fn finishing_without_a_probe_in_flight_is_a_failure() {
        let mut state = ProbeState::new(TIMEOUT);
        assert!(matches!(
            state.finish(),
            Outcome::Failed { first: true, .. }
        ));
    }
}
