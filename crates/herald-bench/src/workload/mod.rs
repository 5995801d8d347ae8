//! The workloads, and what they share: turning arguments into a checked [`Plan`], meters on
//! the server and the generator ([`Meters`]), and one round of publish-and-collect
//! ([`run_round`]) that watches for a dead server while it runs.

pub mod connect;
pub mod fanout;
pub mod floor;
pub mod rooms;
pub mod storm;

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::adapter::Target;
use crate::cli::CommonArgs;
use crate::error::BenchError;
use crate::group::{GroupSpec, Groups};
use crate::net;
use crate::payload::now_us;
use crate::procfs::{self, Pid};
use crate::publisher::{self, PublishOutcome};
use crate::schedule::Schedule;
use crate::stats::RoundStats;

/// Connections one process holds at most under the 20,000 open-file limit, leaving room for
/// the publisher, stdio and the runtime.
pub const CONNECTIONS_PER_PROCESS: usize = 18_000;

/// File descriptors a process needs besides its connections.
const FD_RESERVE: u64 = 200;

/// How often a running round checks the server and the connections.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// How often draining checks whether everything arrived.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// Checked settings of a workload's connections.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The subscribers to open.
    pub spec: GroupSpec,
    /// Worker processes (1: in this process).
    pub workers: usize,
    /// The server's pid, if given.
    pub server_pid: Option<u32>,
}

impl Plan {
    /// Checks `common` for `count` connections and fills in the automatic choices.
    pub fn new(common: &CommonArgs, count: usize) -> Result<Plan, BenchError> {
        if count == 0 {
            return Err(BenchError::InvalidArgs(
                "need at least one connection".into(),
            ));
        }
        if !(common.connect_timeout.is_finite() && common.connect_timeout > 0.0) {
            return Err(BenchError::InvalidArgs(
                "--connect-timeout must be positive".into(),
            ));
        }
        let workers = common
            .workers
            .unwrap_or_else(|| count.div_ceil(CONNECTIONS_PER_PROCESS))
            .max(1);
        let per_process = count.div_ceil(workers) as u64;
        if let Some(limit) = procfs::open_files_limit()
            && per_process + FD_RESERVE > limit
        {
            return Err(BenchError::InvalidArgs(format!(
                "{per_process} connections per process need about {} open files, but the \
                 limit is {limit}: use more --workers (at least {})",
                per_process + FD_RESERVE,
                count.div_ceil(limit.saturating_sub(FD_RESERVE).max(1) as usize)
            )));
        }
        let source_count = common
            .source_addrs
            .unwrap_or_else(|| count.div_ceil(net::CONNECTIONS_PER_SOURCE))
            .max(1);
        let sources = net::loopback_sources(source_count);
        let per_source = count.div_ceil(sources.len());
        if per_source > 28_000 {
            return Err(BenchError::InvalidArgs(format!(
                "{per_source} connections per source address exceed the ~28,000 ephemeral \
                 ports: use more --source-addrs (at least {})",
                count.div_ceil(net::CONNECTIONS_PER_SOURCE)
            )));
        }
        Ok(Plan {
            spec: GroupSpec {
                target: Target {
                    flavor: common.protocol,
                    addr: common.server,
                    token_secret: common.token_secret.clone(),
                    api_key: common.api_key.clone(),
                    connect_timeout: Duration::from_secs_f64(common.connect_timeout),
                    offer_deflate: false,
                    pusher_app: common.pusher_app.clone(),
                },
                sources,
                first_index: 0,
                count,
                channel: common.channel.clone(),
                concurrency: common.concurrency.max(1),
            },
            workers,
            server_pid: common.server_pid,
        })
    }

    /// Fails early with a clear message if the server is not there.
    pub async fn preflight(&self) -> Result<(), BenchError> {
        if let Some(pid) = self.server_pid
            && !procfs::alive(pid)
        {
            return Err(BenchError::InvalidArgs(format!(
                "--server-pid {pid}: no such process"
            )));
        }
        net::preflight(self.spec.target.addr, self.spec.target.connect_timeout).await
    }
}

/// CPU and memory readings of the server and the generator.
#[derive(Debug, Clone)]
pub struct Meters {
    server_pid: Option<u32>,
    worker_pids: Vec<u32>,
}

/// One reading of [`Meters`].
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    at: Instant,
    server_cpu: Option<f64>,
    bench_cpu: f64,
}

/// CPU used between two readings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUse {
    /// Wall time between the readings, seconds.
    pub wall_seconds: f64,
    /// Server CPU seconds (user + system), if its pid is known.
    pub server_seconds: Option<f64>,
    /// This process's and its workers' CPU seconds.
    pub bench_seconds: f64,
}

impl CpuUse {
    /// The generator's CPU as a share of the whole machine (1.0 = every core busy).
    pub fn bench_share(&self, cpus: usize) -> f64 {
        share(self.bench_seconds, self.wall_seconds, cpus)
    }

    /// The server's CPU as a share of the whole machine.
    pub fn server_share(&self, cpus: usize) -> Option<f64> {
        self.server_seconds
            .map(|s| share(s, self.wall_seconds, cpus))
    }
}

fn share(cpu: f64, wall: f64, cpus: usize) -> f64 {
    if wall > 0.0 {
        cpu / (wall * cpus.max(1) as f64)
    } else {
        0.0
    }
}

impl Meters {
    /// Meters for a server (if its pid is known) and this process plus `worker_pids`.
    pub fn new(server_pid: Option<u32>, worker_pids: Vec<u32>) -> Self {
        Meters {
            server_pid,
            worker_pids,
        }
    }

    /// Reads CPU times now.
    pub fn read(&self) -> Reading {
        let workers: f64 = self
            .worker_pids
            .iter()
            .filter_map(|&pid| procfs::cpu_seconds(Pid::Other(pid)))
            .sum();
        Reading {
            at: Instant::now(),
            server_cpu: self
                .server_pid
                .and_then(|p| procfs::cpu_seconds(Pid::Other(p))),
            bench_cpu: procfs::cpu_seconds(Pid::Current).unwrap_or(0.0) + workers,
        }
    }

    /// CPU used since `earlier`.
    pub fn since(&self, earlier: &Reading) -> CpuUse {
        let now = self.read();
        CpuUse {
            wall_seconds: now.at.duration_since(earlier.at).as_secs_f64(),
            server_seconds: match (now.server_cpu, earlier.server_cpu) {
                (Some(now), Some(then)) => Some(now - then),
                _ => None,
            },
            bench_seconds: now.bench_cpu - earlier.bench_cpu,
        }
    }

    /// The server's resident memory, if its pid is known.
    pub fn server_rss(&self) -> Option<u64> {
        self.server_pid
            .and_then(|pid| procfs::rss_bytes(Pid::Other(pid)))
    }

    /// Fails if the server's process is gone.
    pub fn check_server(&self) -> Result<(), BenchError> {
        match self.server_pid {
            Some(pid) if !procfs::alive(pid) => Err(BenchError::ServerGone { pid }),
            _ => Ok(()),
        }
    }
}

/// What one round of publishing produced.
#[derive(Debug, Clone)]
pub struct RoundResult {
    /// What the publisher did.
    pub publish: PublishOutcome,
    /// What the subscribers saw.
    pub stats: RoundStats,
    /// Seconds from the first due time to the last delivery (at least the schedule's span).
    pub active_seconds: f64,
    /// CPU used from the start of publishing to the end of collecting.
    pub cpu: CpuUse,
}

/// Settings of one round.
#[derive(Debug, Clone, Copy)]
pub struct RoundSettings {
    /// The round's number (stamped into every message).
    pub round: u32,
    /// The send schedule.
    pub schedule: Schedule,
    /// Data size of each message.
    pub payload: usize,
    /// How long to wait for deliveries after publishing ends.
    pub drain_timeout: Duration,
}

/// Publishes one round, watching the server and the connections, waits for deliveries, then
/// collects every group's results.
pub async fn run_round(
    groups: &mut Groups,
    meters: &Meters,
    target: &Target,
    channel: &str,
    settings: RoundSettings,
) -> Result<RoundResult, BenchError> {
    let before = meters.read();
    let start_us = now_us();
    let cancel = CancellationToken::new();
    let mut publish = spawn_publisher(target, channel, settings, cancel.clone())?;
    // Bounded by publish_round's own deadline (schedule span + answer timeout).
    let outcome = loop {
        tokio::select! {
            done = &mut publish => break done,
            () = tokio::time::sleep(WATCH_INTERVAL) => {
                if let Err(err) = watch(groups, meters).await {
                    cancel.cancel();
                    return Err(err);
                }
            }
        }
    };
    let publish = match outcome {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(err)) => return Err(diagnose(groups, meters, err).await),
        Err(_) => return Err(BenchError::Publish("the publisher thread died".into())),
    };
    drain(
        groups,
        meters,
        publish.published.accepted(),
        settings.drain_timeout,
    )
    .await?;
    let stats = groups
        .collect(settings.round + 1, &publish.published)
        .await?;
    let cpu = meters.since(&before);
    let span = settings.schedule.span().as_secs_f64();
    let active_seconds = stats
        .last_us
        .map_or(span, |last| ((last - start_us) as f64 / 1e6).max(span));
    Ok(RoundResult {
        publish,
        stats,
        active_seconds,
        cpu,
    })
}

/// Runs the publisher on a thread of its own with a single-threaded runtime. On the shared
/// runtime its timer waits behind thousands of busy reader tasks, so requests went out late
/// (p99 lag of 3 to 20 ms on 2 cores) and the generator's own delay was charged to the server.
fn spawn_publisher(
    target: &Target,
    channel: &str,
    settings: RoundSettings,
    cancel: CancellationToken,
) -> Result<oneshot::Receiver<Result<PublishOutcome, BenchError>>, BenchError> {
    let (done_tx, done_rx) = oneshot::channel();
    let (target, channel) = (target.clone(), channel.to_owned());
    std::thread::Builder::new()
        .name("publisher".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let result = match runtime {
                Ok(runtime) => runtime.block_on(async {
                    tokio::select! {
                        result = publisher::publish_round(
                            &target,
                            &channel,
                            settings.schedule,
                            settings.round,
                            settings.payload,
                            settings.drain_timeout + Duration::from_secs(10),
                        ) => result,
                        () = cancel.cancelled() => Err(BenchError::Publish("cancelled".into())),
                    }
                }),
                Err(err) => Err(BenchError::io("starting the publisher runtime", err)),
            };
            // The receiver is gone only if the run already failed for another reason.
            let _ = done_tx.send(result);
        })
        .map_err(|err| BenchError::io("starting the publisher thread", err))?;
    Ok(done_rx)
}

/// A failed publish is often the first sign of a dying server: give it a moment to exit or
/// close its connections, and report that instead when it happens.
async fn diagnose(groups: &mut Groups, meters: &Meters, err: BenchError) -> BenchError {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Err(cause) = watch(groups, meters).await {
            return cause;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    err
}

/// Fails if the server died or every connection is gone.
async fn watch(groups: &mut Groups, meters: &Meters) -> Result<(), BenchError> {
    meters.check_server()?;
    let progress = groups.progress().await?;
    if progress.alive == 0 {
        return Err(BenchError::AllClosed {
            count: groups.open_stats().opened,
            reason: progress
                .sample_close_reason
                .unwrap_or_else(|| "no reason given".into()),
        });
    }
    Ok(())
}

/// Waits until every open connection has `per_connection` deliveries, or `timeout`.
async fn drain(
    groups: &mut Groups,
    meters: &Meters,
    per_connection: u64,
    timeout: Duration,
) -> Result<(), BenchError> {
    let deadline = Instant::now() + timeout;
    let mut last_watch = Instant::now();
    while Instant::now() < deadline {
        let progress = groups.progress().await?;
        if progress.received >= per_connection * progress.alive {
            return Ok(());
        }
        if last_watch.elapsed() >= WATCH_INTERVAL {
            watch(groups, meters).await?;
            last_watch = Instant::now();
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
    Ok(())
}
