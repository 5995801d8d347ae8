//! herald-bench: the load generator that measures Herald side by side with the servers users
//! would pick instead (a reference Socket.IO 4 server in `bench/peers/socketio`).
//!
//! The same workload runs against every server through one client type,
//! [`adapter::Client`], which speaks Herald's protocol (JSON or Protobuf, through
//! `herald-proto`) or Socket.IO v5 over Engine.IO v4. Publications go through each server's
//! HTTP API on an open-loop schedule ([`schedule::Schedule`]) and carry their due time, so
//! latency is measured from when a message *should* have been sent.
//!
//! Key pieces:
//! - [`workload`]: `connect`, `fanout`, `rooms` (chat-like rooms) and `storm` (drop every
//!   connection, reconnect with recovery).
//! - [`group::Groups`]: the subscribers, in this process or in worker processes beyond the
//!   20,000 open-file limit, with mergeable results ([`stats`]).
//! - [`tracker::SeqTracker`]: lost, duplicated and out-of-order counts per connection.
//! - [`procfs`]: the server's and the generator's CPU time and memory.
//! - [`report::Report`]: results as JSON or a table; [`markdown`] turns them into
//!   BENCHMARKS.md.
//!
//! # Example
//!
//! ```no_run
//! use clap::Parser;
//! use herald_bench::cli::Cli;
//!
//! # async fn demo() -> Result<(), herald_bench::BenchError> {
//! let cli = Cli::parse_from([
//!     "herald-bench", "fanout", "--server", "127.0.0.1:8000", "--subscribers", "100",
//!     "--rate", "200", "--duration", "2",
//! ]);
//! let exe = std::env::current_exe().map_err(|e| herald_bench::BenchError::io("exe", e))?;
//! let report = herald_bench::run_workload(&cli.command, &exe, "herald-bench fanout".into()).await?;
//! println!("{}", report.to_table());
//! # Ok(())
//! # }
//! ```

pub mod adapter;
pub mod cli;
mod error;
pub mod group;
mod http;
pub mod markdown;
pub mod net;
pub mod payload;
pub mod procfs;
pub mod publisher;
pub mod report;
pub mod schedule;
pub mod stats;
pub mod tracker;
pub mod workload;

use std::path::Path;

pub use error::{BenchError, ConnectError};
pub use report::Report;

use cli::Command;

/// Runs a workload subcommand. `exe` is the herald-bench binary (for worker processes);
/// `command_line` is recorded in the report.
pub async fn run_workload(
    command: &Command,
    exe: &Path,
    command_line: String,
) -> Result<Report, BenchError> {
    match command {
        Command::Connect(args) => workload::connect::run(args, exe, command_line)
            .await
            .map(Report::Connect),
        Command::Fanout(args) => workload::fanout::run(args, exe, command_line)
            .await
            .map(Report::Fanout),
        Command::Rooms(args) => workload::rooms::run(args, exe, command_line)
            .await
            .map(Report::Rooms),
        Command::Storm(args) => workload::storm::run(args, exe, command_line)
            .await
            .map(Report::Storm),
        Command::Markdown(_) | Command::Wait(_) | Command::Floor(_) | Command::Worker(_) => Err(
            BenchError::InvalidArgs("not a workload subcommand".to_owned()),
        ),
    }
}

/// Quotes `args` for a POSIX shell and hides secrets (`--token-secret`, `--api-key`), for the
/// command line shown in reports.
pub fn command_line(args: &[String]) -> String {
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next: Option<&str> = None;
    for arg in args {
        if let Some(placeholder) = hide_next.take() {
            out.push(placeholder.to_owned());
            continue;
        }
        match arg.as_str() {
            "--token-secret" => hide_next = Some("\"$TOKEN_SECRET\""),
            "--api-key" => hide_next = Some("\"$API_KEY\""),
            _ => {}
        }
        if arg.starts_with("--token-secret=") {
            out.push("--token-secret=\"$TOKEN_SECRET\"".to_owned());
        } else if arg.starts_with("--api-key=") {
            out.push("--api-key=\"$API_KEY\"".to_owned());
        } else {
            out.push(shell_quote(arg));
        }
    }
    out.join(" ")
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_are_quoted_and_secrets_hidden() {
        let args: Vec<String> = [
            "herald-bench",
            "fanout",
            "--token-secret",
            "s3cret",
            "--api-key=k",
            "--channel",
            "a b",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            command_line(&args),
            r#"herald-bench fanout --token-secret "$TOKEN_SECRET" --api-key="$API_KEY" --channel 'a b'"#
        );
    }
}
