//! herald-bench: the load generator that measures Herald side by side with the servers users
//! would pick instead (a reference Socket.IO 4 server in `bench/peers/socketio`).
//!
//! The same workload runs against every server through one client type,
//! [`adapter::Client`], which speaks Herald's protocol (JSON or Protobuf, through
//! `herald-proto`; over WebSocket, or over HTTP-streaming and SSE with `/emulation`) or
//! Socket.IO v5 over Engine.IO v4. Publications go through each server's
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
/// command line shown in reports. The program is shown without this machine's absolute path
/// (see [`display_program`]), relative to the working directory: `bench/run` runs from the
/// repository root.
pub fn command_line(args: &[String]) -> String {
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next: Option<&str> = None;
    let mut args = args.iter();
    if let Some(program) = args.next() {
        let cwd = std::env::current_dir().ok();
        let target_dir = std::env::var_os("CARGO_TARGET_DIR").map(std::path::PathBuf::from);
        out.push(display_program(
            program,
            cwd.as_deref(),
            target_dir.as_deref(),
        ));
    }
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

/// How a report shows the program (`args[0]`): a relative path as it is; an absolute one
/// relative to `cwd` when it lies under it (`target/release/herald-bench`), else under
/// `target_dir` as `"$CARGO_TARGET_DIR"/release/herald-bench`, else by its file name alone.
pub fn display_program(program: &str, cwd: Option<&Path>, target_dir: Option<&Path>) -> String {
    let path = Path::new(program);
    if !path.is_absolute() {
        return shell_quote(program);
    }
    let under = |dir: Option<&Path>| {
        dir.filter(|dir| dir.is_absolute())
            .and_then(|dir| path.strip_prefix(dir).ok())
            .map(|rest| rest.to_string_lossy().into_owned())
    };
    if let Some(rest) = under(cwd) {
        shell_quote(&rest)
    } else if let Some(rest) = under(target_dir) {
        format!("\"$CARGO_TARGET_DIR\"/{}", shell_quote(&rest))
    } else {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned());
        shell_quote(&name.unwrap_or_else(|| program.to_owned()))
    }
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

    #[test]
    fn programs_are_shown_without_this_machines_absolute_path() {
        let bin = "/home/me/herald/target/release/herald-bench";
        let repo = Some(Path::new("/home/me/herald"));
        let target = Some(Path::new("/home/me/.cache/herald-target"));
        assert_eq!(
            display_program(bin, repo, target),
            "target/release/herald-bench"
        );
        assert_eq!(
            display_program(
                "/home/me/.cache/herald-target/release/herald-bench",
                repo,
                target
            ),
            r#""$CARGO_TARGET_DIR"/release/herald-bench"#
        );
        assert_eq!(
            display_program("/opt/bin/herald-bench", repo, target),
            "herald-bench"
        );
        assert_eq!(
            display_program("target/release/herald-bench", repo, None),
            "target/release/herald-bench"
        );
    }
}
