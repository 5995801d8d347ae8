//! Configuration of the Redis engine: plain data with a documented default per field
//! ([`RedisOptions`]), checked once by [`RedisEngine::connect`](crate::RedisEngine::connect) into
//! the addresses the engine actually dials.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use herald_engine::EngineError;
use redis::{ConnectionAddr, IntoConnectionInfo};

use crate::sentinel::Sentinels;
use crate::tls::TlsSetup;

/// How to reach Redis and how to lay data out in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// One address per shard: `redis://[user:password@]host:port[/db]` or plain `host:port`.
    /// Channels are spread over shards by a jump consistent hash of the FNV-1a-64 hash of the
    /// channel name, as in Centrifugo, so every node must list the same shards in the same
    /// order. Default: `["redis://127.0.0.1:6379"]`.
    ///
    /// With Redis Cluster (detected automatically, see
    /// [`RedisEngine::connect`](crate::RedisEngine::connect)) these are instead seed nodes of
    /// the one cluster, in any order: there is no jump-hash sharding, the cluster places
    /// channels by slot. The PUB/SUB connection uses the first that answers, then the next
    /// when it fails, so list several. Credentials are taken from the first; a cluster only
    /// has database 0.
    pub addresses: Vec<String>,
    /// Prefix of every key and PUB/SUB channel (`{prefix}.stream.{channel}`, ...).
    /// Default: `"herald"`. Not Centrifugo's `"centrifugo"` on purpose: the key names are
    /// Centrifugo's but the values are encoded Herald's way, so Herald and Centrifugo nodes on
    /// one Redis must not share a prefix, or each would read the other's data as garbage.
    pub prefix: String,
    /// The least time a channel's presence keys live after the last `add_presence`. Entries
    /// themselves expire after the TTL given to each call; this only keeps the keys from
    /// lingering forever once every client is gone. Default: 60 s, Centrifugo's `presence_ttl`.
    pub presence_ttl: Duration,
    /// Limit for opening a connection (TCP and handshake). Default: 1 s.
    pub connect_timeout: Duration,
    /// Limit for the answer to one command, and for a PUB/SUB subscribe confirmation.
    /// Default: 4 s.
    pub command_timeout: Duration,
    /// How often the PUB/SUB connection is pinged when quiet. A connection that has sent nothing
    /// for two intervals is taken as dead and replaced. Default: 10 s.
    pub pubsub_ping_interval: Duration,
    /// The largest PUB/SUB frame accepted, in bytes. A larger one breaks the connection, which
    /// is then re-established (its subscribers miss what was published meanwhile).
    /// Default: 64 MiB.
    pub max_message_size: usize,
    /// The longest pause between attempts to re-establish a broken PUB/SUB connection; pauses
    /// start at 50 ms and double, with jitter. Default: 5 s.
    pub reconnect_max_delay: Duration,
    /// TLS to every address (command and PUB/SUB connections). Default: `None`, plain TCP.
    pub tls: Option<crate::RedisTls>,
    /// Redis Sentinel: when set, the shards are its entries (one list of sentinels each) and
    /// `addresses` is not used; each shard's master is asked of its sentinels and followed
    /// through failovers, with `user`, `password` and `db` below. TLS, when set, applies to the
    /// masters, not to the sentinels. Default: `None`.
    pub sentinel: Option<crate::RedisSentinel>,
    /// ACL user for every address that names none (Centrifugo's `user`), the masters found
    /// through Sentinel included. Default: `None`.
    pub user: Option<String>,
    /// Password for every address that names none (Centrifugo's `password`). Default: `None`.
    pub password: Option<String>,
    /// Database for every address that names none (Centrifugo's `db`). Default: 0.
    pub db: i64,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            addresses: vec!["redis://127.0.0.1:6379".to_owned()],
            prefix: "herald".to_owned(),
            presence_ttl: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_secs(4),
            pubsub_ping_interval: Duration::from_secs(10),
            max_message_size: 64 << 20,
            reconnect_max_delay: Duration::from_secs(5),
            tls: None,
            sentinel: None,
            user: None,
            password: None,
            db: 0,
        }
    }
}

impl RedisOptions {
    /// The shard addresses, parsed, once the options are known to make sense.
    pub(crate) fn shard_addresses(&self) -> Result<Vec<ShardAddress>, EngineError> {
        let invalid = |reason: &str| EngineError::Unavailable {
            reason: format!("invalid redis options: {reason}"),
        };
        if self.addresses.is_empty() && self.sentinel.is_none() {
            return Err(invalid("no address"));
        }
        let durations = [
            ("connect_timeout", self.connect_timeout),
            ("command_timeout", self.command_timeout),
            ("pubsub_ping_interval", self.pubsub_ping_interval),
            ("reconnect_max_delay", self.reconnect_max_delay),
        ];
        if let Some((name, _)) = durations.iter().find(|(_, d)| d.is_zero()) {
            return Err(invalid(&format!("{name} must be positive")));
        }
        if self.max_message_size == 0 {
            return Err(invalid("max_message_size must be positive"));
        }
        let tls = self
            .tls
            .as_ref()
            .map(|tls| TlsSetup::new(tls).map(Arc::new))
            .transpose()
            .map_err(|reason| invalid(&format!("tls: {reason}")))?;
        if let Some(sentinel) = &self.sentinel {
            if sentinel.addresses.is_empty() {
                return Err(invalid("no sentinel address"));
            }
            return sentinel
                .addresses
                .iter()
                .map(|list| {
                    let sentinels = Sentinels::new(list, sentinel, self.connect_timeout)
                        .map_err(|reason| invalid(&reason))?;
                    // Pointed at the master once the sentinels are asked.
                    let mut address =
                        self.with_defaults(ShardAddress::parse("redis://127.0.0.1:0")?);
                    address.tls = tls.clone();
                    address.sentinels = Some(Arc::new(sentinels));
                    Ok(address)
                })
                .collect();
        }
        self.addresses
            .iter()
            .map(|address| {
                ShardAddress::parse(address).map(|parsed| {
                    let mut parsed = self.with_defaults(parsed);
                    parsed.tls = tls.clone();
                    parsed
                })
            })
            .collect()
    }
}

impl RedisOptions {
    /// `address` with `user`, `password` and `db` filled in where it names none.
    fn with_defaults(&self, mut address: ShardAddress) -> ShardAddress {
        let mut settings = address.info.redis_settings().clone();
        if address.password.is_none()
            && let Some(password) = &self.password
        {
            settings = settings.set_password(password);
            address.password = Some(password.clone());
            if address.username.is_none()
                && let Some(user) = &self.user
            {
                settings = settings.set_username(user);
                address.username = Some(user.clone());
            }
        }
        if settings.db() == 0 {
            settings = settings.set_db(self.db);
        }
        address.info = address.info.set_redis_settings(settings);
        address
    }
}

/// One shard's address, parsed.
#[derive(Clone)]
pub(crate) struct ShardAddress {
    /// For the command connection.
    pub(crate) info: redis::ConnectionInfo,
    /// For the PUB/SUB connection, which Herald drives itself.
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    /// TLS for both connections, when configured.
    pub(crate) tls: Option<Arc<TlsSetup>>,
    /// In Sentinel mode, who to ask where the master is; `host` and `port` are then the master
    /// last found.
    pub(crate) sentinels: Option<Arc<Sentinels>>,
}

impl ShardAddress {
    /// A `redis` client for the command connection, over TLS when configured.
    pub(crate) fn client(&self) -> redis::RedisResult<redis::Client> {
        match &self.tls {
            None => redis::Client::open(self.info.clone()),
            Some(tls) => redis::Client::build_with_tls(
                self.info.clone().set_addr(ConnectionAddr::TcpTls {
                    host: self.host.clone(),
                    port: self.port,
                    insecure: false,
                    tls_params: None,
                }),
                tls.certs.clone(),
            ),
        }
    }

    /// This address moved to `host:port` (a master found through Sentinel).
    pub(crate) fn at(&self, host: &str, port: u16) -> Self {
        Self {
            info: self
                .info
                .clone()
                .set_addr(ConnectionAddr::Tcp(host.to_owned(), port)),
            host: host.to_owned(),
            port,
            ..self.clone()
        }
    }

    /// In Sentinel mode, this address pointed at the master the sentinels name now; otherwise
    /// itself.
    pub(crate) async fn resolve(&self) -> Result<Self, String> {
        match &self.sentinels {
            None => Ok(self.clone()),
            Some(sentinels) => {
                let (host, port) = sentinels.master().await?;
                Ok(self.at(&host, port))
            }
        }
    }

    /// Parses one entry of [`RedisOptions::addresses`].
    pub(crate) fn parse(address: &str) -> Result<Self, EngineError> {
        let url = if address.contains("://") {
            address.to_owned()
        } else {
            format!("redis://{address}")
        };
        let info = url
            .as_str()
            .into_connection_info()
            .map_err(|e| invalid(address, &e.to_string()))?;
        let ConnectionAddr::Tcp(host, port) = info.addr().clone() else {
            return Err(invalid(
                address,
                "only redis:// addresses (TCP) are supported; TLS is set with the tls options, not rediss://",
            ));
        };
        let settings = info.redis_settings();
        Ok(Self {
            host,
            port,
            username: settings.username().map(str::to_owned),
            password: settings.password().map(str::to_owned),
            info,
            tls: None,
            sentinels: None,
        })
    }
}

/// Never shows the password.
impl fmt::Display for ShardAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl fmt::Debug for ShardAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShardAddress({self})")
    }
}

fn invalid(address: &str, why: &str) -> EngineError {
    // The address may hold a password: show only what follows the last `@`.
    let shown = address.rsplit('@').next().unwrap_or(address);
    EngineError::Unavailable {
        reason: format!("invalid redis address {shown:?}: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_options_that_cannot_work() {
        assert!(RedisOptions::default().shard_addresses().is_ok());
        let no_address = RedisOptions {
            addresses: Vec::new(),
            ..RedisOptions::default()
        };
        let no_ping = RedisOptions {
            pubsub_ping_interval: Duration::ZERO,
            ..RedisOptions::default()
        };
        let no_size = RedisOptions {
            max_message_size: 0,
            ..RedisOptions::default()
        };
        for options in [no_address, no_ping, no_size] {
            assert!(options.shard_addresses().is_err(), "{options:?}");
        }
    }

    #[test]
    fn fills_in_credentials_and_db_an_address_lacks() {
        let options = RedisOptions {
            addresses: vec!["a:1".into(), "redis://u:own@b:2/3".into()],
            user: Some("default-user".into()),
            password: Some("pw".into()),
            db: 5,
            ..RedisOptions::default()
        };
        let shards = options.shard_addresses().expect("valid");
        assert_eq!(shards[0].username.as_deref(), Some("default-user"));
        assert_eq!(shards[0].password.as_deref(), Some("pw"));
        assert_eq!(shards[0].info.redis_settings().password(), Some("pw"));
        assert_eq!(shards[0].info.redis_settings().db(), 5);
        assert_eq!(shards[1].username.as_deref(), Some("u"));
        assert_eq!(shards[1].password.as_deref(), Some("own"));
        assert_eq!(shards[1].info.redis_settings().db(), 3);
    }

    #[test]
    fn parses_urls_and_host_port() {
        let plain = ShardAddress::parse("10.0.0.1:6380").expect("host:port");
        assert_eq!((plain.host.as_str(), plain.port), ("10.0.0.1", 6380));
        assert_eq!(plain.password, None);

        let url = ShardAddress::parse("redis://user:secret@example.com:7000/2").expect("url");
        assert_eq!((url.host.as_str(), url.port), ("example.com", 7000));
        assert_eq!(url.username.as_deref(), Some("user"));
        assert_eq!(url.password.as_deref(), Some("secret"));
        assert_eq!(url.info.redis_settings().db(), 2);
        assert_eq!(url.to_string(), "example.com:7000");
        assert!(!format!("{url:?}").contains("secret"));
    }

    #[test]
    fn rejects_what_it_cannot_dial_without_leaking_passwords() {
        for bad in [
            "rediss://:pw@example.com:6379",
            "redis+unix:///tmp/redis.sock",
            "http://x",
        ] {
            let Err(EngineError::Unavailable { reason }) = ShardAddress::parse(bad) else {
                panic!("{bad} was accepted");
            };
            assert!(!reason.contains("pw@"), "{reason}");
        }
    }
}
