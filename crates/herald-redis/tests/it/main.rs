//! Integration tests of herald-redis against real `redis-server` processes that the tests start
//! themselves on free ports (never the system Redis): the engine conformance suite, on one
//! server and on a 3-master Redis Cluster, plus what only a networked engine has (several
//! nodes, shards, lost connections, cluster failover).

mod cluster;
mod conformance;
mod engine;
mod server;

use herald_redis::{RedisEngine, RedisOptions};

/// Prefix of every key the tests write.
const PREFIX: &str = "herald-it";

/// Options for an engine on `servers`.
fn options(servers: &[&server::RedisServer]) -> RedisOptions {
    RedisOptions {
        addresses: servers.iter().map(|s| s.url()).collect(),
        prefix: PREFIX.to_owned(),
        ..RedisOptions::default()
    }
}

/// A fresh engine on the binary's shared server.
async fn engine() -> RedisEngine {
    RedisEngine::connect(options(&[server::shared()]))
        .await
        .expect("connect to the test redis-server")
}
