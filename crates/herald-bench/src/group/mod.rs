//! Subscribers, in this process or spread over worker processes, behind one interface:
//! [`Groups`] opens them, reports progress, and collects each round's results.
//!
//! A process may hold at most 20,000 open files, so beyond that the connections go to worker
//! processes (this binary's hidden `worker` subcommand). A worker opens its share, then answers
//! one JSON line per request on stdin with one JSON line on stdout ([`ToWorker`] /
//! [`FromWorker`]); latency histograms travel in full (HdrHistogram V2, base64), so the parent
//! merges distributions rather than percentiles.

mod local;
mod remote;
pub mod worker;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub(crate) use local::FIRST_ROUND;
pub use local::LocalGroup;
use remote::RemoteGroup;

use crate::adapter::Target;
use crate::error::BenchError;
use crate::net;
use crate::stats::{OpenStats, RoundStats};
use crate::tracker::Published;

/// What a group of subscribers is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSpec {
    /// The server.
    pub target: Target,
    /// Source addresses, used round-robin.
    pub sources: Vec<IpAddr>,
    /// Number of the first connection overall (user ids are `bench-<number>`).
    pub first_index: usize,
    /// Connections in this group.
    pub count: usize,
    /// The channel (room) every connection subscribes to.
    pub channel: String,
    /// Connections being opened at once.
    pub concurrency: usize,
}

impl GroupSpec {
    /// The share of worker `index` of `workers`: a slice of the connections and of the source
    /// addresses, and of the open concurrency.
    pub fn share(&self, index: usize, workers: usize) -> GroupSpec {
        let workers = workers.max(1);
        let base = self.count / workers;
        let extra = self.count % workers;
        let count = base + usize::from(index < extra);
        let first = index * base + index.min(extra);
        GroupSpec {
            target: self.target.clone(),
            sources: net::share_of_sources(&self.sources, index, workers),
            first_index: self.first_index + first,
            count,
            channel: self.channel.clone(),
            concurrency: (self.concurrency / workers).max(1),
        }
    }
}

/// How a group is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Connections still open.
    pub alive: u64,
    /// Distinct deliveries in the current round.
    pub received: u64,
    /// Why some connection closed, if one did.
    pub sample_close_reason: Option<String>,
}

impl Progress {
    fn merge(&mut self, other: Progress) {
        self.alive += other.alive;
        self.received += other.received;
        if self.sample_close_reason.is_none() {
            self.sample_close_reason = other.sample_close_reason;
        }
    }
}

/// A request from the parent to a worker, one JSON line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ToWorker {
    /// Answer with [`FromWorker::Progress`].
    Progress,
    /// End the round: answer with [`FromWorker::Stats`] and start `next_round`.
    Collect {
        /// The next round's number.
        next_round: u32,
        /// What the publisher got accepted in the round that ends.
        published: Published,
    },
    /// Close everything and exit.
    Shutdown,
}

/// A worker's answer, one JSON line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromWorker {
    /// The share is open (first line).
    Ready(OpenStats),
    /// See [`Progress`].
    Progress(Progress),
    /// A round's results.
    Stats(RoundStats),
    /// The worker failed and exits.
    Error {
        /// Why.
        message: String,
    },
}

/// All the subscribers of a run.
#[derive(Debug)]
pub struct Groups {
    members: Vec<Member>,
    open: OpenStats,
}

#[derive(Debug)]
enum Member {
    Local(LocalGroup),
    Remote(RemoteGroup),
}

impl Groups {
    /// Opens `spec`'s connections: in this process when `workers` is 1, else split over
    /// `workers` processes running `exe`.
    pub async fn open(spec: &GroupSpec, workers: usize, exe: &Path) -> Result<Groups, BenchError> {
        if workers <= 1 {
            let group = LocalGroup::open(spec).await?;
            let open = group.open_stats().clone();
            return Ok(Groups {
                members: vec![Member::Local(group)],
                open,
            });
        }
        let mut remotes = Vec::with_capacity(workers);
        for index in 0..workers {
            match RemoteGroup::spawn(index, exe, &spec.share(index, workers)) {
                Ok(remote) => remotes.push(remote),
                Err(err) => {
                    for remote in remotes {
                        remote.shutdown().await;
                    }
                    return Err(err);
                }
            }
        }
        // Opening takes about as long as the slowest connect, plus time per connection.
        let per_worker = spec.count / workers + 1;
        let timeout = spec.target.connect_timeout * 3
            + Duration::from_secs_f64(per_worker as f64 / 100.0)
            + Duration::from_secs(10);
        let results =
            futures_util::future::join_all(remotes.iter_mut().map(|r| r.ready(timeout))).await;
        let mut open = OpenStats::default();
        let mut first_error = None;
        for result in results {
            match result {
                Ok(stats) => open.merge(&stats),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        let groups = Groups {
            members: remotes.into_iter().map(Member::Remote).collect(),
            open,
        };
        if let Some(err) = first_error {
            groups.shutdown().await;
            return Err(err);
        }
        Ok(groups)
    }

    /// How opening went, over all groups.
    pub fn open_stats(&self) -> &OpenStats {
        &self.open
    }

    /// Progress over all groups.
    pub async fn progress(&mut self) -> Result<Progress, BenchError> {
        let mut total = Progress::default();
        for member in &mut self.members {
            total.merge(match member {
                Member::Local(group) => group.progress(),
                Member::Remote(remote) => remote.progress().await?,
            });
        }
        Ok(total)
    }

    /// Ends the round in every group and merges the results.
    pub async fn collect(
        &mut self,
        next_round: u32,
        published: &Published,
    ) -> Result<RoundStats, BenchError> {
        let mut total = RoundStats::default();
        for member in &mut self.members {
            let stats = match member {
                Member::Local(group) => group.collect(next_round, published),
                Member::Remote(remote) => remote.collect(next_round, published).await?,
            };
            total.merge(&stats);
        }
        Ok(total)
    }

    /// Pids of the worker processes (none when everything runs in this process).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.members
            .iter()
            .filter_map(|member| match member {
                Member::Local(_) => None,
                Member::Remote(remote) => remote.pid(),
            })
            .collect()
    }

    /// Closes every connection and ends the workers.
    pub async fn shutdown(self) {
        let mut shutdowns = Vec::new();
        for member in self.members {
            match member {
                Member::Local(group) => group.shutdown().await,
                Member::Remote(remote) => shutdowns.push(remote.shutdown()),
            }
        }
        futures_util::future::join_all(shutdowns).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::Flavor;

    fn spec(count: usize) -> GroupSpec {
        GroupSpec {
            target: Target {
                flavor: Flavor::HeraldJson,
                addr: "127.0.0.1:8000".parse().expect("addr"),
                token_secret: None,
                api_key: None,
                connect_timeout: Duration::from_secs(1),
                offer_deflate: false,
                pusher_app: None,
            },
            sources: net::loopback_sources(4),
            first_index: 0,
            count,
            channel: "c".into(),
            concurrency: 100,
        }
    }

    #[test]
    fn shares_cover_every_connection_once() {
        let spec = spec(10);
        let shares: Vec<_> = (0..3).map(|i| spec.share(i, 3)).collect();
        assert_eq!(
            shares.iter().map(|s| s.count).collect::<Vec<_>>(),
            [4, 3, 3]
        );
        assert_eq!(
            shares.iter().map(|s| s.first_index).collect::<Vec<_>>(),
            [0, 4, 7]
        );
        assert!(shares.iter().all(|s| !s.sources.is_empty()));
        assert_eq!(shares[0].concurrency, 33);
    }

    #[test]
    fn worker_lines_round_trip() {
        let lines = [
            serde_json::to_string(&ToWorker::Progress).expect("encodes"),
            serde_json::to_string(&ToWorker::Collect {
                next_round: 3,
                published: Published {
                    total: 10,
                    failed: vec![2],
                },
            })
            .expect("encodes"),
        ];
        assert_eq!(lines[0], r#"{"op":"progress"}"#);
        let back: ToWorker = serde_json::from_str(&lines[1]).expect("decodes");
        assert!(matches!(back, ToWorker::Collect { next_round: 3, .. }));

        let mut stats = RoundStats {
            received: 5,
            ..RoundStats::default()
        };
        stats.latency.record(1500);
        let line = serde_json::to_string(&FromWorker::Stats(stats.clone())).expect("encodes");
        assert_eq!(
            serde_json::from_str::<FromWorker>(&line).expect("decodes"),
            FromWorker::Stats(stats)
        );
    }
}
