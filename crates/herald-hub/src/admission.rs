//! Whether the node takes one more connection: Centrifugo's `client.connection_limit` (clients
//! connected to this node) and `client.connection_rate_limit` (new connections per second on
//! this node, a token bucket holding one second's worth), and Herald's per-IP limits
//! (`client.ip_connection_limit`, `client.ip_connection_rate_limit`, `limits/ip.rs`).
//! Transports ask before they upgrade or open a stream, so a refused client costs one HTTP
//! answer: 503 for the node's limits, as in Centrifugo; 429 for the per-IP ones.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::Hub;
use crate::limits::{ConnectionPermit, LimitCounters, Rate};

/// How often "node connection limit reached" may be logged.
const LOG_EVERY: Duration = Duration::from_secs(3);

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionRefused {
    /// `client.connection_rate_limit` new connections this second already.
    #[error("connection rate limit reached")]
    RateLimited,
    /// `client.connection_limit` clients connected to this node already.
    #[error("node connection limit reached")]
    NodeFull,
    /// `client.ip_connection_rate_limit` new connections from this IP this second already.
    #[error("ip connection rate limit reached")]
    IpRateLimited,
    /// `client.ip_connection_limit` connections open from this IP already.
    #[error("ip connection limit reached")]
    IpFull,
}

impl ConnectionRefused {
    /// Whether a per-IP limit refused it (HTTP 429) rather than the node's (HTTP 503).
    pub fn is_per_ip(self) -> bool {
        matches!(self, Self::IpRateLimited | Self::IpFull)
    }

    /// The refusal as a static line, for an HTTP body that costs no allocation.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "connection rate limit reached\n",
            Self::NodeFull => "node connection limit reached\n",
            Self::IpRateLimited => "ip connection rate limit reached\n",
            Self::IpFull => "ip connection limit reached\n",
        }
    }
}

/// The node's admission state: the rate limiter's bucket and the limit log's throttle.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    /// Tokens left and when they were last counted; `None` until the first connection.
    /// `std` mutex: nothing awaits under it.
    bucket: Mutex<Option<(f64, Instant)>>,
    /// When the limit was last logged.
    logged: Mutex<Option<Instant>>,
}

impl Admission {
    /// Takes a token from a bucket of `rate` per second (capacity `rate`), if one is left.
    fn take(&self, rate: u32, now: Instant) -> bool {
        let rate = f64::from(rate);
        let mut bucket = herald_engine::lock(&self.bucket);
        let (tokens, at) = bucket.get_or_insert((rate, now));
        let elapsed = now.saturating_duration_since(*at).as_secs_f64();
        *tokens = (*tokens + elapsed * rate).min(rate);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether to log the limit now (at most once per [`LOG_EVERY`]).
    fn should_log(&self, now: Instant) -> bool {
        let mut logged = herald_engine::lock(&self.logged);
        match *logged {
            Some(at) if now.saturating_duration_since(at) < LOG_EVERY => false,
            _ => {
                *logged = Some(now);
                true
            }
        }
    }
}

impl Hub {
    /// Admits one more connection from `ip`, or says why not (the transport answers 503 for
    /// the node's limits, 429 for the per-IP ones). Checked before the WebSocket upgrade or
    /// the stream response; the rate limits count every attempt they admit, the node limit
    /// counts connected clients, the per-IP limit counts open connections: keep the permit for
    /// as long as the connection lives. The per-IP limits go first, so one address cannot
    /// spend the node's rate.
    pub fn admit_connection(&self, ip: IpAddr) -> Result<ConnectionPermit, ConnectionRefused> {
        let options = &self.shared.options.client;
        let ip_rate = self.ip_rate();
        let permit = if options.ip_connection_limit == 0 && ip_rate.is_none() {
            ConnectionPermit::uncounted()
        } else {
            match self.shared.ip_table.admit(
                ip,
                options.ip_connection_limit,
                ip_rate,
                Instant::now(),
            ) {
                Ok(true) => ConnectionPermit::counted(self.clone(), ip),
                Ok(false) => ConnectionPermit::uncounted(),
                Err(refused) => return Err(self.refused(refused)),
            }
        };
        if options.connection_rate_limit == 0 && options.connection_limit == 0 {
            return Ok(permit);
        }
        let admission = &self.shared.admission;
        let now = Instant::now();
        if options.connection_rate_limit > 0 && !admission.take(options.connection_rate_limit, now)
        {
            return Err(self.refused(ConnectionRefused::RateLimited));
        }
        if options.connection_limit > 0 && self.num_clients() >= options.connection_limit {
            if admission.should_log(now) {
                tracing::warn!(
                    limit = options.connection_limit,
                    "node connection limit reached"
                );
            }
            return Err(self.refused(ConnectionRefused::NodeFull));
        }
        Ok(permit)
    }

    /// `client.ip_connection_rate_limit` as a bucket rate, if set.
    pub(crate) fn ip_rate(&self) -> Option<Rate> {
        Rate::per_second(self.shared.options.client.ip_connection_rate_limit)
    }

    /// Counts a refusal.
    fn refused(&self, refused: ConnectionRefused) -> ConnectionRefused {
        let counters = &self.shared.limit_counters;
        LimitCounters::bump(match refused {
            ConnectionRefused::RateLimited => &counters.node_rate,
            ConnectionRefused::NodeFull => &counters.node_full,
            ConnectionRefused::IpRateLimited => &counters.ip_rate,
            ConnectionRefused::IpFull => &counters.ip_full,
        });
        refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_holds_one_second_and_refills_at_the_rate() {
        let admission = Admission::default();
        let start = Instant::now();
        let taken = (0..10).filter(|_| admission.take(5, start)).count();
        assert_eq!(taken, 5, "a full bucket holds one second's worth");
        tokio::time::advance(Duration::from_millis(400)).await;
        let now = Instant::now();
        let taken = (0..10).filter(|_| admission.take(5, now)).count();
        assert_eq!(taken, 2, "0.4 s refills two tokens at 5/s");
        tokio::time::advance(Duration::from_secs(60)).await;
        let now = Instant::now();
        let taken = (0..10).filter(|_| admission.take(5, now)).count();
        assert_eq!(taken, 5, "never more than the capacity");
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_is_logged_at_most_every_three_seconds() {
        let admission = Admission::default();
        assert!(admission.should_log(Instant::now()));
        assert!(!admission.should_log(Instant::now()));
        tokio::time::advance(LOG_EVERY).await;
        assert!(admission.should_log(Instant::now()));
    }
}
