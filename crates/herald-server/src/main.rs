//! The `herald` binary: parses the command line and dispatches.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use herald_server::cli::{self, Cli, Command, ServeArgs};
use herald_server::server;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => Cli::print_help(),
        Some(Command::Serve(args)) => serve(&args),
        Some(Command::Genconfig(args)) => cli::run_genconfig(&args),
        Some(Command::Gentoken(args)) => cli::run_gentoken(&args),
        Some(Command::Checkconfig(args)) => cli::run_checkconfig(&args),
        Some(Command::Version) => {
            println!("{}", cli::version_string());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("herald: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let loaded = cli::load_serve_config(args)?;
    init_tracing(loaded.validated.server.log_level.as_filter());
    if args.config.is_none() {
        tracing::warn!(
            "no configuration file: running the local development profile (anonymous clients, \
             open channels, HTTP API without key); `herald genconfig` writes a production config"
        );
    }
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = server::bind(&loaded.validated).await?;
        server::serve(
            loaded.validated,
            Arc::new(loaded.verifier),
            listener,
            server::signal(),
        )
        .await
    })
}

/// Logs to stderr at the configured level; `RUST_LOG`, when set, wins. Colours only on a
/// terminal: a log file or a collector gets plain text.
fn init_tracing(level: &str) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
