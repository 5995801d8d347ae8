//! `storm`: N clients subscribed to one recoverable channel while publications run through
//! the HTTP API; after a warm-up every connection is dropped at once from the client side
//! (the sockets are closed without a WebSocket close frame, as after a network blip), and each
//! client reconnects after a jittered backoff and resubscribes with recovery from the last
//! offset it saw. Every published number must reach every client exactly once and in order,
//! counting live pushes and the publications carried by the recovering subscribe reply.

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// A poisoned lock (a panicked task) is taken over: the counters and results it guards are
// still usable.
use herald_engine::lock;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Meters, Plan, RoundSettings, spawn_publisher};
use crate::adapter::{Client, Event, Resume, Subscribed, Target};
use crate::cli::StormArgs;
use crate::error::BenchError;
use crate::group::FIRST_ROUND;
use crate::payload::{Stamp, now_us};
use crate::procfs::Machine;
use crate::report::{OpenSummary, RunInfo, StormReport};
use crate::schedule::Schedule;
use crate::stats::{Latency, OpenStats};
use crate::tracker::{Published, SeqTracker};

/// Reconnect attempts per client after the drop before it counts as failed.
const MAX_ATTEMPTS: u32 = 10;

/// How often the coordinator polls progress.
const POLL: Duration = Duration::from_millis(10);

/// One client's view of the run.
#[derive(Debug, Default)]
struct ClientState {
    tracker: SeqTracker,
    resume: Resume,
    /// µs since the epoch when the recovering subscribe reply arrived.
    back_us: Option<i64>,
    /// `recovered` of that reply.
    recovered: Option<bool>,
    /// Why the client is not back (reconnect failures, a close before the drop).
    failure: Option<String>,
    /// Publications that were not ours or of another round.
    foreign: u64,
}

impl ClientState {
    /// Counts one publication (live or recovered) and remembers its offset for recovery.
    fn deliver(&mut self, offset: u64, data: &[u8]) -> bool {
        self.deliver_stamp(offset, Stamp::parse(data))
    }

    /// [`ClientState::deliver`] with the data already parsed; true if it was the run's.
    fn deliver_stamp(&mut self, offset: u64, stamp: Option<Stamp>) -> bool {
        if offset > self.resume.offset {
            self.resume.offset = offset;
        }
        match stamp {
            Some(stamp) if stamp.round == FIRST_ROUND => {
                self.tracker.record(stamp.seq);
                true
            }
            _ => {
                self.foreign += 1;
                false
            }
        }
    }
}

struct Shared {
    target: Target,
    channel: String,
    max_backoff: Duration,
    drop: CancellationToken,
    stop: CancellationToken,
    received: AtomicU64,
    back: AtomicU64,
    gave_up: AtomicU64,
    /// Failed reconnect attempts (each followed by another backoff).
    retries: AtomicU64,
}

/// The per-client accounting of a whole run, judged against what was published.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StormTally {
    /// Distinct deliveries.
    pub received: u64,
    /// Accepted publications some client never got (counted per client).
    pub lost: u64,
    /// Deliveries of a number the client already had.
    pub duplicates: u64,
    /// Deliveries after a later number.
    pub out_of_order: u64,
    /// Clients that got every accepted publication exactly once, in order.
    pub complete: u64,
}

impl StormTally {
    /// Adds one client's tracker.
    pub fn add(&mut self, tracker: &SeqTracker, published: &Published) {
        let lost = tracker.lost(published);
        self.received += tracker.unique();
        self.lost += lost;
        self.duplicates += tracker.duplicates();
        self.out_of_order += tracker.out_of_order();
        self.complete +=
            u64::from(lost == 0 && tracker.duplicates() == 0 && tracker.out_of_order() == 0);
    }
}

/// A uniform backoff in `0..=max` from a seed (splitmix64), without a shared generator.
pub fn jitter(seed: u64, max: Duration) -> Duration {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let max_us = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
    if max_us == 0 {
        return Duration::ZERO;
    }
    Duration::from_micros(z % (max_us + 1))
}

/// Runs the workload; `_exe` is unused (storm holds its clients in this process).
pub async fn run(
    args: &StormArgs,
    _exe: &Path,
    command: String,
) -> Result<StormReport, BenchError> {
    check(args)?;
    // A storm client holds one socket at a time (it drops the old one before reconnecting), so
    // one process holds as many clients as its open-file limit allows; `Plan::new` checks it.
    let mut common = args.common.clone();
    if common.workers.is_some_and(|workers| workers > 1) {
        return Err(BenchError::InvalidArgs(
            "storm holds its clients in one process: --workers must be 1".into(),
        ));
    }
    common.workers = Some(1);
    let plan = Plan::new(&common, args.clients)?;
    let flavor = plan.spec.target.flavor;
    if !(flavor.is_herald() && flavor.is_websocket()) {
        return Err(BenchError::InvalidArgs(format!(
            "storm needs Herald's recovery over WebSocket: --protocol herald-json or \
             herald-protobuf, not {}",
            flavor.name()
        )));
    }
    plan.preflight().await?;
    let shared = Arc::new(Shared {
        target: plan.spec.target.clone(),
        channel: plan.spec.channel.clone(),
        max_backoff: Duration::from_millis(args.max_backoff_ms),
        drop: CancellationToken::new(),
        stop: CancellationToken::new(),
        received: AtomicU64::new(0),
        back: AtomicU64::new(0),
        gave_up: AtomicU64::new(0),
        retries: AtomicU64::new(0),
    });
    let tasks = TaskTracker::new();
    let (open, states) = open_all(&shared, &tasks, &plan).await?;
    let result = storm(&shared, &states, &plan, args, &open).await;
    shared.stop.cancel();
    tasks.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), tasks.wait()).await;
    let mut report = result?;
    report.run.command = command;
    Ok(report)
}

fn check(args: &StormArgs) -> Result<(), BenchError> {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if !positive(args.rate) || !positive(args.duration) || !positive(args.warmup) {
        return Err(BenchError::InvalidArgs(
            "--rate, --duration and --warmup must be positive".into(),
        ));
    }
    if args.warmup >= args.duration {
        return Err(BenchError::InvalidArgs(
            "--warmup must be shorter than --duration (the drop happens while publishing)".into(),
        ));
    }
    for (name, v) in [
        ("--drain-timeout", args.drain_timeout),
        ("--recover-timeout", args.recover_timeout),
    ] {
        if !positive(v) {
            return Err(BenchError::InvalidArgs(format!("{name} must be positive")));
        }
    }
    Ok(())
}

type States = Vec<Arc<Mutex<ClientState>>>;

/// Opens every client with bounded concurrency and starts its task.
async fn open_all(
    shared: &Arc<Shared>,
    tasks: &TaskTracker,
    plan: &Plan,
) -> Result<(OpenStats, States), BenchError> {
    let spec = &plan.spec;
    let states: States = (0..spec.count)
        .map(|_| Arc::new(Mutex::new(ClientState::default())))
        .collect();
    let stats = Arc::new(Mutex::new(OpenStats {
        wanted: spec.count as u64,
        started_us: now_us(),
        ..OpenStats::default()
    }));
    let next = Arc::new(AtomicU64::new(0));
    let fatal: Arc<Mutex<Option<BenchError>>> = Arc::new(Mutex::new(None));
    let mut openers = tokio::task::JoinSet::new();
    for _ in 0..spec.concurrency.clamp(1, spec.count) {
        let (shared, tasks, states, stats, next, fatal) = (
            shared.clone(),
            tasks.clone(),
            states.clone(),
            stats.clone(),
            next.clone(),
            fatal.clone(),
        );
        let sources = spec.sources.clone();
        let count = spec.count;
        openers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= count || lock(&fatal).is_some() {
                    return;
                }
                let source = sources[i % sources.len()];
                let user = format!("bench-{i}");
                let started = now_us();
                let opened =
                    Client::open_resuming(&shared.target, source, &user, &shared.channel, None)
                        .await;
                match opened {
                    Ok((client, subscribed)) => {
                        let done = now_us();
                        {
                            let mut stats = lock(&stats);
                            stats.opened += 1;
                            stats.finished_us = stats.finished_us.max(done);
                            stats.latency.record(done - started);
                        }
                        let state = states[i].clone();
                        {
                            let mut state = lock(&state);
                            let sub = subscribed.unwrap_or_default();
                            state.resume = Resume {
                                offset: sub.offset,
                                epoch: sub.epoch,
                            };
                        }
                        tasks.spawn(client_life(shared.clone(), state, client, source, user, i));
                    }
                    Err(err) => {
                        if let Some(error) = err.fatal(source) {
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
    if let Some(error) = lock(&fatal).take() {
        shared.stop.cancel();
        return Err(error);
    }
    let open = lock(&stats).clone();
    if open.opened < open.wanted {
        shared.stop.cancel();
        return Err(BenchError::OpenFailed {
            failed: open.wanted - open.opened,
            wanted: open.wanted,
            first: open.first_failure.clone().unwrap_or_default(),
        });
    }
    Ok((open, states))
}

/// Reads until the drop, drops the socket, reconnects with recovery, reads until the end.
async fn client_life(
    shared: Arc<Shared>,
    state: Arc<Mutex<ClientState>>,
    client: Client,
    source: IpAddr,
    user: String,
    index: usize,
) {
    let before_drop = tokio::select! {
        () = shared.stop.cancelled() => return,
        () = shared.drop.cancelled() => Ok(()),
        reason = read(&shared, &state, client) => Err(reason),
    };
    if let Err(reason) = before_drop {
        // Closed before the drop: it still reconnects with recovery, but the run notes it.
        lock(&state).failure = Some(format!("closed before the drop: {reason}"));
    }
    // The client (and its socket) is dropped here without a close frame.
    let seed = index as u64 ^ (now_us() as u64).rotate_left(17);
    let mut attempt = 0;
    let client = loop {
        let backoff = jitter(seed.wrapping_add(u64::from(attempt)), shared.max_backoff);
        tokio::select! {
            () = shared.stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        let resume = lock(&state).resume.clone();
        let opened = tokio::select! {
            () = shared.stop.cancelled() => return,
            opened = Client::open_resuming(
                &shared.target, source, &user, &shared.channel, Some(&resume),
            ) => opened,
        };
        match opened {
            Ok((client, subscribed)) => {
                let back = now_us();
                let sub: Subscribed = subscribed.unwrap_or_default();
                let mut state = lock(&state);
                let mut fresh = 0;
                for (offset, data) in &sub.publications {
                    fresh += u64::from(state.deliver(*offset, data));
                }
                if !sub.epoch.is_empty() {
                    state.resume.epoch = sub.epoch;
                }
                state.back_us = Some(back);
                state.recovered = Some(sub.recovered);
                shared.received.fetch_add(fresh, Ordering::Relaxed);
                shared.back.fetch_add(1, Ordering::Relaxed);
                break client;
            }
            Err(err) => {
                attempt += 1;
                shared.retries.fetch_add(1, Ordering::Relaxed);
                let mut state = lock(&state);
                state.failure = Some(format!("reconnect attempt {attempt}: {err}"));
                if attempt >= MAX_ATTEMPTS {
                    shared.gave_up.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    };
    tokio::select! {
        () = shared.stop.cancelled() => {}
        reason = read(&shared, &state, client) => {
            lock(&state).failure.get_or_insert(format!("closed after recovering: {reason}"));
        }
    }
}

/// Reads publications until the connection ends; returns why it ended.
async fn read(shared: &Shared, state: &Mutex<ClientState>, mut client: Client) -> String {
    let mut batch: Vec<(u64, Option<Stamp>)> = Vec::new();
    loop {
        let next = client
            .next_event(|event| {
                if let Event::Publication { offset, data } = event {
                    batch.push((offset, Stamp::parse(data)));
                }
            })
            .await;
        if !batch.is_empty() {
            let mut state = lock(state);
            let mut fresh = 0;
            for (offset, stamp) in batch.drain(..) {
                fresh += u64::from(state.deliver_stamp(offset, stamp));
            }
            shared.received.fetch_add(fresh, Ordering::Relaxed);
        }
        if let Err(reason) = next {
            return reason;
        }
    }
}

/// Publishing, the drop, waiting for everyone to be back, draining, and the tally.
async fn storm(
    shared: &Arc<Shared>,
    states: &States,
    plan: &Plan,
    args: &StormArgs,
    open: &OpenStats,
) -> Result<StormReport, BenchError> {
    let meters = Meters::new(plan.server_pid, Vec::new());
    let rss_before = meters.server_rss();
    let before = meters.read();
    let schedule = Schedule::new(args.rate, Duration::from_secs_f64(args.duration));
    let drain_timeout = Duration::from_secs_f64(args.drain_timeout);
    let settings = RoundSettings {
        round: FIRST_ROUND,
        schedule,
        payload: args.payload,
        drain_timeout,
    };
    let cancel = CancellationToken::new();
    let _cancel_guard = cancel.clone().drop_guard();
    let mut publisher = spawn_publisher(&plan.spec.target, &plan.spec.channel, settings, cancel)?;

    // Warm-up: publications flow live.
    let warm_end = Instant::now() + Duration::from_secs_f64(args.warmup);
    while Instant::now() < warm_end {
        meters.check_server()?;
        tokio::time::sleep(
            POLL.max(Duration::from_millis(100))
                .min(warm_end.saturating_duration_since(Instant::now())),
        )
        .await;
    }
    let rss_at_drop = meters.server_rss();
    let overflows_before = crate::procfs::listen_overflows();
    let drop_us = now_us();
    shared.drop.cancel();

    // Everyone back (or given up), bounded by --recover-timeout.
    let clients = states.len() as u64;
    let recover_end = Instant::now() + Duration::from_secs_f64(args.recover_timeout);
    let mut polls = 0u32;
    while Instant::now() < recover_end {
        let done = shared.back.load(Ordering::Relaxed) + shared.gave_up.load(Ordering::Relaxed);
        if done >= clients {
            break;
        }
        polls += 1;
        if polls.is_multiple_of(25) {
            meters.check_server()?;
        }
        tokio::time::sleep(POLL).await;
    }
    let all_back_us = now_us();
    let listen_overflows = crate::procfs::listen_overflows()
        .zip(overflows_before)
        .map(|(after, before)| after.saturating_sub(before));

    // The publisher ends with its schedule (bounded by its own answer timeout).
    let limit = schedule.span() + drain_timeout + Duration::from_secs(30);
    let outcome = tokio::select! {
        done = &mut publisher => done,
        () = tokio::time::sleep(limit) => {
            return Err(BenchError::Publish("the publisher did not finish".into()));
        }
    };
    let outcome = outcome
        .map_err(|_| BenchError::Publish("the publisher thread ended without a result".into()))??;
    let published = outcome.published.clone();

    // Drain: every client that is back has every accepted number, or the timeout.
    let want = published.accepted() * shared.back.load(Ordering::Relaxed);
    let drain_end = Instant::now() + drain_timeout;
    while Instant::now() < drain_end && shared.received.load(Ordering::Relaxed) < want {
        tokio::time::sleep(POLL).await;
    }
    let cpu = meters.since(&before);
    let rss_after = meters.server_rss();
    shared.stop.cancel();

    let mut tally = StormTally::default();
    let mut back_times = Latency::default();
    let mut not_recovered = 0;
    let mut not_back = 0;
    let mut foreign = 0;
    let mut failures = Vec::new();
    for state in states {
        let state = lock(state);
        tally.add(&state.tracker, &published);
        foreign += state.foreign;
        match state.back_us {
            Some(back) => back_times.record(back - drop_us),
            None => not_back += 1,
        }
        if state.recovered == Some(false) {
            not_recovered += 1;
        }
        if let Some(failure) = &state.failure
            && failures.len() < 5
            && !failures.contains(failure)
        {
            failures.push(failure.clone());
        }
    }
    let machine = Machine::current();
    let back = back_times.summary();
    Ok(StormReport {
        run: RunInfo {
            command: String::new(),
            machine: machine.clone(),
            flavor: plan.spec.target.flavor,
            workers: plan.workers,
            source_addrs: plan.spec.sources.len(),
        },
        open: OpenSummary::from(open),
        clients,
        rate: args.rate,
        duration_seconds: args.duration,
        warmup_seconds: args.warmup,
        max_backoff_ms: args.max_backoff_ms,
        published: published.total,
        publish_failed: published.failed.len() as u64,
        first_publish_error: outcome.first_error.clone(),
        back: clients - not_back,
        not_back,
        not_recovered,
        all_back_seconds: if not_back == 0 {
            Some((all_back_us - drop_us).max(0) as f64 / 1e6)
        } else {
            None
        },
        back_time: back,
        listen_overflows,
        reconnect_retries: shared.retries.load(Ordering::Relaxed),
        expected_deliveries: published.accepted() * clients,
        received: tally.received,
        lost: tally.lost,
        duplicates: tally.duplicates,
        out_of_order: tally.out_of_order,
        complete_clients: tally.complete,
        foreign,
        server_cpu_seconds: cpu.server_seconds,
        server_cpu_share: cpu.server_share(machine.cpus),
        bench_cpu_seconds: cpu.bench_seconds,
        server_rss_before: rss_before,
        server_rss_at_drop: rss_at_drop,
        server_rss_after: rss_after,
        failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_bounds_and_spreads() {
        let max = Duration::from_millis(500);
        let values: Vec<_> = (0..1000).map(|i| jitter(i, max)).collect();
        assert!(values.iter().all(|v| *v <= max));
        let low = values.iter().filter(|v| **v < max / 2).count();
        assert!((350..650).contains(&low), "{low} of 1000 in the lower half");
        assert_eq!(jitter(7, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn recovered_publications_fill_the_gap_of_the_drop() {
        let stamp = |seq| {
            Stamp {
                round: FIRST_ROUND,
                seq,
                due_us: 0,
            }
            .encode(32)
        };
        let mut state = ClientState::default();
        // Live 0..5 at offsets 11..16, then the drop; recovery brings 5..8, live resumes at 8.
        for seq in 0..5 {
            assert!(state.deliver(11 + seq, stamp(seq).as_bytes()));
        }
        assert_eq!(state.resume.offset, 15);
        for seq in 5..10 {
            state.deliver(11 + seq, stamp(seq).as_bytes());
        }
        let mut tally = StormTally::default();
        tally.add(&state.tracker, &Published::all(10));
        assert_eq!(
            tally,
            StormTally {
                received: 10,
                complete: 1,
                ..StormTally::default()
            }
        );
    }

    #[test]
    fn a_replayed_or_missing_publication_is_counted() {
        let stamp = |seq| {
            Stamp {
                round: FIRST_ROUND,
                seq,
                due_us: 0,
            }
            .encode(32)
        };
        let mut state = ClientState::default();
        for seq in [0, 1, 2, 2, 3, 5] {
            state.deliver(seq + 1, stamp(seq).as_bytes());
        }
        // Another round's or a foreign publication does not count.
        assert!(!state.deliver(99, b"hello"));
        let mut tally = StormTally::default();
        tally.add(&state.tracker, &Published::all(7));
        assert_eq!(tally.received, 5);
        assert_eq!(tally.duplicates, 1);
        assert_eq!(tally.lost, 2, "4 and 6");
        assert_eq!(tally.complete, 0);
        assert_eq!(state.foreign, 1);
        assert_eq!(state.resume.offset, 99);
    }
}
