//! Limits past the node's own connection limits (`admission.rs`): connections per client IP
//! (`ip.rs`), commands per connection (`commands.rs`), and the counters every limit bumps when
//! it refuses something (`counters.rs`), and server API requests per key (`requests.rs`), which the metrics exporter reads. All are token buckets
//! (`bucket.rs`) on tokio's clock, so tests can pause it.

mod bucket;
mod commands;
mod counters;
mod ip;
mod requests;

pub use bucket::Rate;
pub(crate) use commands::{CommandBuckets, Verdict};
pub use commands::{CommandKind, CommandRateLimits};
pub use counters::{LimitCounters, LimitCountersSnapshot};
pub use ip::ConnectionPermit;
pub(crate) use ip::IpTable;
pub use requests::RequestRateLimit;
