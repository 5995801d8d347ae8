//! The parent's side of a worker process: spawn it, send requests, read its JSON lines.
//! Every wait has a deadline; a worker that dies or answers nonsense ends the run.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::{FromWorker, GroupSpec, Progress, ToWorker};
use crate::error::BenchError;
use crate::stats::{OpenStats, RoundStats};
use crate::tracker::Published;

/// Deadline of a progress or collect request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a worker may take to exit after `shutdown` before it is killed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// One worker process.
#[derive(Debug)]
pub(super) struct RemoteGroup {
    index: usize,
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl RemoteGroup {
    /// Starts `exe worker --spec <json>`; its stderr goes to ours.
    pub(super) fn spawn(index: usize, exe: &Path, spec: &GroupSpec) -> Result<Self, BenchError> {
        let spec_json = serde_json::to_string(spec)
            .map_err(|e| worker_error(index, format!("encoding its spec: {e}")))?;
        let mut child = Command::new(exe)
            .arg("worker")
            .arg("--spec")
            .arg(spec_json)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                BenchError::io(format!("starting worker {index} ({})", exe.display()), e)
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(worker_error(index, "no pipes to the worker".to_owned()));
        };
        Ok(RemoteGroup {
            index,
            child,
            stdin,
            stdout: BufReader::new(stdout).lines(),
        })
    }

    /// The worker's pid while it runs.
    pub(super) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits for the worker to have opened its connections.
    pub(super) async fn ready(&mut self, timeout: Duration) -> Result<OpenStats, BenchError> {
        match self.read(timeout).await? {
            FromWorker::Ready(stats) => Ok(stats),
            other => Err(self.unexpected(&other)),
        }
    }

    pub(super) async fn progress(&mut self) -> Result<Progress, BenchError> {
        match self.request(&ToWorker::Progress).await? {
            FromWorker::Progress(progress) => Ok(progress),
            other => Err(self.unexpected(&other)),
        }
    }

    pub(super) async fn collect(
        &mut self,
        next_round: u32,
        published: &Published,
    ) -> Result<RoundStats, BenchError> {
        let request = ToWorker::Collect {
            next_round,
            published: published.clone(),
        };
        match self.request(&request).await? {
            FromWorker::Stats(stats) => Ok(stats),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Asks the worker to exit; kills it if it does not within [`EXIT_TIMEOUT`].
    pub(super) async fn shutdown(mut self) {
        // A worker that already died cannot read this; killing below covers it.
        let _ = self.send(&ToWorker::Shutdown).await;
        if tokio::time::timeout(EXIT_TIMEOUT, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }

    async fn request(&mut self, request: &ToWorker) -> Result<FromWorker, BenchError> {
        self.send(request).await?;
        self.read(REQUEST_TIMEOUT).await
    }

    async fn send(&mut self, request: &ToWorker) -> Result<(), BenchError> {
        let mut line = serde_json::to_string(request)
            .map_err(|e| worker_error(self.index, format!("encoding a request: {e}")))?;
        line.push('\n');
        let write = async {
            self.stdin.write_all(line.as_bytes()).await?;
            self.stdin.flush().await
        };
        tokio::time::timeout(REQUEST_TIMEOUT, write)
            .await
            .map_err(|_| worker_error(self.index, "does not read its requests".to_owned()))?
            .map_err(|e| worker_error(self.index, format!("exited ({e})")))
    }

    async fn read(&mut self, timeout: Duration) -> Result<FromWorker, BenchError> {
        let line = tokio::time::timeout(timeout, self.stdout.next_line())
            .await
            .map_err(|_| worker_error(self.index, format!("no answer within {timeout:?}")))?
            .map_err(|e| worker_error(self.index, format!("reading its output: {e}")))?;
        let Some(line) = line else {
            let status = self.child.try_wait().ok().flatten();
            return Err(worker_error(
                self.index,
                format!(
                    "exited{} (see its messages above)",
                    status.map(|s| format!(" with {s}")).unwrap_or_default()
                ),
            ));
        };
        match serde_json::from_str::<FromWorker>(&line) {
            Ok(FromWorker::Error { message }) => Err(worker_error(self.index, message)),
            Ok(answer) => Ok(answer),
            Err(e) => Err(worker_error(
                self.index,
                format!("unreadable line ({e}): {}", &line[..line.len().min(200)]),
            )),
        }
    }

    fn unexpected(&self, answer: &FromWorker) -> BenchError {
        let kind = match answer {
            FromWorker::Ready(_) => "ready",
            FromWorker::Progress(_) => "progress",
            FromWorker::Stats(_) => "stats",
            FromWorker::Error { .. } => "error",
        };
        worker_error(self.index, format!("unexpected `{kind}` answer"))
    }
}

fn worker_error(index: usize, message: String) -> BenchError {
    BenchError::Worker { index, message }
}
