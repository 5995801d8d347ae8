//! `fanout`: N subscribers on one channel, publications through the HTTP API on an open-loop
//! schedule. With `--step` the rate grows by `--step-factor` after every sustainable round
//! (nothing lost, no subscriber closed, p99 within `--p99-bound-ms`) and the highest
//! sustainable rate is reported.

use std::path::Path;
use std::time::Duration;

use super::{Meters, Plan, RoundResult, RoundSettings, run_round};
use crate::cli::FanoutArgs;
use crate::error::BenchError;
use crate::group::{FIRST_ROUND, Groups};
use crate::procfs::Machine;
use crate::report::{FanoutReport, OpenSummary, RunInfo, StepReport};
use crate::schedule::Schedule;

/// Pause between steps, so late deliveries of one round do not land in the next.
const STEP_PAUSE: Duration = Duration::from_millis(500);

/// Runs the workload; `exe` is this binary, for worker processes.
pub async fn run(
    args: &FanoutArgs,
    exe: &Path,
    command: String,
) -> Result<FanoutReport, BenchError> {
    check(args)?;
    let mut plan = Plan::new(&args.common, args.subscribers)?;
    plan.spec.target.offer_deflate = args.deflate;
    plan.preflight().await?;
    let mut groups = Groups::open(&plan.spec, plan.workers, exe).await?;
    let open = OpenSummary::from(groups.open_stats());
    let meters = Meters::new(plan.server_pid, groups.worker_pids());
    let result = rounds(&mut groups, &meters, &plan, args).await;
    groups.shutdown().await;
    let (steps, server_rss) = result?;

    let highest_sustainable_rate = steps
        .iter()
        .filter(|s| s.sustainable)
        .map(|s| s.rate)
        .reduce(f64::max);
    Ok(FanoutReport {
        run: RunInfo {
            command,
            machine: Machine::current(),
            flavor: plan.spec.target.flavor,
            workers: plan.workers,
            source_addrs: plan.spec.sources.len(),
        },
        open,
        payload_bytes: args.payload,
        stepped: args.step,
        p99_bound_ms: args.p99_bound_ms,
        steps,
        highest_sustainable_rate,
        server_rss,
    })
}

fn check(args: &FanoutArgs) -> Result<(), BenchError> {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if !positive(args.rate) || !positive(args.duration) || !positive(args.p99_bound_ms) {
        return Err(BenchError::InvalidArgs(
            "--rate, --duration and --p99-bound-ms must be positive".into(),
        ));
    }
    if args.step && !(args.step_factor.is_finite() && args.step_factor > 1.0) {
        return Err(BenchError::InvalidArgs(
            "--step-factor must be above 1".into(),
        ));
    }
    if args.max_steps == 0 || !(args.drain_timeout.is_finite() && args.drain_timeout >= 0.0) {
        return Err(BenchError::InvalidArgs(
            "--max-steps must be at least 1 and --drain-timeout >= 0".into(),
        ));
    }
    Ok(())
}

async fn rounds(
    groups: &mut Groups,
    meters: &Meters,
    plan: &Plan,
    args: &FanoutArgs,
) -> Result<(Vec<StepReport>, Option<u64>), BenchError> {
    let open = groups.open_stats();
    if open.opened < open.wanted {
        return Err(BenchError::OpenFailed {
            failed: open.wanted - open.opened,
            wanted: open.wanted,
            first: open.first_failure.clone().unwrap_or_default(),
        });
    }
    let server_rss = meters.server_rss();
    let cpus = Machine::current().cpus;
    let mut steps = Vec::new();
    let mut rate = args.rate;
    let mut publish_target = plan.spec.target.clone();
    if let Some(addr) = args.publish_server {
        publish_target.addr = addr;
    }
    let max_steps = if args.step { args.max_steps } else { 1 };
    for index in 0..max_steps {
        if index > 0 {
            tokio::time::sleep(STEP_PAUSE).await;
        }
        let settings = RoundSettings {
            round: FIRST_ROUND + index as u32,
            schedule: Schedule::new(rate, Duration::from_secs_f64(args.duration)),
            payload: args.payload,
            drain_timeout: Duration::from_secs_f64(args.drain_timeout),
        };
        let result = run_round(
            groups,
            meters,
            &publish_target,
            &plan.spec.channel,
            settings,
        )
        .await?;
        let step = step_report(&result, settings, args.p99_bound_ms, cpus);
        let sustainable = step.sustainable;
        steps.push(step);
        if !sustainable {
            break;
        }
        rate *= args.step_factor;
    }
    Ok((steps, server_rss))
}

fn step_report(
    result: &RoundResult,
    settings: RoundSettings,
    p99_bound_ms: f64,
    cpus: usize,
) -> StepReport {
    let stats = &result.stats;
    let published = &result.publish.published;
    let received = stats.received;
    let per = |seconds: f64| {
        if seconds > 0.0 {
            received as f64 / seconds
        } else {
            0.0
        }
    };
    let latency = stats.latency.summary();
    let p99_ms = latency.p99_us as f64 / 1000.0;
    let mut problems = Vec::new();
    if stats.lost > 0 {
        problems.push(format!("{} lost", stats.lost));
    }
    if stats.closed > 0 {
        problems.push(format!("{} closed", stats.closed));
    }
    if !published.failed.is_empty() {
        problems.push(format!("{} publishes failed", published.failed.len()));
    }
    if p99_ms > p99_bound_ms {
        problems.push(format!("p99 {p99_ms:.1} ms > {p99_bound_ms} ms"));
    }
    let sustainable = problems.is_empty();
    let verdict = if sustainable {
        "sustainable".to_owned()
    } else {
        problems.join(", ")
    };
    StepReport {
        rate: settings.schedule.rate(),
        duration_seconds: settings.schedule.total() as f64 / settings.schedule.rate(),
        published: published.total,
        publish_failed: published.failed.len() as u64,
        first_publish_error: result.publish.first_error.clone(),
        subscribers: stats.subscribers,
        expected_deliveries: published.accepted() * stats.subscribers,
        received,
        lost: stats.lost,
        duplicates: stats.duplicates,
        out_of_order: stats.out_of_order,
        stale: stats.stale,
        closed: stats.closed,
        active_seconds: result.active_seconds,
        deliveries_per_second: per(result.active_seconds),
        latency,
        publish_lag: result.publish.send_lag.summary(),
        api_response: result.publish.response_time.summary(),
        server_cpu_seconds: result.cpu.server_seconds,
        server_cpu_share: result.cpu.server_share(cpus),
        deliveries_per_server_cpu_second: result.cpu.server_seconds.map(per),
        bench_cpu_seconds: result.cpu.bench_seconds,
        bench_cpu_share: result.cpu.bench_share(cpus),
        deliveries_per_bench_cpu_second: per(result.cpu.bench_seconds),
        sustainable,
        verdict,
        close_reasons: stats.close_reasons.clone(),
    }
}
