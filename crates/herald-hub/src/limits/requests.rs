//! Server API requests per second (`http_api.rate_limit`, `grpc_api.rate_limit`, Herald's):
//! one token bucket per API key, holding one second's worth. The APIs live in the server crate;
//! the bucket lives here with the other limits, on tokio's clock.

use std::sync::Mutex;

use tokio::time::Instant;

use super::bucket::{Bucket, Rate};

/// A token bucket shared by every request presenting one API key.
#[derive(Debug)]
pub struct RequestRateLimit {
    rate: Rate,
    /// `std` mutex: one refill and compare under it, nothing awaits.
    bucket: Mutex<Bucket>,
}

impl RequestRateLimit {
    /// `per_second` requests per second; `None` for 0 (no limit).
    pub fn per_second(per_second: u32) -> Option<Self> {
        let rate = Rate::per_second(per_second)?;
        Some(Self {
            rate,
            bucket: Mutex::new(Bucket::full(rate, Instant::now())),
        })
    }

    /// Takes a token for one request, if one is left.
    pub fn try_acquire(&self) -> bool {
        herald_engine::lock(&self.bucket).take(self.rate, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_second_worth_then_the_rate() {
        let limit = RequestRateLimit::per_second(4).expect("a limit");
        assert_eq!((0..10).filter(|_| limit.try_acquire()).count(), 4);
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!((0..10).filter(|_| limit.try_acquire()).count(), 2);
        assert!(RequestRateLimit::per_second(0).is_none());
    }
}
