//! [`RedisEngine`]: its shards and how it connects. The trait implementations live in
//! `broker.rs`, `history.rs` and `presence.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use herald_engine::EngineError;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, Value};

use crate::delivery::Delivery;
use crate::health::{self, CommandHealth, Monitor};
use crate::keys::{Keys, shard_index};
use crate::options::{RedisOptions, ShardAddress};
use crate::pubsub::{Settings, Subscriber};
use crate::scripts::{millis, unavailable};
use crate::sentinel::SentinelCommands;

/// Attempts of the command connection to reconnect before a command fails.
const COMMAND_RECONNECT_ATTEMPTS: usize = 3;
/// First pause between those attempts; it doubles.
const COMMAND_RECONNECT_DELAY: Duration = Duration::from_millis(50);

/// The Redis engine: implements [`Broker`](herald_engine::Broker) (PUB/SUB between nodes and
/// stream history) and [`PresenceManager`](herald_engine::PresenceManager) over one or more
/// Redis servers. Share it as `Arc<RedisEngine>`; dropping it stops its background tasks.
///
/// Redis Cluster is detected automatically, as in Centrifugo: see [`RedisEngine::connect`].
pub struct RedisEngine {
    pub(crate) shards: Box<[Shard]>,
    /// Whether the addresses are nodes of one Redis Cluster (then there is a single shard).
    cluster: bool,
    pub(crate) keys: Keys,
    pub(crate) delivery: Arc<Delivery>,
    /// Least TTL of presence keys, ms.
    pub(crate) presence_key_ttl_ms: u64,
}

/// One Redis server (or one Redis Cluster) and the engine's two connections to it.
pub(crate) struct Shard {
    pub(crate) address: ShardAddress,
    /// Commands and scripts: multiplexed (concurrent callers pipeline on one connection) and
    /// reconnecting on demand. Called through `health.rs`, which decides about retries.
    pub(crate) commands: Commands,
    /// Whether `commands` is known to work; see `health.rs`.
    pub(crate) health: Arc<CommandHealth>,
    /// The PUB/SUB connection and its reader task.
    pub(crate) subscriber: Subscriber,
    /// PINGs `commands` when in doubt; stops when the shard is dropped.
    _monitor: Monitor,
}

impl Shard {
    /// Checks the command connection with a PING, then starts the shard's monitor.
    async fn new(
        address: ShardAddress,
        commands: Commands,
        health: Arc<CommandHealth>,
        subscriber: Subscriber,
        options: &RedisOptions,
    ) -> Result<Self, EngineError> {
        health::ping(&health, &mut commands.clone())
            .await
            .map_err(|e| unavailable(&format!("ping {address}"), e))?;
        let monitor = Monitor::start(
            Arc::clone(&health),
            commands.clone(),
            options.pubsub_ping_interval,
            options.reconnect_max_delay,
            address.to_string(),
        );
        Ok(Self {
            address,
            commands,
            health,
            subscriber,
            _monitor: monitor,
        })
    }
}

impl RedisEngine {
    /// Connects to every shard of `options`: a command connection and a PUB/SUB connection
    /// each. Fails with [`EngineError::Unavailable`] if the options are invalid (no address, an
    /// address it cannot dial, a zero timeout) or a server cannot be reached; once connected,
    /// the engine reconnects by itself.
    ///
    /// **Redis Cluster** is detected automatically, as Centrifugo does: the first address that
    /// answers is asked `INFO cluster`, and `cluster_enabled:1` switches the engine to cluster
    /// mode. Then every address is a seed node of that one cluster (not a shard: jump-hash
    /// sharding over addresses is not used, the cluster shards by slot), and:
    /// - keys carry the channel as a hash tag (`{p}.stream.{<ch>}`, `{p}.result.{<ch>}.{key}`,
    ///   ...), so all keys of a channel share a slot and every script runs on one node;
    /// - commands and scripts go through the `redis` crate's cluster client, routed by key and
    ///   following slot moves;
    /// - PUB/SUB uses classic PUBLISH, which the cluster broadcasts to every node, so one
    ///   PUB/SUB connection to a single node hears everything. It is opened to the first
    ///   reachable address; when that node fails, the connection moves on to the next address
    ///   (and `handle_gap` is reported once every channel is subscribed again).
    ///
    /// Must be called within a tokio runtime, which runs the engine's reader tasks.
    pub async fn connect(options: RedisOptions) -> Result<Self, EngineError> {
        let mut addresses = options.shard_addresses()?;
        let sentinel = addresses.iter().any(|a| a.sentinels.is_some());
        if sentinel {
            for address in &mut addresses {
                *address = address
                    .resolve()
                    .await
                    .map_err(|reason| unavailable("redis sentinel", reason))?;
            }
        }
        // Sentinel watches plain masters, never a Redis Cluster.
        let cluster = !sentinel && detect_cluster(&addresses, &options).await?;
        let keys = Keys::new(&options.prefix, cluster);
        let delivery = Arc::new(Delivery::new(keys.clone()));
        let settings = Settings {
            connect_timeout: options.connect_timeout,
            command_timeout: options.command_timeout,
            ping_interval: options.pubsub_ping_interval,
            max_message_size: options.max_message_size,
            reconnect_max_delay: options.reconnect_max_delay,
        };
        let mut shards = Vec::with_capacity(addresses.len());
        if cluster {
            let commands = connect_cluster(&addresses, &options).await?;
            let health = Arc::new(CommandHealth::verified());
            let subscriber = Subscriber::start(
                addresses.clone(),
                settings,
                Arc::clone(&delivery),
                Arc::clone(&health),
            )
            .await?;
            let address = addresses[0].clone();
            shards.push(Shard::new(address, commands, health, subscriber, &options).await?);
        } else {
            for address in addresses {
                let commands = connect_commands(&address, &options).await?;
                let health = Arc::new(CommandHealth::verified());
                let subscriber = Subscriber::start(
                    vec![address.clone()],
                    settings.clone(),
                    Arc::clone(&delivery),
                    Arc::clone(&health),
                )
                .await?;
                shards.push(Shard::new(address, commands, health, subscriber, &options).await?);
            }
        }
        // Control messages travel on the first shard, which every node has.
        shards[0]
            .subscriber
            .subscribe(&keys.control_channel())
            .await?;
        Ok(Self {
            shards: shards.into_boxed_slice(),
            cluster,
            keys,
            delivery,
            presence_key_ttl_ms: millis(options.presence_ttl).max(1),
        })
    }

    /// Whether the engine runs against a Redis Cluster (detected when connecting).
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// Whether every shard works: its PUB/SUB connection is up with all its channels
    /// subscribed (else publications made meanwhile do not reach this node), and its command
    /// connection answered a PING since anything last cast doubt on it (a lost PUB/SUB
    /// connection, a command that failed on a connection error), so commands work too.
    pub fn is_healthy(&self) -> bool {
        self.shards
            .iter()
            .all(|shard| shard.subscriber.is_healthy() && shard.health.is_verified())
    }

    /// How many PUB/SUB messages were skipped because they could not be decoded (written by
    /// something other than a Herald node, or corrupted).
    pub fn undecodable_messages(&self) -> u64 {
        self.delivery.undecodable()
    }

    /// Index of the shard holding `channel`, among the configured addresses. Always 0 with
    /// Redis Cluster, which places channels by slot itself.
    pub fn shard_of(&self, channel: &str) -> usize {
        shard_index(channel, self.shards.len())
    }

    /// The shard holding `channel`.
    pub(crate) fn shard(&self, channel: &str) -> &Shard {
        &self.shards[self.shard_of(channel)]
    }
}

impl fmt::Debug for RedisEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shards: Vec<String> = self.shards.iter().map(|s| s.address.to_string()).collect();
        f.debug_struct("RedisEngine")
            .field("shards", &shards)
            .field("cluster", &self.cluster)
            .field("keys", &self.keys)
            .field("running", &self.delivery.running().is_ok())
            .finish_non_exhaustive()
    }
}

/// The command connection of a shard: to one server, to a Redis Cluster, or to the master
/// its sentinels name.
#[derive(Clone)]
pub(crate) enum Commands {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(SentinelCommands),
}

impl ConnectionLike for Commands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
            Self::Sentinel(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
            Self::Sentinel(connection) => connection.get_db(),
        }
    }
}

/// Asks the first address that answers whether it is a Redis Cluster node (`INFO cluster`).
async fn detect_cluster(
    addresses: &[ShardAddress],
    options: &RedisOptions,
) -> Result<bool, EngineError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(options.connect_timeout))
        .set_response_timeout(Some(options.command_timeout));
    let mut last_error = None;
    for address in addresses {
        let attempt = async {
            let client = address.client()?;
            let mut connection = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            redis::cmd("INFO")
                .arg("cluster")
                .query_async::<String>(&mut connection)
                .await
        };
        match attempt.await {
            Ok(info) => return Ok(cluster_enabled(&info)),
            Err(error) => {
                tracing::warn!(shard = %address, %error, "redis did not answer INFO cluster");
                last_error = Some(unavailable(&format!("connect {address}"), error));
            }
        }
    }
    Err(last_error.unwrap_or_else(|| unavailable("connect", "no address")))
}

/// Whether an `INFO cluster` reply says cluster mode is on.
fn cluster_enabled(info: &str) -> bool {
    info.lines().any(|line| line.trim() == "cluster_enabled:1")
}

async fn connect_cluster(
    addresses: &[ShardAddress],
    options: &RedisOptions,
) -> Result<Commands, EngineError> {
    let failed = |e: redis::RedisError| unavailable("connect to cluster", e);
    let retries = u32::try_from(COMMAND_RECONNECT_ATTEMPTS).unwrap_or(u32::MAX);
    let mut builder = ClusterClientBuilder::new(addresses.iter().map(|a| a.info.clone()));
    if let Some(tls) = addresses.first().and_then(|a| a.tls.as_ref()) {
        builder = builder.certs(tls.certs.clone());
    }
    let client = builder
        .connection_timeout(options.connect_timeout)
        .response_timeout(options.command_timeout)
        .retries(retries)
        .build()
        .map_err(failed)?;
    let connection = client.get_async_connection().await.map_err(failed)?;
    Ok(Commands::Cluster(connection))
}

async fn connect_commands(
    address: &ShardAddress,
    options: &RedisOptions,
) -> Result<Commands, EngineError> {
    let failed = |e: redis::RedisError| unavailable(&format!("connect {address}"), e);
    let client = address.client().map_err(failed)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(options.connect_timeout))
        .set_response_timeout(Some(options.command_timeout))
        .set_number_of_retries(COMMAND_RECONNECT_ATTEMPTS)
        .set_min_delay(COMMAND_RECONNECT_DELAY)
        .set_max_delay(options.reconnect_max_delay);
    if address.sentinels.is_some() {
        return SentinelCommands::connect(address, config)
            .await
            .map(Commands::Sentinel)
            .map_err(failed);
    }
    ConnectionManager::new_with_config(client, config)
        .await
        .map(Commands::Single)
        .map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cluster_enabled_from_info() {
        assert!(cluster_enabled("# Cluster\r\ncluster_enabled:1\r\n"));
        assert!(!cluster_enabled("# Cluster\r\ncluster_enabled:0\r\n"));
        assert!(!cluster_enabled(""));
    }
}
