//! Connections per client IP (`client.ip_connection_limit`, Herald's) and new connections per
//! second per client IP (`client.ip_connection_rate_limit`, Herald's). One map from IP to its
//! open connections and its rate bucket, under one `std` mutex (nothing awaits under it). An
//! entry exists while the IP has a connection open or its bucket is not yet full again; idle
//! entries are swept out when the map doubles, so the map stays bounded by the connections open
//! plus the addresses seen in the last second, never by every address ever seen.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use tokio::time::Instant;

use super::bucket::{Bucket, Rate};
use crate::Hub;
use crate::admission::ConnectionRefused;

/// Below this many entries the map is never swept.
const MIN_SWEEP: usize = 1024;

/// The per-IP state of the node.
#[derive(Debug, Default)]
pub(crate) struct IpTable {
    /// `std` mutex: lookups and counter updates only, nothing awaits under it.
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<IpAddr, Entry>,
    /// Sweep idle entries when the map reaches this size.
    sweep_at: usize,
}

#[derive(Debug)]
struct Entry {
    /// Connections open from this IP (counted only with `ip_connection_limit` set).
    open: u32,
    /// New connections admitted recently (only with `ip_connection_rate_limit` set).
    bucket: Option<Bucket>,
}

impl IpTable {
    /// Admits one more connection from `ip` under `limit` open ones (0: no limit) and `rate`
    /// new ones per second. `Ok(true)`: counted as open, so [`IpTable::release`] must follow.
    pub(crate) fn admit(
        &self,
        ip: IpAddr,
        limit: usize,
        rate: Option<Rate>,
        now: Instant,
    ) -> Result<bool, ConnectionRefused> {
        let mut inner = herald_engine::lock(&self.inner);
        if inner.entries.len() >= inner.sweep_at.max(MIN_SWEEP) {
            inner.sweep(rate, now);
        }
        let entry = inner.entries.entry(ip).or_insert(Entry {
            open: 0,
            bucket: rate.map(|rate| Bucket::full(rate, now)),
        });
        if limit > 0 && entry.open as usize >= limit {
            return Err(ConnectionRefused::IpFull);
        }
        if let (Some(rate), Some(bucket)) = (rate, entry.bucket.as_mut())
            && !bucket.take(rate, now)
        {
            return Err(ConnectionRefused::IpRateLimited);
        }
        if limit == 0 {
            return Ok(false);
        }
        entry.open += 1;
        Ok(true)
    }

    /// A connection from `ip` that [`IpTable::admit`] counted has ended.
    pub(crate) fn release(&self, ip: IpAddr, rate: Option<Rate>, now: Instant) {
        let mut inner = herald_engine::lock(&self.inner);
        let Some(entry) = inner.entries.get_mut(&ip) else {
            return;
        };
        entry.open = entry.open.saturating_sub(1);
        if entry.is_idle(rate, now) {
            inner.entries.remove(&ip);
        }
    }

    /// Entries in the map (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        herald_engine::lock(&self.inner).entries.len()
    }
}

impl Inner {
    /// Drops idle entries; the next sweep waits until the map has doubled again, so sweeping
    /// costs O(1) per admission on average.
    fn sweep(&mut self, rate: Option<Rate>, now: Instant) {
        self.entries.retain(|_, entry| !entry.is_idle(rate, now));
        self.sweep_at = (self.entries.len() * 2).max(MIN_SWEEP);
    }
}

impl Entry {
    /// No connection open and a bucket as good as new: nothing worth remembering.
    fn is_idle(&self, rate: Option<Rate>, now: Instant) -> bool {
        self.open == 0
            && match (rate, &self.bucket) {
                (Some(rate), Some(bucket)) => bucket.is_full(rate, now),
                _ => true,
            }
    }
}

/// A connection the node admitted. Hold it for as long as the connection lives: dropping it
/// gives the connection's place back to its IP under `client.ip_connection_limit`.
#[derive(Debug)]
#[must_use = "dropping the permit ends the connection's place under the per-IP limit"]
pub struct ConnectionPermit {
    /// The node and the IP counted, when one was.
    counted: Option<(Hub, IpAddr)>,
}

impl ConnectionPermit {
    pub(crate) fn uncounted() -> Self {
        Self { counted: None }
    }

    pub(crate) fn counted(hub: Hub, ip: IpAddr) -> Self {
        Self {
            counted: Some((hub, ip)),
        }
    }

    /// Whether dropping it frees anything: `false` when no per-IP count limit is set, and the
    /// transport need not keep it at all.
    pub fn is_counted(&self) -> bool {
        self.counted.is_some()
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        if let Some((hub, ip)) = self.counted.take() {
            hub.shared
                .ip_table
                .release(ip, hub.ip_rate(), Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[tokio::test(start_paused = true)]
    async fn the_count_holds_per_ip_and_frees_on_release() {
        let table = IpTable::default();
        let now = Instant::now();
        assert_eq!(table.admit(ip(1), 2, None, now), Ok(true));
        assert_eq!(table.admit(ip(1), 2, None, now), Ok(true));
        assert_eq!(
            table.admit(ip(1), 2, None, now),
            Err(ConnectionRefused::IpFull)
        );
        assert_eq!(table.admit(ip(2), 2, None, now), Ok(true), "another IP");
        table.release(ip(1), None, now);
        assert_eq!(table.admit(ip(1), 2, None, now), Ok(true));
        for _ in 0..2 {
            table.release(ip(1), None, now);
        }
        table.release(ip(2), None, now);
        assert_eq!(table.len(), 0, "no entry outlives its connections");
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_refuses_a_burst_and_forgets_a_refilled_ip() {
        let table = IpTable::default();
        let rate = Rate::per_second(3);
        let now = Instant::now();
        let admitted = (0..10)
            .filter(|_| table.admit(ip(1), 0, rate, now).is_ok())
            .count();
        assert_eq!(admitted, 3);
        assert_eq!(
            table.admit(ip(1), 0, rate, now),
            Err(ConnectionRefused::IpRateLimited)
        );
        assert_eq!(table.admit(ip(2), 0, rate, now), Ok(false), "another IP");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(table.admit(ip(1), 0, rate, Instant::now()), Ok(false));
        assert_eq!(table.len(), 2, "entries stay while their buckets refill");
        tokio::time::advance(Duration::from_secs(1)).await;
        let now = Instant::now();
        table.sweep_now(rate, now);
        assert_eq!(table.len(), 0, "full buckets are swept out");
    }

    #[test]
    fn a_permit_is_small() {
        // Every connection task holds one, counted or not.
        assert!(std::mem::size_of::<ConnectionPermit>() <= 32);
    }

    #[tokio::test(start_paused = true)]
    async fn the_map_is_swept_when_it_doubles() {
        let table = IpTable::default();
        let rate = Rate::per_second(1);
        for n in 0..MIN_SWEEP as u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(n));
            assert_eq!(table.admit(ip, 0, rate, Instant::now()), Ok(false));
        }
        assert_eq!(table.len(), MIN_SWEEP);
        tokio::time::advance(Duration::from_secs(1)).await;
        let fresh = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(table.admit(fresh, 0, rate, Instant::now()), Ok(false));
        assert_eq!(table.len(), 1, "refilled entries went at the sweep");
    }

    impl IpTable {
        fn sweep_now(&self, rate: Option<Rate>, now: Instant) {
            herald_engine::lock(&self.inner).sweep(rate, now);
        }
    }
}
