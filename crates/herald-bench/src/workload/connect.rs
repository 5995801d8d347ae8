//! `connect`: open N connections (connect with a JWT, subscribe), measure how fast and what
//! they cost the server in memory, hold them, then publish once and check that every one
//! still receives it.

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use super::{Meters, Plan, RoundSettings, run_round, watch};
use crate::cli::ConnectArgs;
use crate::error::BenchError;
use crate::group::{FIRST_ROUND, Groups};
use crate::procfs::{self, Machine};
use crate::report::{ConnectReport, OpenSummary, RunInfo};
use crate::schedule::Schedule;

/// Data size of the liveness-check publication.
const CHECK_PAYLOAD: usize = 64;

/// Runs the workload; `exe` is this binary, for worker processes.
pub async fn run(
    args: &ConnectArgs,
    exe: &Path,
    command: String,
) -> Result<ConnectReport, BenchError> {
    let mut plan = Plan::new(&args.common, args.connections)?;
    plan.spec.target.offer_deflate = args.deflate;
    for (name, value) in [
        ("--hold", args.hold),
        ("--settle", args.settle),
        ("--drain-timeout", args.drain_timeout),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(BenchError::InvalidArgs(format!("{name} must be >= 0")));
        }
    }
    plan.preflight().await?;
    let server = Meters::new(plan.server_pid, Vec::new());
    let rss_before = server.server_rss();
    let before = server.read();
    let overflows_before = procfs::listen_overflows();

    let mut groups = Groups::open(&plan.spec, plan.workers, exe).await?;
    let meters = Meters::new(plan.server_pid, groups.worker_pids());
    let open_cpu = meters.since(&before);
    let listen_overflows = procfs::listen_overflows()
        .zip(overflows_before)
        .map(|(after, before)| after.saturating_sub(before));
    let open = groups.open_stats().clone();
    let result = hold_and_check(&mut groups, &meters, &plan, args).await;
    groups.shutdown().await;
    let (rss_after, verified) = result?;

    let machine = Machine::current();
    let rss_per_connection = match (rss_before, rss_after) {
        (Some(before), Some(after)) if open.opened > 0 => {
            Some((after as f64 - before as f64) / open.opened as f64)
        }
        _ => None,
    };
    Ok(ConnectReport {
        open_bench_cpu_share: open_cpu.bench_share(machine.cpus),
        listen_overflows,
        run: RunInfo {
            command,
            machine,
            flavor: plan.spec.target.flavor,
            workers: plan.workers,
            source_addrs: plan.spec.sources.len(),
        },
        open: OpenSummary::from(&open),
        open_server_cpu_seconds: open_cpu.server_seconds,
        server_rss_before: rss_before,
        server_rss_after: rss_after,
        rss_per_connection,
        hold_seconds: args.hold,
        closed: open.opened - verified.subscribers + verified.closed,
        alive_verified: verified.complete,
        close_reasons: verified.close_reasons,
    })
}

/// Settles, reads the server's memory, holds, then runs the one-message liveness round.
async fn hold_and_check(
    groups: &mut Groups,
    meters: &Meters,
    plan: &Plan,
    args: &ConnectArgs,
) -> Result<(Option<u64>, crate::stats::RoundStats), BenchError> {
    if groups.open_stats().opened == 0 {
        let open = groups.open_stats();
        return Err(BenchError::OpenFailed {
            failed: open.failed(),
            wanted: open.wanted,
            first: open.first_failure.clone().unwrap_or_default(),
        });
    }
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    let rss_after = meters.server_rss();
    // Bounded by --hold; checks once a second that the server and the connections live.
    let hold_end = Instant::now() + Duration::from_secs_f64(args.hold);
    while Instant::now() < hold_end {
        watch(groups, meters).await?;
        let left = hold_end.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(Duration::from_secs(1))).await;
    }
    let settings = RoundSettings {
        round: FIRST_ROUND,
        schedule: Schedule::new(1.0, Duration::from_secs(1)),
        payload: CHECK_PAYLOAD,
        drain_timeout: Duration::from_secs_f64(args.drain_timeout),
    };
    let target = &plan.spec.target;
    let round = run_round(groups, meters, target, &plan.spec.channel, settings).await?;
    if round.publish.published.accepted() == 0 {
        return Err(BenchError::Publish(format!(
            "the liveness-check publication was rejected: {}",
            round.publish.first_error.unwrap_or_default()
        )));
    }
    Ok((rss_after, round.stats))
}
