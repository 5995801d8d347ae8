//! `rooms`: N clients in rooms of K (channel `<channel>-<room>`), every client publishing
//! chat-like messages to its room with the client-side `publish` command at a fixed rate,
//! open loop (each message has a due time; a client that falls behind sends what is due at
//! once, so stalls show up as latency). Every message should reach each member of the room,
//! the sender included, exactly once and in its sender's order.

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
// A poisoned lock (a panicked task) is taken over: the counters and results it guards are
// still usable.
use herald_engine::lock;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Meters, Plan};
use crate::adapter::{Client, Event, Target};
use crate::cli::RoomsArgs;
use crate::error::BenchError;
use crate::payload::{Stamp, now_us};
use crate::procfs::Machine;
use crate::report::{OpenSummary, RoomsReport, RunInfo};
use crate::schedule::Schedule;
use crate::stats::{Latency, MAX_REASONS, OpenStats};
use crate::tracker::{Published, SeqTracker};

/// Latency shards, as in the local group.
const SHARDS: usize = 16;

/// How often the coordinator polls progress.
const POLL: Duration = Duration::from_millis(20);

/// Ids of client commands: connect 1, subscribe 2, then publishes from 3 in order.
const FIRST_PUBLISH_ID: u32 = 3;

/// Rooms and their members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Clients.
    pub clients: usize,
    /// Members per room (the last room may have fewer).
    pub room_size: usize,
}

impl Layout {
    /// The room of client `i`.
    pub fn room(&self, i: usize) -> usize {
        i / self.room_size
    }

    /// How many rooms.
    pub fn rooms(&self) -> usize {
        self.clients.div_ceil(self.room_size)
    }

    /// The clients of `room`.
    pub fn members(&self, room: usize) -> std::ops::Range<usize> {
        let start = room * self.room_size;
        start..(start + self.room_size).min(self.clients)
    }
}

/// What one client sent and received.
#[derive(Debug, Default)]
struct ClientState {
    /// Messages sent (numbers `0..sent`).
    sent: u64,
    /// Numbers the server rejected, sorted.
    failed: Vec<u64>,
    first_error: Option<String>,
    /// One tracker per member of the room, by position in the room.
    trackers: Vec<SeqTracker>,
    closed: bool,
}

struct Shared {
    target: Target,
    channel: String,
    layout: Layout,
    schedule: Schedule,
    payload: usize,
    start: CancellationToken,
    stop: CancellationToken,
    received: AtomicU64,
    shards: Vec<Mutex<(Latency, Option<i64>)>>,
    close_reasons: Mutex<Vec<String>>,
    /// Set when publishing starts: the instant and the wall clock.
    epoch: Mutex<Option<(Instant, i64)>>,
}

/// Runs the workload; `_exe` is unused (rooms holds its clients in this process).
pub async fn run(
    args: &RoomsArgs,
    _exe: &Path,
    command: String,
) -> Result<RoomsReport, BenchError> {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if !positive(args.rate) || !positive(args.duration) || args.room_size == 0 {
        return Err(BenchError::InvalidArgs(
            "--rate, --duration and --room-size must be positive".into(),
        ));
    }
    if !(args.drain_timeout.is_finite() && args.drain_timeout >= 0.0) {
        return Err(BenchError::InvalidArgs(
            "--drain-timeout must be >= 0".into(),
        ));
    }
    let plan = Plan::new(&args.common, args.clients)?;
    if plan.workers > 1 {
        return Err(BenchError::InvalidArgs(format!(
            "rooms holds its clients in one process: at most {} clients",
            super::CONNECTIONS_PER_PROCESS
        )));
    }
    let flavor = plan.spec.target.flavor;
    if !(flavor.is_herald() && flavor.is_websocket()) {
        return Err(BenchError::InvalidArgs(format!(
            "rooms publishes from clients over WebSocket: --protocol herald-json or \
             herald-protobuf, not {}",
            flavor.name()
        )));
    }
    plan.preflight().await?;
    let layout = Layout {
        clients: args.clients,
        room_size: args.room_size.min(args.clients),
    };
    let shared = Arc::new(Shared {
        target: plan.spec.target.clone(),
        channel: plan.spec.channel.clone(),
        layout,
        schedule: Schedule::new(args.rate, Duration::from_secs_f64(args.duration)),
        payload: args.payload,
        start: CancellationToken::new(),
        stop: CancellationToken::new(),
        received: AtomicU64::new(0),
        shards: (0..SHARDS)
            .map(|_| Mutex::new((Latency::default(), None)))
            .collect(),
        close_reasons: Mutex::new(Vec::new()),
        epoch: Mutex::new(None),
    });
    let tasks = TaskTracker::new();
    let states: Vec<Arc<Mutex<ClientState>>> = (0..args.clients)
        .map(|i| {
            let room = layout.members(layout.room(i)).len();
            Arc::new(Mutex::new(ClientState {
                trackers: vec![SeqTracker::default(); room],
                ..ClientState::default()
            }))
        })
        .collect();
    let open = open_all(&shared, &tasks, &plan, &states).await;
    let result = match open {
        Ok(open) => publish_and_collect(&shared, &states, &plan, args, open).await,
        Err(err) => Err(err),
    };
    shared.stop.cancel();
    tasks.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), tasks.wait()).await;
    let mut report = result?;
    report.run.command = command;
    Ok(report)
}

async fn open_all(
    shared: &Arc<Shared>,
    tasks: &TaskTracker,
    plan: &Plan,
    states: &[Arc<Mutex<ClientState>>],
) -> Result<OpenStats, BenchError> {
    let spec = &plan.spec;
    let stats = Arc::new(Mutex::new(OpenStats {
        wanted: spec.count as u64,
        started_us: now_us(),
        ..OpenStats::default()
    }));
    let next = Arc::new(AtomicU64::new(0));
    let fatal: Arc<Mutex<Option<BenchError>>> = Arc::new(Mutex::new(None));
    let mut openers = tokio::task::JoinSet::new();
    for _ in 0..spec.concurrency.clamp(1, spec.count) {
        let (shared, tasks, stats, next, fatal) = (
            shared.clone(),
            tasks.clone(),
            stats.clone(),
            next.clone(),
            fatal.clone(),
        );
        let states = states.to_vec();
        let sources = spec.sources.clone();
        openers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= states.len() || lock(&fatal).is_some() {
                    return;
                }
                let source: IpAddr = sources[i % sources.len()];
                let user = format!("bench-{i}");
                let channel = format!("{}-{}", shared.channel, shared.layout.room(i));
                let started = now_us();
                match Client::open(&shared.target, source, &user, &channel).await {
                    Ok(client) => {
                        let done = now_us();
                        {
                            let mut stats = lock(&stats);
                            stats.opened += 1;
                            stats.finished_us = stats.finished_us.max(done);
                            stats.latency.record(done - started);
                        }
                        let state = states[i].clone();
                        tasks.spawn(client_life(shared.clone(), state, client, channel, i));
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
        return Err(error);
    }
    let open = lock(&stats).clone();
    if open.opened < open.wanted {
        return Err(BenchError::OpenFailed {
            failed: open.wanted - open.opened,
            wanted: open.wanted,
            first: open.first_failure.clone().unwrap_or_default(),
        });
    }
    Ok(open)
}

/// What a client read: a publication's stamp (if it is one of ours) or a command's reply.
enum Arrival {
    Publication(Option<Stamp>),
    Reply(u32, Option<String>),
}

enum Step {
    Stop,
    Start,
    Due,
    Read(Result<(), String>),
}

/// Reads the room and, once publishing starts, publishes on schedule until stopped.
async fn client_life(
    shared: Arc<Shared>,
    state: Arc<Mutex<ClientState>>,
    mut client: Client,
    channel: String,
    index: usize,
) {
    let layout = shared.layout;
    let room_start = layout.members(layout.room(index)).start;
    let total = shared.schedule.total();
    // Senders are spread over one message interval so the rooms do not publish in bursts.
    let stagger = shared
        .schedule
        .due(1)
        .mul_f64(index as f64 / layout.clients as f64);
    let mut clock: Option<(Instant, i64)> = None;
    let mut sent = 0u64;
    let mut events: Vec<Arrival> = Vec::new();
    loop {
        let due_at = clock.map(|(at, _)| at + stagger + shared.schedule.due(sent));
        let step = tokio::select! {
            () = shared.stop.cancelled() => Step::Stop,
            () = shared.start.cancelled(), if clock.is_none() => Step::Start,
            () = sleep_until(due_at), if clock.is_some() && sent < total => Step::Due,
            read = client.next_event(|event| match event {
                Event::Publication { data, .. } => {
                    events.push(Arrival::Publication(Stamp::parse(data)));
                }
                Event::Reply { id, error } => events.push(Arrival::Reply(id, error)),
            }) => Step::Read(read),
        };
        match step {
            Step::Stop => return,
            Step::Start => clock = *lock(&shared.epoch),
            Step::Due => {
                let Some((at, wall)) = clock else { continue };
                let elapsed = at.elapsed().saturating_sub(stagger);
                let due_by = shared.schedule.due_by(elapsed).max(sent + 1).min(total);
                while sent < due_by {
                    let offset = stagger + shared.schedule.due(sent);
                    let stamp = Stamp {
                        round: index as u32,
                        seq: sent,
                        due_us: wall + i64::try_from(offset.as_micros()).unwrap_or(i64::MAX),
                    };
                    let data = Bytes::from(stamp.encode(shared.payload));
                    let result = client.publish(&channel, data).await;
                    let mut state = lock(&state);
                    state.sent = sent + 1;
                    if let Err(err) = result {
                        state.failed.push(sent);
                        state.first_error.get_or_insert(err);
                    }
                    sent += 1;
                }
            }
            Step::Read(read) => {
                if !events.is_empty() {
                    record(&shared, &state, room_start, index, &mut events);
                }
                if let Err(reason) = read {
                    lock(&state).closed = true;
                    let mut reasons = lock(&shared.close_reasons);
                    if reasons.len() < MAX_REASONS && !reasons.contains(&reason) {
                        reasons.push(reason);
                    }
                    return;
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn record(
    shared: &Shared,
    state: &Mutex<ClientState>,
    room_start: usize,
    index: usize,
    events: &mut Vec<Arrival>,
) {
    let now = now_us();
    let mut state = lock(state);
    let mut shard = lock(&shared.shards[index % SHARDS]);
    let mut fresh = 0;
    for arrival in events.drain(..) {
        let stamp = match arrival {
            Arrival::Reply(id, Some(error)) => {
                let seq = u64::from(id.saturating_sub(FIRST_PUBLISH_ID));
                if let Err(at) = state.failed.binary_search(&seq) {
                    state.failed.insert(at, seq);
                }
                state.first_error.get_or_insert(error);
                continue;
            }
            Arrival::Reply(_, None) | Arrival::Publication(None) => continue,
            Arrival::Publication(Some(stamp)) => stamp,
        };
        let Some(slot) = (stamp.round as usize).checked_sub(room_start) else {
            continue;
        };
        let Some(tracker) = state.trackers.get_mut(slot) else {
            continue;
        };
        if tracker.record(stamp.seq) != crate::tracker::Seen::Duplicate {
            fresh += 1;
            shard.0.record(now - stamp.due_us);
            shard.1 = Some(shard.1.map_or(now, |last: i64| last.max(now)));
        }
    }
    if fresh > 0 {
        shared.received.fetch_add(fresh, Ordering::Relaxed);
    }
}

async fn publish_and_collect(
    shared: &Arc<Shared>,
    states: &[Arc<Mutex<ClientState>>],
    plan: &Plan,
    args: &RoomsArgs,
    open: OpenStats,
) -> Result<RoomsReport, BenchError> {
    let meters = Meters::new(plan.server_pid, Vec::new());
    let server_rss = meters.server_rss();
    let before = meters.read();
    let start_us = now_us();
    *lock(&shared.epoch) = Some((Instant::now(), start_us));
    shared.start.cancel();
    let layout = shared.layout;
    let per_client = shared.schedule.total();
    // Publishing: bounded by the schedule's span plus a margin for senders behind.
    let publish_end =
        Instant::now() + shared.schedule.span() + shared.schedule.due(1) + Duration::from_secs(10);
    let drain_timeout = Duration::from_secs_f64(args.drain_timeout);
    let expected_now = || -> u64 {
        states
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let s = lock(s);
                (s.sent - s.failed.len() as u64) * layout.members(layout.room(i)).len() as u64
            })
            .sum()
    };
    let mut polls = 0u32;
    loop {
        let sent: u64 = states.iter().map(|s| lock(s).sent).sum();
        if sent >= per_client * states.len() as u64 || Instant::now() >= publish_end {
            break;
        }
        polls += 1;
        if polls.is_multiple_of(10) {
            meters.check_server()?;
        }
        tokio::time::sleep(POLL).await;
    }
    let drain_end = Instant::now() + drain_timeout;
    while Instant::now() < drain_end && shared.received.load(Ordering::Relaxed) < expected_now() {
        tokio::time::sleep(POLL).await;
    }
    let cpu = meters.since(&before);
    shared.stop.cancel();

    let mut latency = Latency::default();
    let mut last_us: Option<i64> = None;
    for shard in &shared.shards {
        let shard = lock(shard);
        latency.merge(&shard.0);
        last_us = last_us.max(shard.1);
    }
    let published: Vec<Published> = states
        .iter()
        .map(|s| {
            let s = lock(s);
            Published {
                total: s.sent,
                failed: s.failed.clone(),
            }
        })
        .collect();
    let (mut received, mut lost, mut duplicates, mut out_of_order, mut closed) = (0, 0, 0, 0, 0);
    let mut first_error = None;
    for (i, state) in states.iter().enumerate() {
        let state = lock(state);
        let room_start = layout.members(layout.room(i)).start;
        for (slot, tracker) in state.trackers.iter().enumerate() {
            received += tracker.unique();
            duplicates += tracker.duplicates();
            out_of_order += tracker.out_of_order();
            lost += tracker.lost(&published[room_start + slot]);
        }
        closed += u64::from(state.closed);
        if first_error.is_none() {
            first_error.clone_from(&state.first_error);
        }
    }
    let sent: u64 = published.iter().map(|p| p.total).sum();
    let failed: u64 = published.iter().map(|p| p.failed.len() as u64).sum();
    let expected: u64 = published
        .iter()
        .enumerate()
        .map(|(i, p)| p.accepted() * layout.members(layout.room(i)).len() as u64)
        .sum();
    let active_seconds = last_us.map_or(0.0, |last| (last - start_us).max(0) as f64 / 1e6);
    let per = |seconds: f64| {
        if seconds > 0.0 {
            received as f64 / seconds
        } else {
            0.0
        }
    };
    let machine = Machine::current();
    Ok(RoomsReport {
        run: RunInfo {
            command: String::new(),
            machine: machine.clone(),
            flavor: plan.spec.target.flavor,
            workers: plan.workers,
            source_addrs: plan.spec.sources.len(),
        },
        open: OpenSummary::from(&open),
        clients: layout.clients as u64,
        room_size: layout.room_size as u64,
        rooms: layout.rooms() as u64,
        rate_per_client: args.rate,
        duration_seconds: args.duration,
        payload_bytes: args.payload,
        sent,
        publish_failed: failed,
        first_publish_error: first_error,
        expected_deliveries: expected,
        received,
        lost,
        duplicates,
        out_of_order,
        closed,
        active_seconds,
        deliveries_per_second: per(active_seconds),
        latency: latency.summary(),
        server_cpu_seconds: cpu.server_seconds,
        server_cpu_share: cpu.server_share(machine.cpus),
        deliveries_per_server_cpu_second: cpu.server_seconds.map(per),
        bench_cpu_seconds: cpu.bench_seconds,
        server_rss,
        close_reasons: lock(&shared.close_reasons).clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_cover_every_client_once() {
        let layout = Layout {
            clients: 10,
            room_size: 4,
        };
        assert_eq!(layout.rooms(), 3);
        assert_eq!(layout.members(0), 0..4);
        assert_eq!(layout.members(2), 8..10, "the last room is smaller");
        assert_eq!(layout.room(7), 1);
        let total: usize = (0..layout.rooms()).map(|r| layout.members(r).len()).sum();
        assert_eq!(total, 10);
    }
}
