//! Whether a shard's command connection works, and when a failed command is tried again.
//!
//! The `redis` crate's connection manager learns that its connection died only when a command
//! fails on it: it then reconnects in the background, but that command has failed. After a
//! Redis restart, the PUB/SUB connection (which Herald reads all the time) is back long before
//! the idle command connection notices anything, so "PUB/SUB is up" alone would report a node
//! healthy whose next command fails. Here, a node counts as healthy only once a PING through the
//! very connection the commands use has succeeded since anything last cast doubt on it:
//!
//! - **doubts**: the shard's PUB/SUB connection was lost (its server went away, most likely for
//!   all connections), a command failed with a connection error or timed out, or a PING failed;
//! - **the monitor** task PINGs the command connection as soon as a doubt is raised (a PING on a
//!   dead connection fails and makes the connection manager reconnect), again with backoff until
//!   one succeeds, and every `interval` while all is well.
//!
//! With Redis Cluster, the cluster client would send a plain PING to every master, so one dead
//! master without a replica would keep the node unhealthy even though the PUB/SUB connection
//! moved on and the other masters serve their channels. The PING goes instead to the node the
//! PUB/SUB connection is on: the node is healthy when it hears publications and its cluster
//! client reaches a live master through its own connection. (The cluster client also retries a
//! command on a connection error by itself, after refreshing its slot map.)
//!
//! Retries, at most one per call:
//! - **reads** (history and stream position, presence, presence stats) change nothing that a
//!   second run would not change the same way, so they are run again after a connection error
//!   (broken pipe, reset, refused, end of file). Not after an error reply from Redis, which would
//!   only repeat, nor after a timeout, which already made the caller wait `command_timeout`.
//! - **publishes** are run again only when they surely never reached Redis, because running a
//!   publication twice delivers it twice and gives it two offsets. A connection error does not
//!   say whether the command was written: the manager reports a broken pipe both for a command
//!   it could not send (the connection was already gone) and for one that was sent and whose
//!   answer was lost with the connection, after Redis may have applied it. A timeout says even
//!   less. What is sure: a refused connection (the manager was reconnecting and the server
//!   refused it, so nothing was written anywhere), and a connection known to be dead before the
//!   publish, which is why a publish on a doubted connection first PINGs it: a dead connection
//!   fails the PING, not the publish, and the publish then goes to the new connection.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_engine::{EngineError, lock};
use rand::RngExt;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{RedisError, RedisResult};
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::sleep;

use crate::engine::{Commands, Shard};
use crate::scripts::unavailable;

/// First pause before PINGing again after a failed PING; it doubles up to the configured cap.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(50);

/// What is known of one shard's command connection. Shared by the engine (commands report
/// connection errors), the shard's PUB/SUB reader (reports losses) and the monitor task.
#[derive(Debug, Default)]
pub(crate) struct CommandHealth {
    /// How many doubts were raised so far.
    doubts: AtomicU64,
    /// The value of `doubts` when a PING last succeeded; equal to it while nothing has cast
    /// doubt on the connection since.
    verified: AtomicU64,
    /// Wakes the monitor when a doubt is raised; holds the wake-up if the monitor is busy.
    wake: Notify,
    /// Host and port of the node the PUB/SUB connection is on, where a cluster's PING goes.
    /// Std mutex: never held across an await.
    node: Mutex<Option<(String, u16)>>,
}

impl CommandHealth {
    /// A connection that just answered a PING.
    pub(crate) fn verified() -> Self {
        Self::default()
    }

    /// Whether a PING through the command connection succeeded since the last doubt.
    pub(crate) fn is_verified(&self) -> bool {
        self.verified.load(Ordering::SeqCst) == self.doubts.load(Ordering::SeqCst)
    }

    /// The connection may be broken: not healthy until a PING says otherwise.
    pub(crate) fn doubt(&self) {
        self.doubts.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Records the node the PUB/SUB connection is on now.
    pub(crate) fn set_node(&self, host: &str, port: u16) {
        // A poisoned lock is taken over: the critical section is one assignment.
        *lock(&self.node) = Some((host.to_owned(), port));
    }

    /// Raises a doubt if `error` says the connection may be broken.
    fn observe(&self, error: &RedisError) {
        if error.is_io_error() {
            self.doubt();
        }
    }
}

/// The monitor task of a shard; dropping it stops the task.
#[derive(Debug)]
pub(crate) struct Monitor(AbortHandle);

impl Monitor {
    /// Starts PINGing `commands` whenever `health` is in doubt, and every `interval`.
    pub(crate) fn start(
        health: Arc<CommandHealth>,
        commands: Commands,
        interval: Duration,
        max_delay: Duration,
        shard: String,
    ) -> Self {
        let task = monitor(health, commands, interval, max_delay, shard);
        Self(tokio::spawn(task).abort_handle())
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn monitor(
    health: Arc<CommandHealth>,
    mut commands: Commands,
    interval: Duration,
    max_delay: Duration,
    shard: String,
) {
    let mut delay = FIRST_RETRY_DELAY;
    let mut failing = false;
    loop {
        // Read before the PING: a doubt raised while it runs needs another one.
        let doubts = health.doubts.load(Ordering::SeqCst);
        match ping(&health, &mut commands).await {
            Ok(()) => {
                health.verified.store(doubts, Ordering::SeqCst);
                if std::mem::take(&mut failing) {
                    tracing::info!(shard, "redis command connection works again");
                }
                delay = FIRST_RETRY_DELAY;
                tokio::select! {
                    () = health.wake.notified() => {}
                    () = sleep(interval) => {}
                }
            }
            Err(error) => {
                // Unhealthy until a PING succeeds, also when nothing else raised a doubt.
                health.doubts.fetch_add(1, Ordering::SeqCst);
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(shard, %error, "redis command connection does not answer PING");
                }
                sleep(jittered(delay)).await;
                delay = (delay * 2).min(max_delay);
            }
        }
    }
}

/// PINGs the server, or with Redis Cluster the node the PUB/SUB connection is on.
pub(crate) async fn ping(health: &CommandHealth, commands: &mut Commands) -> RedisResult<()> {
    let node = lock(&health.node).clone();
    match (commands, node) {
        (Commands::Cluster(cluster), Some((host, port))) => {
            let to = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
            cluster
                .route_command(redis::cmd("PING"), to)
                .await
                .map(drop)
        }
        (commands, _) => redis::cmd("PING").query_async::<()>(commands).await,
    }
}

impl Shard {
    /// Runs a read on the shard's command connection, and once more if it failed on a
    /// connection error (see the module docs). Every connection error and timeout raises a
    /// doubt.
    pub(crate) async fn read<T, F, Fut>(&self, what: &str, op: F) -> Result<T, EngineError>
    where
        F: Fn(Commands) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let (health, commands) = (&*self.health, &self.commands);
        match op(commands.clone()).await {
            Err(error) if is_connection_error(&error) => {
                health.doubt();
                tracing::debug!(what, %error, "redis read failed on its connection; once more");
                op(commands.clone()).await
            }
            result => result,
        }
        .map_err(|error| {
            health.observe(&error);
            unavailable(what, error)
        })
    }

    /// Runs a publish on the shard's command connection; once more only if it surely did not
    /// reach Redis (see the module docs). On a doubted connection, PINGs first, so a
    /// connection already known to be dead fails the PING rather than the publish.
    pub(crate) async fn publish<T, F, Fut>(&self, what: &str, op: F) -> Result<T, EngineError>
    where
        F: Fn(Commands) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let (health, commands) = (&*self.health, &self.commands);
        if !health.is_verified() {
            // Its failure is not the publish's: it only makes the manager replace a dead
            // connection before the publish is written.
            if let Err(error) = ping(health, &mut commands.clone()).await {
                health.observe(&error);
            }
        }
        match op(commands.clone()).await {
            Err(error) if error.is_connection_refusal() => {
                health.doubt();
                tracing::debug!(what, %error, "redis publish surely not sent; once more");
                op(commands.clone()).await
            }
            result => result,
        }
        .map_err(|error| {
            health.observe(&error);
            unavailable(what, error)
        })
    }

    /// Runs any other command, without retry; a connection error raises a doubt.
    pub(crate) async fn run<T, Fut>(&self, what: &str, command: Fut) -> Result<T, EngineError>
    where
        Fut: Future<Output = RedisResult<T>>,
    {
        command.await.map_err(|error| {
            self.health.observe(&error);
            unavailable(what, error)
        })
    }
}

/// A failure of the connection rather than of the command: the socket broke, was reset or
/// refused, or reached its end. Not an error reply from Redis, not a timeout.
fn is_connection_error(error: &RedisError) -> bool {
    error.is_io_error() && !error.is_timeout()
}

/// A pause between half of `delay` and `delay`, so nodes do not PING in lockstep.
fn jittered(delay: Duration) -> Duration {
    let half = delay / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn doubts_last_until_verified() {
        let health = CommandHealth::verified();
        assert!(health.is_verified());
        health.doubt();
        assert!(!health.is_verified());
        health.observe(&RedisError::from(io::Error::from(
            io::ErrorKind::BrokenPipe,
        )));
        let doubts = health.doubts.load(Ordering::SeqCst);
        assert_eq!(doubts, 2);
        health.verified.store(doubts, Ordering::SeqCst);
        assert!(health.is_verified());
        // An error reply says nothing about the connection.
        let reply = redis::make_extension_error("ERR".to_owned(), None);
        health.observe(&reply);
        assert!(health.is_verified());
    }

    #[test]
    fn tells_connection_errors_from_replies_and_timeouts() {
        let io = |kind| RedisError::from(io::Error::from(kind));
        assert!(is_connection_error(&io(io::ErrorKind::BrokenPipe)));
        assert!(is_connection_error(&io(io::ErrorKind::ConnectionRefused)));
        assert!(is_connection_error(&io(io::ErrorKind::UnexpectedEof)));
        assert!(!is_connection_error(&io(io::ErrorKind::TimedOut)));
        assert!(!is_connection_error(&redis::make_extension_error(
            "ERR".to_owned(),
            None
        )));
        // Only a refused connection surely kept a publish from being written.
        assert!(io(io::ErrorKind::ConnectionRefused).is_connection_refusal());
        assert!(!io(io::ErrorKind::BrokenPipe).is_connection_refusal());
    }
}
