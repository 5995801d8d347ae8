//! Whether a channel's fan-out writes straight to idle sockets or queues for the connections'
//! tasks.
//!
//! A direct write (see `outbox/direct.rs`) saves each delivery a task wake-up, but all of a
//! publication's writes then run one after another on the publishing thread, one write per
//! delivery. That is the cheapest way while publications are far apart. When a channel's
//! publications come so fast that its direct fan-outs would keep a thread busy, queueing is
//! better: the connections' tasks write on every core, and a task that wakes to several
//! queued messages writes them in one go. The choice follows the channel's recent pace:
//! direct while the gap between publications (smoothed) leaves room for
//! [`DIRECT_BUDGET_PER_SUBSCRIBER`] per subscriber.

use std::time::Duration;

use tokio::time::Instant;

/// Time a publication's direct fan-out may take per subscriber, compared with the gap between
/// publications: about three writes' worth of loopback time, so direct fan-outs keep a thread
/// at most about a third busy.
pub(crate) const DIRECT_BUDGET_PER_SUBSCRIBER: Duration = Duration::from_micros(10);

/// A channel's recent publication pace.
#[derive(Debug, Default)]
pub(crate) struct Pace {
    last: Option<Instant>,
    /// Smoothed gap between publications (an exponential moving average, weight 1/8), in
    /// microseconds; `None` until two publications were seen.
    gap_micros: Option<u32>,
}

impl Pace {
    /// Records a publication at `now` and says whether its fan-out to `subscribers` may write
    /// directly.
    pub(crate) fn direct(&mut self, now: Instant, subscribers: usize) -> bool {
        if let Some(last) = self.last.replace(now) {
            let gap = u32::try_from(now.duration_since(last).as_micros()).unwrap_or(u32::MAX);
            self.gap_micros = Some(match self.gap_micros {
                Some(smoothed) => {
                    let smoothed = u64::from(smoothed);
                    u32::try_from((smoothed * 7 + u64::from(gap)) / 8).unwrap_or(u32::MAX)
                }
                None => gap,
            });
        }
        let budget = DIRECT_BUDGET_PER_SUBSCRIBER.as_micros() as u64 * subscribers as u64;
        self.gap_micros.is_none_or(|gap| u64::from(gap) > budget)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_channels_write_directly_and_fast_ones_queue() {
        let start = Instant::now();
        let mut pace = Pace::default();
        assert!(pace.direct(start, 1_000), "no history: direct");
        // 1,000 subscribers at 20 publications a second: 50 ms apart, budget 10 ms.
        let mut now = start;
        for _ in 0..20 {
            now += Duration::from_millis(50);
            assert!(pace.direct(now, 1_000));
        }
        // The same channel at 500 a second: after a few publications it queues.
        let mut direct = 0;
        for _ in 0..50 {
            now += Duration::from_millis(2);
            direct += usize::from(pace.direct(now, 1_000));
        }
        assert!(direct < 25, "{direct} of 50 fast publications went direct");
        assert!(!pace.direct(now + Duration::from_millis(2), 1_000));
        // A few subscribers stay direct at that rate: 2 ms > 10 µs × 10.
        assert!(pace.direct(now + Duration::from_millis(4), 10));
    }
}
