//! The `herald-bench` binary: parses the command line, runs a workload or helper, prints the
//! report (a table, or JSON with `--json`). Exit codes: 0 ok, 1 the run could not be done
//! (message on stderr), 2 the run finished but found failures, losses or duplicates.

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use herald_bench::cli::{Cli, Command, FloorArgs, MarkdownArgs, WaitArgs};
use herald_bench::group::{GroupSpec, worker};
use herald_bench::{Report, markdown, net};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("herald-bench: starting the runtime: {err}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run(cli));
    // A worker's stdin reader sits in a blocking thread that would keep a plain drop waiting.
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("herald-bench: {err:#}");
            ExitCode::from(1)
        }
    }
}

async fn floor(args: FloorArgs) -> anyhow::Result<()> {
    let connections = args.connections;
    let readers = format!("{:?}", args.readers).to_lowercase();
    let report = tokio::task::spawn_blocking(move || herald_bench::workload::floor::run(&args))
        .await
        .context("the floor thread panicked")??;
    println!(
        "floor: {} writes of one frame to {connections} loopback connections ({readers} \
         readers)\n  \
         writer CPU                       {:.2} s ({:.2} s wall)\n  \
         writes per writer CPU-second     {:.0}",
        report.writes,
        report.writer_cpu_seconds,
        report.wall_seconds,
        report.writes_per_cpu_second()
    );
    if let Some(latency) = report.latency {
        println!(
            "  read after its round began      p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, \
             max {:.2} ms",
            latency.p50_us as f64 / 1000.0,
            latency.p99_us as f64 / 1000.0,
            latency.p999_us as f64 / 1000.0,
            latency.max_us as f64 / 1000.0
        );
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Markdown(args) => markdown_command(&args).map(|()| ExitCode::SUCCESS),
        Command::Wait(args) => wait(&args).await.map(|()| ExitCode::SUCCESS),
        Command::Floor(args) => floor(args).await.map(|()| ExitCode::SUCCESS),
        Command::Worker(args) => {
            let spec: GroupSpec =
                serde_json::from_str(&args.spec).context("reading the worker spec")?;
            worker::serve(spec).await?;
            Ok(ExitCode::SUCCESS)
        }
        command => {
            let json = match &command {
                Command::Connect(a) => a.common.json,
                Command::Fanout(a) => a.common.json,
                Command::Storm(a) => a.common.json,
                Command::Rooms(a) => a.common.json,
                _ => false,
            };
            let exe = std::env::current_exe().context("finding this executable")?;
            let args: Vec<String> = std::env::args().collect();
            let report =
                herald_bench::run_workload(&command, &exe, herald_bench::command_line(&args))
                    .await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", report.to_table());
            }
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
    }
}

fn markdown_command(args: &MarkdownArgs) -> anyhow::Result<()> {
    let mut reports = Vec::with_capacity(args.results.len());
    for path in &args.results {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let report: Report = serde_json::from_str(text.trim())
            .with_context(|| format!("{} is not a herald-bench --json result", path.display()))?;
        reports.push(report);
    }
    let document = markdown::render(&reports, args.quick, &args.note);
    if args.out.as_os_str() == "-" {
        print!("{document}");
    } else {
        std::fs::write(&args.out, document)
            .with_context(|| format!("writing {}", args.out.display()))?;
    }
    Ok(())
}

/// Polls `args.addr` until it accepts a connection (bounded by `--timeout`).
async fn wait(args: &WaitArgs) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(args.timeout.max(0.0));
    let source = IpAddr::V4(Ipv4Addr::LOCALHOST);
    loop {
        match net::connect(source, args.addr, Duration::from_secs(1)).await {
            Ok(_) => return Ok(()),
            Err(err) if tokio::time::Instant::now() >= deadline => {
                anyhow::bail!(
                    "{} did not accept connections within {}s: {err}",
                    args.addr,
                    args.timeout
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
