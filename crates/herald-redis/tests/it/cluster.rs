//! Redis Cluster: a 3-master cluster of the tests' own (never the system Redis), the engine
//! detecting it, channels spread over every master, and the PUB/SUB connection moving to
//! another node when its node dies.

use std::process::{Command, Stdio};
use std::sync::LazyLock;
use std::sync::atomic::Ordering;
use std::thread::sleep;
use std::time::{Duration, Instant};

use bytes::Bytes;
use herald_engine::conformance::unique_channel;
use herald_engine::{Broker, ClientInfo, PresenceManager, PublishOptions};
use herald_redis::{RedisEngine, RedisOptions};
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;

use crate::PREFIX;
use crate::engine::{all, eventually, running, text, with_history};
use crate::server::{RedisServer, sibling_binary};

/// How long the cluster may take to agree that every slot is served.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(30);

static SHARED: LazyLock<RedisCluster> = LazyLock::new(RedisCluster::start);

/// The cluster most cluster tests share; they use distinct channel names.
pub(crate) fn shared() -> &'static RedisCluster {
    &SHARED
}

/// Three masters, no replicas, every slot assigned. Its nodes stop when it is dropped, and in
/// any case when the test process exits.
#[derive(Debug)]
pub(crate) struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers, joins them with `redis-cli --cluster create` and
    /// waits until each reports `cluster_state:ok`.
    ///
    /// # Panics
    ///
    /// When redis-server or redis-cli is missing, or the cluster does not come up in time.
    pub(crate) fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::start_with(true)).collect();
        let cli = sibling_binary("redis-cli");
        let output = Command::new(&cli)
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", cli.display()));
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = Self { nodes };
        let deadline = Instant::now() + CLUSTER_READY_TIMEOUT;
        for node in &cluster.nodes {
            loop {
                let info = Command::new(&cli)
                    .args(["-p", &node.port().to_string(), "cluster", "info"])
                    .stdin(Stdio::null())
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                if info.lines().any(|l| l.trim() == "cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "redis cluster not ok on port {} within {CLUSTER_READY_TIMEOUT:?}: {info}",
                    node.port()
                );
                sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    /// Every node's `redis://` address, in order.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

/// Options for an engine on `cluster`.
pub(crate) fn options(cluster: &RedisCluster) -> RedisOptions {
    RedisOptions {
        addresses: cluster.urls(),
        prefix: PREFIX.to_owned(),
        ..RedisOptions::default()
    }
}

/// A fresh engine on the shared cluster.
pub(crate) async fn engine() -> RedisEngine {
    let engine = RedisEngine::connect(options(shared()))
        .await
        .expect("connect to the test redis cluster");
    assert!(engine.is_cluster(), "cluster not detected");
    engine
}

/// A plain (not cluster-aware) connection to one node.
async fn node_connection(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to a cluster node")
}

#[tokio::test]
async fn standalone_redis_is_not_a_cluster() {
    assert!(!crate::engine().await.is_cluster());
}

#[tokio::test]
async fn cluster_keys_carry_the_channel_as_hash_tag() {
    let (engine, _) = running(engine().await).await;
    let ch = unique_channel("cluster-layout");
    let keyed = PublishOptions {
        idempotency_key: Some("k1".into()),
        ..with_history()
    };
    let published = engine
        .publish(&ch, text("x"), &keyed)
        .await
        .expect("publish");
    engine
        .add_presence(&ch, "c1", &ClientInfo::default(), Duration::from_secs(60))
        .await
        .expect("presence");
    let keys = [
        format!("{PREFIX}.stream.{{{ch}}}"),
        format!("{PREFIX}.stream.meta.{{{ch}}}"),
        format!("{PREFIX}.result.{{{ch}}}.k1"),
        format!("{PREFIX}.presence.data.{{{ch}}}"),
        format!("{PREFIX}.presence.expire.{{{ch}}}"),
    ];
    // Exactly one node holds them all; the others redirect (MOVED) or hold none.
    let mut holders = 0;
    for url in shared().urls() {
        let mut node = node_connection(&url).await;
        let mut held = 0;
        for key in &keys {
            if let Ok(true) = node.exists::<_, bool>(key).await {
                held += 1;
            }
        }
        assert!(held == 0 || held == keys.len(), "{url} holds {held} keys");
        if held > 0 {
            holders += 1;
            let meta: (String, u64) = node.hmget(&keys[1], &["e", "s"]).await.expect("meta");
            assert_eq!(meta, (published.position.epoch.clone(), 1));
        }
    }
    assert_eq!(holders, 1);
}

/// Channels whose keys land on every master all publish, deliver and keep history, seen from
/// another node too.
#[tokio::test]
async fn channels_on_every_master_work() {
    let (first, handler) = running(engine().await).await;
    let (second, _) = running(engine().await).await;
    let tag = unique_channel("cluster-spread");
    let channels: Vec<String> = (0..50).map(|i| format!("{tag}-{i}")).collect();
    for ch in &channels {
        first.subscribe(ch).await.expect("subscribe");
    }
    for ch in &channels {
        for data in ["a", "b"] {
            second
                .publish(ch, text(data), &with_history())
                .await
                .expect("publish");
        }
    }
    for ch in &channels {
        let delivered = handler.wait_publications(ch, 2).await;
        let offsets: Vec<u64> = delivered.iter().map(|(p, _)| p.offset).collect();
        assert_eq!(offsets, vec![1, 2], "{ch}");
        let history = first.history(ch, &all()).await.expect("history");
        assert_eq!(history.publications.len(), 2, "{ch}");
        assert_eq!(history.position.offset, 2, "{ch}");
    }
    // Every master holds some of the streams.
    let pattern = format!("{PREFIX}.stream.{{{tag}-*");
    for url in shared().urls() {
        let mut node = node_connection(&url).await;
        let held: Vec<String> = node.keys(&pattern).await.expect("keys");
        assert!(!held.is_empty(), "no stream on {url}");
    }
}

#[tokio::test]
async fn control_messages_cross_the_cluster() {
    let (first, first_handler) = running(engine().await).await;
    // The second node's PUB/SUB connection is on another node of the cluster.
    let mut urls = shared().urls();
    urls.rotate_left(1);
    let options = RedisOptions {
        addresses: urls,
        prefix: PREFIX.to_owned(),
        ..RedisOptions::default()
    };
    let (_second, second_handler) =
        running(RedisEngine::connect(options).await.expect("connect")).await;
    let marker = unique_channel("cluster-control").into_bytes();
    first
        .publish_control(marker.clone().into())
        .await
        .expect("publish control");
    for handler in [&first_handler, &second_handler] {
        eventually("the control message", || {
            handler.controls.lock().expect("controls").contains(&marker)
        })
        .await;
    }
}

/// When the node of the PUB/SUB connection dies, the connection moves to the next address and
/// the gap is reported; channels served by the surviving masters keep working.
#[tokio::test]
async fn pubsub_moves_to_the_next_node_when_its_node_dies() {
    let mut cluster = RedisCluster::start();
    let (engine, handler) = running(
        RedisEngine::connect(options(&cluster))
            .await
            .expect("connect"),
    )
    .await;
    assert!(engine.is_cluster());
    // A channel whose keys are not on the first node, which is about to die.
    let mut doomed = node_connection(&cluster.urls()[0]).await;
    let mut ch = String::new();
    for i in 0.. {
        ch = unique_channel(&format!("cluster-failover-{i}"));
        let probe = doomed
            .exists::<_, bool>(format!("{PREFIX}.stream.{{{ch}}}"))
            .await;
        if probe.is_err() {
            break; // MOVED: served by another master.
        }
    }
    engine.subscribe(&ch).await.expect("subscribe");
    engine
        .publish(&ch, text("before"), &with_history())
        .await
        .expect("publish");
    handler.wait_publications(&ch, 1).await;

    drop(cluster.nodes.remove(0));
    eventually("the gap to be reported", || {
        handler.gaps.load(Ordering::SeqCst) == 1
    })
    .await;
    eventually("healthy again", || engine.is_healthy()).await;
    let published = engine
        .publish(&ch, text("after"), &with_history())
        .await
        .expect("publish after the node died");
    assert_eq!(published.position.offset, 2);
    let delivered = handler.wait_publications(&ch, 2).await;
    assert_eq!(delivered[1].0.data, Bytes::from_static(b"after"));
}
