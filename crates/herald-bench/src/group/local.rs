//! A group of subscriber connections in this process: opened with bounded concurrency, each
//! read by its own task that tracks arrivals and latencies for the current round.
//!
//! Locks: a connection task locks its own [`Slot`] and, while holding it, one latency
//! [`Shard`] (slot, then shard; never the other way). The collector locks one slot at a time,
//! then one shard at a time. Nothing awaits under a lock.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// A poisoned lock (a panicked task) is taken over: the counters and results it guards are
// still usable.
use herald_engine::lock;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{GroupSpec, Progress};
use crate::adapter::Client;
use crate::error::BenchError;
use crate::payload::{Stamp, now_us};
use crate::stats::{Latency, MAX_REASONS, OpenStats, RoundStats};
use crate::tracker::{Published, Seen, SeqTracker};

/// Latency shards: connection `i` records into shard `i % SHARDS`, so the runtime's threads
/// rarely wait for each other.
const SHARDS: usize = 16;

/// The first round's number; round 0 never happens, so a zeroed stamp is always stale.
pub(crate) const FIRST_ROUND: u32 = 1;

/// Subscribers running in this process.
#[derive(Debug)]
pub struct LocalGroup {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tasks: TaskTracker,
    open: OpenStats,
}

#[derive(Debug)]
struct Shared {
    slots: Mutex<Vec<Arc<Slot>>>,
    shards: Vec<Mutex<Shard>>,
    round: AtomicU32,
    alive: AtomicU64,
    /// Distinct deliveries of the current round, for progress while draining.
    received: AtomicU64,
    close_reasons: Mutex<Vec<String>>,
}

#[derive(Debug)]
struct Slot {
    state: Mutex<SlotState>,
}

#[derive(Debug)]
struct SlotState {
    round: u32,
    tracker: SeqTracker,
    closed: bool,
    open_at_round_start: bool,
}

#[derive(Debug, Default)]
struct Shard {
    latency: Latency,
    first_us: Option<i64>,
    last_us: Option<i64>,
    stale: u64,
    foreign: u64,
}

impl LocalGroup {
    /// Opens `spec.count` connections. A failure that retrying cannot fix (no file descriptors,
    /// no ports) ends the whole open with that error; others are counted in [`OpenStats`].
    pub async fn open(spec: &GroupSpec) -> Result<LocalGroup, BenchError> {
        if spec.sources.is_empty() {
            return Err(BenchError::InvalidArgs("no source addresses".to_owned()));
        }
        let shared = Arc::new(Shared {
            slots: Mutex::new(Vec::with_capacity(spec.count)),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            round: AtomicU32::new(FIRST_ROUND),
            alive: AtomicU64::new(0),
            received: AtomicU64::new(0),
            close_reasons: Mutex::new(Vec::new()),
        });
        let group = LocalGroup {
            shared,
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
            open: OpenStats {
                wanted: spec.count as u64,
                started_us: now_us(),
                ..OpenStats::default()
            },
        };
        let stats = Arc::new(Mutex::new(group.open.clone()));
        let next = Arc::new(AtomicUsize::new(0));
        let fatal: Arc<Mutex<Option<BenchError>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let mut openers = tokio::task::JoinSet::new();
        for _ in 0..spec.concurrency.clamp(1, spec.count.max(1)) {
            let spec = spec.clone();
            let (stats, next, fatal, stop) =
                (stats.clone(), next.clone(), fatal.clone(), stop.clone());
            let (shared, cancel, tasks) = (
                group.shared.clone(),
                group.cancel.clone(),
                group.tasks.clone(),
            );
            openers.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= spec.count || stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let source = spec.sources[i % spec.sources.len()];
                    let user = format!("bench-{}", spec.first_index + i);
                    let started = now_us();
                    match Client::open(&spec.target, source, &user, &spec.channel).await {
                        Ok(client) => {
                            let done = now_us();
                            {
                                let mut stats = lock(&stats);
                                stats.opened += 1;
                                stats.finished_us = stats.finished_us.max(done);
                                stats.latency.record(done - started);
                            }
                            spawn_reader(&shared, &tasks, &cancel, client, i);
                        }
                        Err(err) => {
                            if let Some(error) = err.fatal(source) {
                                stop.store(true, Ordering::Relaxed);
                                lock(&fatal).get_or_insert(error);
                                return;
                            }
                            let mut stats = lock(&stats);
                            *stats.failures.entry(err.kind().to_owned()).or_insert(0) += 1;
                            stats
                                .first_failure
                                .get_or_insert_with(|| format!("{source} -> {user}: {err}"));
                        }
                    }
                }
            });
        }
        while openers.join_next().await.is_some() {}
        let open = lock(&stats).clone();
        let fatal = lock(&fatal).take();
        let mut group = group;
        group.open = open;
        if let Some(error) = fatal {
            group.shutdown().await;
            return Err(error);
        }
        Ok(group)
    }

    /// How the open went.
    pub fn open_stats(&self) -> &OpenStats {
        &self.open
    }

    /// Open connections and deliveries so far in this round.
    pub fn progress(&self) -> Progress {
        Progress {
            alive: self.shared.alive.load(Ordering::Relaxed),
            received: self.shared.received.load(Ordering::Relaxed),
            sample_close_reason: lock(&self.shared.close_reasons).first().cloned(),
        }
    }

    /// Ends the current round: returns what it saw, judged against `published`, and starts
    /// round `next_round`. Deliveries of the old round that arrive later count as stale.
    pub fn collect(&self, next_round: u32, published: &Published) -> RoundStats {
        let mut stats = RoundStats::default();
        self.shared.round.store(next_round, Ordering::Relaxed);
        let slots = lock(&self.shared.slots).clone();
        for slot in slots {
            let mut state = lock(&slot.state);
            if state.open_at_round_start {
                stats.subscribers += 1;
                stats.closed += u64::from(state.closed);
                stats.received += state.tracker.unique();
                stats.duplicates += state.tracker.duplicates();
                stats.out_of_order += state.tracker.out_of_order();
                let lost = state.tracker.lost(published);
                stats.lost += lost;
                stats.complete += u64::from(lost == 0);
            }
            state.tracker = SeqTracker::default();
            state.round = next_round;
            state.open_at_round_start = !state.closed;
        }
        for shard in &self.shared.shards {
            let shard = std::mem::take(&mut *lock(shard));
            stats.latency.merge(&shard.latency);
            stats.stale += shard.stale;
            stats.foreign += shard.foreign;
            stats.first_us = match (stats.first_us, shard.first_us) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            stats.last_us = stats.last_us.max(shard.last_us);
        }
        stats.close_reasons = lock(&self.shared.close_reasons).clone();
        self.shared.received.store(0, Ordering::Relaxed);
        stats
    }

    /// Closes every connection, waiting a little for the tasks to end.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.tasks.close();
        // Tasks end at their next poll; this bounds the wait if a runtime thread is busy.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.tasks.wait()).await;
    }
}

fn spawn_reader(
    shared: &Arc<Shared>,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
    client: Client,
    index: usize,
) {
    let round = shared.round.load(Ordering::Relaxed);
    let slot = Arc::new(Slot {
        state: Mutex::new(SlotState {
            round,
            tracker: SeqTracker::default(),
            closed: false,
            open_at_round_start: true,
        }),
    });
    lock(&shared.slots).push(slot.clone());
    shared.alive.fetch_add(1, Ordering::Relaxed);
    let shared = shared.clone();
    let cancel = cancel.clone();
    tasks.spawn(read_connection(
        client,
        slot,
        shared,
        index % SHARDS,
        cancel,
    ));
}

/// The life of one connection: read frames until the server closes it or the group ends.
async fn read_connection(
    mut client: Client,
    slot: Arc<Slot>,
    shared: Arc<Shared>,
    shard: usize,
    cancel: CancellationToken,
) {
    let mut stamps: Vec<Option<Stamp>> = Vec::new();
    loop {
        let next = tokio::select! {
            () = cancel.cancelled() => return,
            next = client.next(|data| stamps.push(Stamp::parse(data))) => next,
        };
        if !stamps.is_empty() {
            deliver(&slot, &shared, shard, &stamps);
            stamps.clear();
        }
        if let Err(reason) = next {
            lock(&slot.state).closed = true;
            shared.alive.fetch_sub(1, Ordering::Relaxed);
            let mut reasons = lock(&shared.close_reasons);
            if reasons.len() < MAX_REASONS && !reasons.contains(&reason) {
                reasons.push(reason);
            }
            return;
        }
    }
}

fn deliver(slot: &Slot, shared: &Shared, shard: usize, stamps: &[Option<Stamp>]) {
    let now = now_us();
    let mut state = lock(&slot.state);
    let mut shard = lock(&shared.shards[shard]);
    let mut fresh = 0;
    for stamp in stamps {
        match stamp {
            None => shard.foreign += 1,
            Some(stamp) if stamp.round != state.round => shard.stale += 1,
            Some(stamp) => {
                if state.tracker.record(stamp.seq) != Seen::Duplicate {
                    fresh += 1;
                    shard.latency.record(now - stamp.due_us);
                }
            }
        }
    }
    if fresh > 0 {
        shard.first_us.get_or_insert(now);
        shard.last_us = Some(now);
        shared.received.fetch_add(fresh, Ordering::Relaxed);
    }
}
