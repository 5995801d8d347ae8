//! The worker process's side: open the share, then answer the parent's requests until it says
//! `shutdown` or closes stdin. Every answer is one JSON line on stdout; nothing else is printed
//! there.

use std::io::Write;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::{FromWorker, GroupSpec, LocalGroup, ToWorker};
use crate::error::BenchError;

/// Runs a worker for `spec` (the hidden `worker` subcommand).
pub async fn serve(spec: GroupSpec) -> Result<(), BenchError> {
    let group = match LocalGroup::open(&spec).await {
        Ok(group) => group,
        Err(err) => {
            emit(&FromWorker::Error {
                message: err.to_string(),
            })?;
            return Err(err);
        }
    };
    emit(&FromWorker::Ready(group.open_stats().clone()))?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    // Bounded by the parent: it sends a finite number of requests, then `shutdown` or EOF
    // (its death closes the pipe).
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(|e| BenchError::io("reading requests", e))?
    {
        let answer = match serde_json::from_str::<ToWorker>(&line) {
            Ok(ToWorker::Progress) => FromWorker::Progress(group.progress()),
            Ok(ToWorker::Collect {
                next_round,
                published,
            }) => FromWorker::Stats(group.collect(next_round, &published)),
            Ok(ToWorker::Shutdown) => break,
            Err(e) => FromWorker::Error {
                message: format!("unreadable request ({e})"),
            },
        };
        emit(&answer)?;
    }
    group.shutdown().await;
    Ok(())
}

fn emit(answer: &FromWorker) -> Result<(), BenchError> {
    let line = serde_json::to_string(answer)
        .map_err(|e| BenchError::io("encoding an answer", std::io::Error::other(e)))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|e| BenchError::io("writing an answer", e))
}
