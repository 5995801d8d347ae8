//! Redis Sentinel ([`RedisSentinel`]): a shard's address is not configured but asked of its
//! sentinels (`SENTINEL GET-MASTER-ADDR-BY-NAME`), each in turn until one answers, whenever a
//! connection is (re)opened.
//!
//! Both connections of a shard follow a failover this way:
//! - the command connection ([`SentinelCommands`]) asks again when a command fails on a
//!   connection error or a `READONLY` reply (it reached a demoted master), and moves to the new
//!   master if the answer changed; the failed command still fails (the caller's retry policy
//!   applies, see `health.rs`);
//! - the PUB/SUB connection resolves the master before every connect and checks with `ROLE`
//!   that it reached a master; Sentinel closes the old master's PUB/SUB clients when it demotes
//!   it, so the link reconnects, and reports the gap like any reconnect so positioned
//!   subscribers recover from history.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_engine::lock;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncConnectionConfig, Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture};
use redis::{ConnectionAddr, Value};
use tokio::time::timeout;

use crate::options::ShardAddress;

/// Sentinel mode (Centrifugo's `sentinel_*` keys): the shards' masters are found through
/// sentinels instead of fixed addresses.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSentinel {
    /// One entry per shard: the sentinels of that shard's master, `host:port` separated by
    /// commas (Centrifugo's `sentinel_address`). Replaces
    /// [`RedisOptions::addresses`](crate::RedisOptions::addresses).
    pub addresses: Vec<String>,
    /// The name the sentinels monitor the master under (`sentinel_master_name`).
    pub master_name: String,
    /// ACL user for the sentinels (`sentinel_user`); `None`: the default user.
    pub user: Option<String>,
    /// Password for the sentinels (`sentinel_password`); `None`: no AUTH.
    pub password: Option<String>,
}

impl fmt::Debug for RedisSentinel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password stays out of logs.
        f.debug_struct("RedisSentinel")
            .field("addresses", &self.addresses)
            .field("master_name", &self.master_name)
            .field("user", &self.user)
            .field("password", &self.password.is_some())
            .finish()
    }
}

/// The sentinels of one shard, ready to ask.
pub(crate) struct Sentinels {
    sentinels: Vec<redis::ConnectionInfo>,
    master_name: String,
    /// Limit for connecting to a sentinel and for its answer.
    timeout: Duration,
}

impl Sentinels {
    /// Parses one shard's comma-separated `host:port` list.
    pub(crate) fn new(
        list: &str,
        sentinel: &RedisSentinel,
        timeout: Duration,
    ) -> Result<Self, String> {
        let mut sentinels = Vec::new();
        for address in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let url = if address.contains("://") {
                address.to_owned()
            } else {
                format!("redis://{address}")
            };
            let mut info = url
                .as_str()
                .into_connection_info()
                .map_err(|e| format!("sentinel address {address:?}: {e}"))?;
            if !matches!(info.addr(), ConnectionAddr::Tcp(..)) {
                return Err(format!(
                    "sentinel address {address:?}: only TCP is supported"
                ));
            }
            let mut settings = info.redis_settings().clone();
            if let Some(user) = &sentinel.user {
                settings = settings.set_username(user);
            }
            if let Some(password) = &sentinel.password {
                settings = settings.set_password(password);
            }
            info = info.set_redis_settings(settings);
            sentinels.push(info);
        }
        if sentinels.is_empty() {
            return Err("a shard without sentinel address".to_owned());
        }
        if sentinel.master_name.is_empty() {
            return Err("sentinel master name is empty".to_owned());
        }
        Ok(Self {
            sentinels,
            master_name: sentinel.master_name.clone(),
            timeout,
        })
    }

    /// The master's address, from the first sentinel that knows it.
    pub(crate) async fn master(&self) -> Result<(String, u16), String> {
        let mut failures = Vec::new();
        for info in &self.sentinels {
            match timeout(self.timeout * 2, self.ask(info)).await {
                Ok(Ok(Some((host, port)))) => return Ok((host, port)),
                Ok(Ok(None)) => failures.push(format!("{}: unknown master", info.addr())),
                Ok(Err(error)) => failures.push(format!("{}: {error}", info.addr())),
                Err(_) => failures.push(format!("{}: timed out", info.addr())),
            }
        }
        Err(format!(
            "no sentinel knows master {:?} ({})",
            self.master_name,
            failures.join("; ")
        ))
    }

    async fn ask(&self, info: &redis::ConnectionInfo) -> redis::RedisResult<Option<(String, u16)>> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let client = redis::Client::open(info.clone())?;
        let mut connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let answer: Option<(String, u16)> = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(&self.master_name)
            .query_async(&mut connection)
            .await?;
        Ok(answer)
    }
}

/// A shard's command connection in Sentinel mode: a connection manager to the master, replaced
/// when a failure suggests the master moved.
#[derive(Clone)]
pub(crate) struct SentinelCommands {
    inner: Arc<Inner>,
}

struct Inner {
    /// The shard's address, with its sentinels; host and port are replaced by the master's.
    address: ShardAddress,
    config: ConnectionManagerConfig,
    /// The master connected to and the connection. Std mutex: only cloned or replaced, never
    /// held across an await.
    current: Mutex<(String, u16, ConnectionManager)>,
    /// Held while the sentinels are asked, so only one failing command asks at a time.
    following: tokio::sync::Mutex<()>,
}

impl SentinelCommands {
    /// Connects to the master `address` (already resolved) points at.
    pub(crate) async fn connect(
        address: &ShardAddress,
        config: ConnectionManagerConfig,
    ) -> redis::RedisResult<Self> {
        let manager = ConnectionManager::new_with_config(address.client()?, config.clone()).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                address: address.clone(),
                config,
                current: Mutex::new((address.host.clone(), address.port, manager)),
                following: tokio::sync::Mutex::new(()),
            }),
        })
    }

    fn connection(&self) -> ConnectionManager {
        lock(&self.inner.current).2.clone()
    }

    /// After `error`, asks the sentinels where the master is and moves there if it changed.
    async fn follow(&self, error: &RedisError) {
        if !master_may_have_moved(error) {
            return;
        }
        let Some(sentinels) = &self.inner.address.sentinels else {
            return;
        };
        // Commands failing together ask once: the others fail right away rather than queue up
        // behind the sentinels' answers.
        let Ok(_one) = self.inner.following.try_lock() else {
            return;
        };
        let master = match sentinels.master().await {
            Ok(master) => master,
            Err(reason) => {
                tracing::warn!(%reason, "redis sentinel: master not found");
                return;
            }
        };
        {
            let current = lock(&self.inner.current);
            if (current.0.as_str(), current.1) == (master.0.as_str(), master.1) {
                return;
            }
        }
        let address = self.inner.address.at(&master.0, master.1);
        let connected = async {
            ConnectionManager::new_with_config(address.client()?, self.inner.config.clone()).await
        };
        match connected.await {
            Ok(manager) => {
                tracing::info!(master = %address, "redis sentinel: commands follow the new master");
                *lock(&self.inner.current) = (master.0, master.1, manager);
            }
            Err(error) => {
                tracing::warn!(master = %address, %error, "redis sentinel: new master unreachable");
            }
        }
    }
}

impl ConnectionLike for SentinelCommands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.connection().req_packed_command(cmd).await;
            if let Err(error) = &result {
                self.follow(error).await;
            }
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self
                .connection()
                .req_packed_commands(pipeline, offset, count)
                .await;
            if let Err(error) = &result {
                self.follow(error).await;
            }
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.connection().get_db()
    }
}

/// Whether `error` may mean the master is elsewhere now: the connection failed, or the server
/// became a replica (`READONLY`, also when raised inside a script).
fn master_may_have_moved(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.code() == Some("READONLY")
        || error.to_string().contains("READONLY")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentinel() -> RedisSentinel {
        RedisSentinel {
            addresses: Vec::new(),
            master_name: "m".to_owned(),
            user: None,
            password: Some("pw".to_owned()),
        }
    }

    #[test]
    fn parses_a_shard_of_sentinels() {
        let timeout = Duration::from_secs(1);
        let parsed = Sentinels::new("127.0.0.1:26379, 10.0.0.2:26380", &sentinel(), timeout)
            .expect("valid list");
        assert_eq!(parsed.sentinels.len(), 2);
        assert_eq!(parsed.sentinels[1].redis_settings().password(), Some("pw"));
        assert!(Sentinels::new(" , ", &sentinel(), timeout).is_err());
        let unnamed = RedisSentinel {
            master_name: String::new(),
            ..sentinel()
        };
        assert!(Sentinels::new("127.0.0.1:26379", &unnamed, timeout).is_err());
        assert!(!format!("{:?}", sentinel()).contains("pw"));
    }

    #[test]
    fn readonly_and_connection_errors_ask_again() {
        let readonly = RedisError::from((
            redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
            "x",
        ));
        assert!(master_may_have_moved(&readonly));
        let dropped = RedisError::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(master_may_have_moved(&dropped));
        let other = RedisError::from((redis::ErrorKind::Client, "x"));
        assert!(!master_may_have_moved(&other));
    }
}
