//! A token bucket: `rate` tokens per `interval`, holding at most `rate` (Centrifugo's bucket
//! shape: `{"interval": "1s", "rate": 20}`).

use std::time::Duration;

use tokio::time::Instant;

/// How fast a bucket refills and how much it holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens added per second.
    per_second: f64,
    /// Most tokens the bucket holds (a full interval's worth).
    capacity: f64,
}

impl Rate {
    /// `rate` tokens per `interval`; `None` when either is zero (no limit).
    pub fn new(rate: u32, interval: Duration) -> Option<Self> {
        if rate == 0 || interval.is_zero() {
            return None;
        }
        let capacity = f64::from(rate);
        Some(Self {
            per_second: capacity / interval.as_secs_f64(),
            capacity,
        })
    }

    /// `rate` tokens per second.
    pub fn per_second(rate: u32) -> Option<Self> {
        Self::new(rate, Duration::from_secs(1))
    }
}

/// Tokens left and when they were last counted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket.
    pub(crate) fn full(rate: Rate, now: Instant) -> Self {
        Self {
            tokens: rate.capacity,
            at: now,
        }
    }

    /// Takes a token if one is left.
    pub(crate) fn take(&mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Refills, then says whether a token is there (without taking it).
    pub(crate) fn ready(&mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        self.tokens >= 1.0
    }

    /// Takes the token [`Bucket::ready`] saw.
    pub(crate) fn consume(&mut self) {
        self.tokens -= 1.0;
    }

    /// Whether the bucket has refilled completely by `now`: then it is no different from a
    /// new one and may be forgotten.
    pub(crate) fn is_full(&self, rate: Rate, now: Instant) -> bool {
        let mut probe = *self;
        probe.refill(rate, now);
        probe.tokens >= rate.capacity
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.capacity);
        self.at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_bucket_holds_one_interval_and_refills_at_the_rate() {
        let rate = Rate::new(10, Duration::from_secs(2)).expect("a rate");
        let mut bucket = Bucket::full(rate, Instant::now());
        let taken = (0..20)
            .filter(|_| bucket.take(rate, Instant::now()))
            .count();
        assert_eq!(taken, 10, "a full bucket holds one interval's worth");
        assert!(!bucket.is_full(rate, Instant::now()));
        tokio::time::advance(Duration::from_millis(600)).await;
        let taken = (0..20)
            .filter(|_| bucket.take(rate, Instant::now()))
            .count();
        assert_eq!(taken, 3, "0.6 s refills three tokens at 5/s");
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(bucket.is_full(rate, Instant::now()));
        let taken = (0..20)
            .filter(|_| bucket.take(rate, Instant::now()))
            .count();
        assert_eq!(taken, 10, "never more than the capacity");
    }

    #[test]
    fn a_zero_rate_or_interval_is_no_limit() {
        assert_eq!(Rate::per_second(0), None);
        assert_eq!(Rate::new(5, Duration::ZERO), None);
    }
}
