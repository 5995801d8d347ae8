//! Whether the node takes one more connection: Centrifugo's `client.connection_limit` (clients
//! connected to this node) and `client.connection_rate_limit` (new connections per second on
//! this node, a token bucket holding one second's worth). Transports ask before they upgrade or
//! open a stream, so a refused client costs one HTTP answer (503), as in Centrifugo.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::Hub;
use crate::metrics::Refusal;

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
    /// Admits one more connection, or says why not (the transport answers 503). Checked
    /// before the WebSocket upgrade or the stream response; the rate limit counts every
    /// attempt it admits, the node limit counts connected clients.
    pub fn admit_connection(&self) -> Result<(), ConnectionRefused> {
        let options = &self.shared.options.client;
        if options.connection_rate_limit == 0 && options.connection_limit == 0 {
            return Ok(());
        }
        let admission = &self.shared.admission;
        let now = Instant::now();
        if options.connection_rate_limit > 0 && !admission.take(options.connection_rate_limit, now)
        {
            count_refusal(Refusal::ConnectionRateLimit);
            return Err(ConnectionRefused::RateLimited);
        }
        if options.connection_limit > 0 && self.num_clients() >= options.connection_limit {
            count_refusal(Refusal::ConnectionLimit);
            if admission.should_log(now) {
                tracing::warn!(
                    limit = options.connection_limit,
                    "node connection limit reached"
                );
            }
            return Err(ConnectionRefused::NodeFull);
        }
        Ok(())
    }
}

fn count_refusal(refusal: Refusal) {
    if let Some(m) = crate::metrics() {
        m.refusals[refusal.index()].inc();
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
