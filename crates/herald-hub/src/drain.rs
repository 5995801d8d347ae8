//! Paced drain at shutdown (`shutdown.drain_period`): rather than closing every connection in
//! the same instant, which would send all of a node's clients to the other nodes within one
//! second of a rolling restart, the clients are closed with 3001 "shutdown" (which SDKs
//! reconnect on) in equal batches spread over the period. New connections are refused from the
//! first instant ([`Hub::is_shutting_down`], and the readiness endpoint fails, so a load
//! balancer stops sending clients here).

use std::sync::atomic::Ordering;
use std::time::Duration;

use herald_proto::DisconnectCode;
use tokio::time::{Instant, sleep_until};

use crate::Hub;

/// Time between two batches. Short enough that a batch stays small (a 10 s drain of 50,000
/// clients closes 250 every 50 ms), long enough not to wake the runtime for nothing.
const BATCH_INTERVAL: Duration = Duration::from_millis(50);

impl Hub {
    /// Refuses new connections at once, then closes every connection with 3001 in batches
    /// spread over `period`, and returns after the last batch (about `period` after the call).
    /// A zero `period` is [`Hub::shutdown`]: everything at once.
    pub async fn drain(&self, period: Duration) {
        if period.is_zero() {
            self.shutdown();
            return;
        }
        // As in `shutdown`: cancelled first, so no session registers after the snapshot.
        self.shared.shutdown.cancel();
        let outboxes: Vec<_> = self.shared.clients().outboxes().cloned().collect();
        let plan = Plan::new(outboxes.len(), period);
        tracing::info!(
            clients = outboxes.len(),
            batches = plan.batches,
            ?period,
            "draining clients with 3001"
        );
        let start = Instant::now();
        for (i, batch) in outboxes.chunks(plan.batch_size).enumerate() {
            sleep_until(start + plan.interval * u32::try_from(i).unwrap_or(u32::MAX)).await;
            for outbox in batch {
                outbox.close(DisconnectCode::SHUTDOWN.into());
            }
            let drained = u64::try_from(batch.len()).unwrap_or(u64::MAX);
            self.shared
                .probe
                .drained_clients
                .fetch_add(drained, Ordering::Relaxed);
        }
        sleep_until(start + period).await;
    }
}

/// How `clients` connections are closed over a period: `batches` batches of at most
/// `batch_size`, `interval` apart, the first at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    batches: usize,
    batch_size: usize,
    interval: Duration,
}

impl Plan {
    fn new(clients: usize, period: Duration) -> Self {
        let slots = usize::try_from(period.as_millis() / BATCH_INTERVAL.as_millis())
            .unwrap_or(usize::MAX)
            .max(1);
        let batches = slots.min(clients).max(1);
        let batch_size = clients.div_ceil(batches).max(1);
        let batches = clients.div_ceil(batch_size).max(1);
        // Spread over the period: the last batch goes out one interval before its end.
        let interval = period / u32::try_from(batches).unwrap_or(u32::MAX);
        Self {
            batches,
            batch_size,
            interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_spread_over_the_period() {
        let plan = Plan::new(1000, Duration::from_secs(2));
        assert_eq!(plan.batches, 40);
        assert_eq!(plan.batch_size, 25);
        assert_eq!(plan.interval, Duration::from_millis(50));

        let plan = Plan::new(50_000, Duration::from_secs(10));
        assert_eq!((plan.batches, plan.batch_size), (200, 250));
    }

    #[test]
    fn few_clients_get_one_batch_each_still_spread() {
        let plan = Plan::new(4, Duration::from_secs(2));
        assert_eq!((plan.batches, plan.batch_size), (4, 1));
        assert_eq!(plan.interval, Duration::from_millis(500));
        let plan = Plan::new(0, Duration::from_secs(2));
        assert_eq!((plan.batches, plan.batch_size), (1, 1));
    }

    #[test]
    fn a_period_shorter_than_one_interval_is_one_batch() {
        let plan = Plan::new(1000, Duration::from_millis(10));
        assert_eq!((plan.batches, plan.batch_size), (1, 1000));
    }
}
