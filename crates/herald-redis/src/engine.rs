//! [`RedisEngine`]: its shards and how it connects. The trait implementations live in
//! `broker.rs`, `history.rs` and `presence.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use herald_engine::EngineError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::delivery::Delivery;
use crate::keys::{Keys, shard_index};
use crate::options::{RedisOptions, ShardAddress};
use crate::pubsub::{Settings, Subscriber};
use crate::scripts::{millis, unavailable};

/// Attempts of the command connection to reconnect before a command fails.
const COMMAND_RECONNECT_ATTEMPTS: usize = 3;
/// First pause between those attempts; it doubles.
const COMMAND_RECONNECT_DELAY: Duration = Duration::from_millis(50);

/// The Redis engine: implements [`Broker`](herald_engine::Broker) (PUB/SUB between nodes and
/// stream history) and [`PresenceManager`](herald_engine::PresenceManager) over one or more
/// Redis servers. Share it as `Arc<RedisEngine>`; dropping it stops its background tasks.
pub struct RedisEngine {
    pub(crate) shards: Box<[Shard]>,
    pub(crate) keys: Keys,
    pub(crate) delivery: Arc<Delivery>,
    /// Least TTL of presence keys, ms.
    pub(crate) presence_key_ttl_ms: u64,
}

/// One Redis server and the engine's two connections to it.
pub(crate) struct Shard {
    pub(crate) address: ShardAddress,
    /// Commands and scripts: multiplexed (concurrent callers pipeline on one connection) and
    /// reconnecting on demand.
    pub(crate) commands: ConnectionManager,
    /// The PUB/SUB connection and its reader task.
    pub(crate) subscriber: Subscriber,
}

impl RedisEngine {
    /// Connects to every shard of `options`: a command connection and a PUB/SUB connection
    /// each. Fails with [`EngineError::Unavailable`] if the options are invalid (no address, an
    /// address it cannot dial, a zero timeout) or a server cannot be reached; once connected,
    /// the engine reconnects by itself.
    ///
    /// Must be called within a tokio runtime, which runs the engine's reader tasks.
    pub async fn connect(options: RedisOptions) -> Result<Self, EngineError> {
        let addresses = options.shard_addresses()?;
        let keys = Keys::new(&options.prefix);
        let delivery = Arc::new(Delivery::new(keys.clone()));
        let settings = Settings {
            connect_timeout: options.connect_timeout,
            command_timeout: options.command_timeout,
            ping_interval: options.pubsub_ping_interval,
            max_message_size: options.max_message_size,
            reconnect_max_delay: options.reconnect_max_delay,
        };
        let mut shards = Vec::with_capacity(addresses.len());
        for address in addresses {
            let commands = connect_commands(&address, &options).await?;
            let subscriber =
                Subscriber::start(address.clone(), settings.clone(), Arc::clone(&delivery)).await?;
            shards.push(Shard {
                address,
                commands,
                subscriber,
            });
        }
        // Control messages travel on the first shard, which every node has.
        shards[0]
            .subscriber
            .subscribe(&keys.control_channel())
            .await?;
        Ok(Self {
            shards: shards.into_boxed_slice(),
            keys,
            delivery,
            presence_key_ttl_ms: millis(options.presence_ttl).max(1),
        })
    }

    /// Whether every shard's PUB/SUB connection is up with all its channels subscribed. False
    /// while one reconnects: publications made meanwhile do not reach this node.
    pub fn is_healthy(&self) -> bool {
        self.shards
            .iter()
            .all(|shard| shard.subscriber.is_healthy())
    }

    /// How many PUB/SUB messages were skipped because they could not be decoded (written by
    /// something other than a Herald node, or corrupted).
    pub fn undecodable_messages(&self) -> u64 {
        self.delivery.undecodable()
    }

    /// Index of the shard holding `channel`, among the configured addresses.
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
            .field("keys", &self.keys)
            .field("running", &self.delivery.running().is_ok())
            .finish_non_exhaustive()
    }
}

async fn connect_commands(
    address: &ShardAddress,
    options: &RedisOptions,
) -> Result<ConnectionManager, EngineError> {
    let failed = |e: redis::RedisError| unavailable(&format!("connect {address}"), e);
    let client = redis::Client::open(address.info.clone()).map_err(failed)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(options.connect_timeout))
        .set_response_timeout(Some(options.command_timeout))
        .set_number_of_retries(COMMAND_RECONNECT_ATTEMPTS)
        .set_min_delay(COMMAND_RECONNECT_DELAY)
        .set_max_delay(options.reconnect_max_delay);
    ConnectionManager::new_with_config(client, config)
        .await
        .map_err(failed)
}
