//! Configuration of the NATS broker: plain data with a documented default per field
//! ([`NatsOptions`]), checked once by [`NatsBroker::connect`](crate::NatsBroker::connect) into
//! the server addresses it dials.

use std::fmt;
use std::time::Duration;

use async_nats::ServerAddr;
use herald_engine::EngineError;

use crate::subjects;

/// How to reach NATS and how to name subjects. `Debug` never shows a password of `url`.
#[derive(Clone, PartialEq, Eq)]
pub struct NatsOptions {
    /// Server URL, `nats://[user:password@]host:port`, or several separated by commas (tried in
    /// turn, and on reconnect). Default: `"nats://127.0.0.1:4222"`.
    pub url: String,
    /// First token of every subject (`{prefix}.client.{channel}`, `{prefix}.control`); must be
    /// a valid NATS subject without wildcards. Default: `"centrifugo"`.
    pub prefix: String,
    /// Limit for opening a connection (TCP and handshake), on start and on each reconnect
    /// attempt. Default: 1 s.
    pub connect_timeout: Duration,
    /// Limit for handing a command (publish, subscribe) to the connection when its outgoing
    /// queue is full, and for the server to confirm a subscription. Default: 4 s.
    pub command_timeout: Duration,
    /// How often the connection is pinged; two pings without an answer and it is taken as dead
    /// and replaced. Default: 10 s.
    pub ping_interval: Duration,
    /// The longest pause between attempts to re-establish a broken connection; pauses start at
    /// 0, then 2 ms, and double. Default: 4 s.
    pub reconnect_max_delay: Duration,
    /// How many messages of one channel may wait for this node's reader. When a channel's queue
    /// is full, the NATS client drops further messages of that channel (a slow consumer): the
    /// broker logs it, counts it and calls
    /// [`handle_gap`](herald_engine::BrokerEventHandler::handle_gap). Default: 16 384.
    pub subscription_capacity: usize,
    /// How many commands (publications, subscribes) may wait to be written to the connection.
    /// When full, a publish waits up to `command_timeout`, then fails with
    /// [`EngineError::Unavailable`]. Default: 2 048.
    pub command_capacity: usize,
    /// TLS to the servers (required when set). Default: `None`, plain TCP.
    pub tls: Option<crate::NatsTls>,
}

impl Default for NatsOptions {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".to_owned(),
            prefix: "centrifugo".to_owned(),
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_secs(4),
            ping_interval: Duration::from_secs(10),
            reconnect_max_delay: Duration::from_secs(4),
            subscription_capacity: 16_384,
            command_capacity: 2_048,
            tls: None,
        }
    }
}

impl fmt::Debug for NatsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsOptions")
            .field("url", &shown(&self.url))
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("ping_interval", &self.ping_interval)
            .field("reconnect_max_delay", &self.reconnect_max_delay)
            .field("subscription_capacity", &self.subscription_capacity)
            .field("command_capacity", &self.command_capacity)
            .field("tls", &self.tls)
            .finish()
    }
}

impl NatsOptions {
    /// The server addresses, parsed, once the options are known to make sense.
    pub(crate) fn server_addresses(&self) -> Result<Vec<ServerAddr>, EngineError> {
        let durations = [
            ("connect_timeout", self.connect_timeout),
            ("command_timeout", self.command_timeout),
            ("ping_interval", self.ping_interval),
            ("reconnect_max_delay", self.reconnect_max_delay),
        ];
        if let Some((name, _)) = durations.iter().find(|(_, d)| d.is_zero()) {
            return Err(invalid(&format!("{name} must be positive")));
        }
        if self.subscription_capacity == 0 || self.command_capacity == 0 {
            return Err(invalid("capacities must be positive"));
        }
        if !subjects::is_valid_prefix(&self.prefix) {
            return Err(invalid(&format!(
                "prefix {:?} is not a NATS subject without wildcards",
                self.prefix
            )));
        }
        let addresses: Vec<ServerAddr> = self
            .url
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(|url| {
                url.parse::<ServerAddr>()
                    .map_err(|e| invalid(&format!("url {}: {e}", shown(url))))
            })
            .collect::<Result<_, _>>()?;
        if addresses.is_empty() {
            return Err(invalid("no url"));
        }
        Ok(addresses)
    }
}

/// The pause before reconnect attempt `attempt` (from 1): 0, then 2 ms doubling up to `max`.
pub(crate) fn reconnect_delay(attempt: usize, max: Duration) -> Duration {
    match attempt {
        0 | 1 => Duration::ZERO,
        n => {
            let exponent = u32::try_from(n - 1).unwrap_or(u32::MAX).min(40);
            Duration::from_millis(1u64 << exponent).min(max)
        }
    }
}

fn invalid(reason: &str) -> EngineError {
    EngineError::Unavailable {
        reason: format!("invalid nats options: {reason}"),
    }
}

/// URLs (one, or several separated by commas) for messages: the user and password of each are
/// shown as `***`.
pub(crate) fn shown(urls: &str) -> String {
    urls.split(',')
        .map(|url| {
            let url = url.trim();
            let scheme_end = url.find("://").map_or(0, |i| i + 3);
            match url[scheme_end..].rfind('@') {
                Some(at) => format!("{}***{}", &url[..scheme_end], &url[scheme_end + at..]),
                None => url.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_defaults_and_url_lists() {
        assert_eq!(
            NatsOptions::default()
                .server_addresses()
                .expect("defaults")
                .len(),
            1
        );
        let two = NatsOptions {
            url: "nats://a:4222, nats://b:4223".into(),
            ..NatsOptions::default()
        };
        assert_eq!(two.server_addresses().expect("two").len(), 2);
    }

    #[test]
    fn rejects_options_that_cannot_work() {
        let cases = [
            NatsOptions {
                url: String::new(),
                ..NatsOptions::default()
            },
            NatsOptions {
                url: "http://[::1".into(),
                ..NatsOptions::default()
            },
            NatsOptions {
                prefix: "a.*".into(),
                ..NatsOptions::default()
            },
            NatsOptions {
                prefix: String::new(),
                ..NatsOptions::default()
            },
            NatsOptions {
                command_timeout: Duration::ZERO,
                ..NatsOptions::default()
            },
            NatsOptions {
                subscription_capacity: 0,
                ..NatsOptions::default()
            },
        ];
        for options in cases {
            assert!(options.server_addresses().is_err(), "{options:?}");
        }
    }

    #[test]
    fn never_shows_passwords() {
        let options = NatsOptions {
            url: "nats://user:secret@[::1".into(),
            ..NatsOptions::default()
        };
        let Err(EngineError::Unavailable { reason }) = options.server_addresses() else {
            panic!("accepted a bad url");
        };
        assert!(!reason.contains("secret"), "{reason}");
    }

    #[test]
    fn shows_urls_without_credentials() {
        assert_eq!(
            shown("nats://u:secret@a:4222, tls://token@b,nats://c:1"),
            "nats://***@a:4222,tls://***@b,nats://c:1"
        );
        assert_eq!(shown("u:p@host:4222"), "***@host:4222");
        let options = NatsOptions {
            url: "nats://user:secret@example.com:4222".into(),
            ..NatsOptions::default()
        };
        let debug = format!("{options:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("example.com:4222"), "{debug}");
    }

    #[test]
    fn reconnect_delays_double_up_to_the_limit() {
        let max = Duration::from_secs(4);
        let delays: Vec<u64> = (1..=5)
            .map(|n| reconnect_delay(n, max).as_millis() as u64)
            .collect();
        assert_eq!(delays, vec![0, 2, 4, 8, 16]);
        assert_eq!(reconnect_delay(100, max), max);
        assert_eq!(reconnect_delay(usize::MAX, max), max);
    }
}
