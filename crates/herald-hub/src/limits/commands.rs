//! Commands per connection, by kind (`client.rate_limit.client_command`, the shape of
//! Centrifugo PRO's): a `total` set of buckets every command takes from, a set per command kind
//! that has its own, and a `default` set shared by the kinds that have none. A command past
//! its rate gets error 111 (temporary: the SDK may retry later); a connection refused
//! `disconnect_after` times in a row is closed with 3013 "too many requests".
//!
//! Memory: a connection pays one pointer until its first limited command, then one boxed
//! array of buckets (24 bytes each) and a counter; with the limits off, nothing at all.

use tokio::time::Instant;

use super::bucket::{Bucket, Rate};

/// The commands that can be limited (connect is one per connection; pongs and `send` carry no
/// id to answer 111 to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    /// `subscribe`.
    Subscribe,
    /// `unsubscribe` (Herald: Centrifugo PRO does not list it; it takes from `default`
    /// unless configured).
    Unsubscribe,
    /// `publish`.
    Publish,
    /// `history`.
    History,
    /// `presence`.
    Presence,
    /// `presence_stats`.
    PresenceStats,
    /// `refresh`.
    Refresh,
    /// `sub_refresh`.
    SubRefresh,
    /// `rpc`.
    Rpc,
}

impl CommandKind {
    /// Every kind, in index order.
    pub const ALL: [Self; 9] = [
        Self::Subscribe,
        Self::Unsubscribe,
        Self::Publish,
        Self::History,
        Self::Presence,
        Self::PresenceStats,
        Self::Refresh,
        Self::SubRefresh,
        Self::Rpc,
    ];

    /// The configuration key of its buckets under `client.rate_limit.client_command`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Subscribe => "subscribe",
            Self::Unsubscribe => "unsubscribe",
            Self::Publish => "publish",
            Self::History => "history",
            Self::Presence => "presence",
            Self::PresenceStats => "presence_stats",
            Self::Refresh => "refresh",
            Self::SubRefresh => "sub_refresh",
            Self::Rpc => "rpc",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The validated `client.rate_limit.client_command`: which buckets each command takes from.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRateLimits {
    /// Rates of every bucket; a command takes a token from each bucket of `total` and of its
    /// kind's group, or from none of them.
    rates: Vec<Rate>,
    /// Where `total`'s buckets are in `rates`.
    total: std::ops::Range<usize>,
    /// Where each kind's buckets are in `rates` (`default`'s range for kinds without their own).
    kinds: [std::ops::Range<usize>; CommandKind::ALL.len()],
    /// Close the connection with 3013 after this many refusals in a row; 0: never.
    disconnect_after: u32,
}

impl CommandRateLimits {
    /// Limits from the `total` and `default` bucket sets, the kinds' own sets (a kind not
    /// listed takes from `default`), and the refusals in a row that close the connection
    /// (0: never). `None` when no bucket is configured at all.
    pub fn new(
        total: Vec<Rate>,
        default: Vec<Rate>,
        own: Vec<(CommandKind, Vec<Rate>)>,
        disconnect_after: u32,
    ) -> Option<Self> {
        let mut rates = total;
        let total = 0..rates.len();
        let default_start = rates.len();
        rates.extend(default);
        let default = default_start..rates.len();
        let mut kinds: [std::ops::Range<usize>; CommandKind::ALL.len()] =
            std::array::from_fn(|_| default.clone());
        for (kind, kind_rates) in own {
            let start = rates.len();
            rates.extend(kind_rates);
            kinds[kind.index()] = start..rates.len();
        }
        if rates.is_empty() {
            return None;
        }
        Some(Self {
            rates,
            total,
            kinds,
            disconnect_after,
        })
    }
}

/// What to do with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Handle it.
    Allow,
    /// Answer error 111.
    Refuse,
    /// Close the connection with 3013.
    Disconnect,
}

/// One connection's buckets, created at its first limited command.
#[derive(Debug)]
pub(crate) struct CommandBuckets {
    buckets: Box<[Bucket]>,
    refused_in_a_row: u32,
}

impl CommandBuckets {
    /// Full buckets for `limits`.
    pub(crate) fn new(limits: &CommandRateLimits, now: Instant) -> Self {
        Self {
            buckets: limits
                .rates
                .iter()
                .map(|rate| Bucket::full(*rate, now))
                .collect(),
            refused_in_a_row: 0,
        }
    }

    /// Takes a token for a `kind` command from each of its buckets, or from none.
    pub(crate) fn check(
        &mut self,
        limits: &CommandRateLimits,
        kind: CommandKind,
        now: Instant,
    ) -> Verdict {
        let own = limits.kinds[kind.index()].clone();
        let indices = || limits.total.clone().chain(own.clone());
        let ready = indices().all(|i| self.buckets[i].ready(limits.rates[i], now));
        if ready {
            indices().for_each(|i| self.buckets[i].consume());
            self.refused_in_a_row = 0;
            return Verdict::Allow;
        }
        self.refused_in_a_row = self.refused_in_a_row.saturating_add(1);
        match limits.disconnect_after {
            0 => Verdict::Refuse,
            n if self.refused_in_a_row >= n => Verdict::Disconnect,
            _ => Verdict::Refuse,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn per_second(rate: u32) -> Rate {
        Rate::per_second(rate).expect("a rate")
    }

    fn run(
        buckets: &mut CommandBuckets,
        limits: &CommandRateLimits,
        kind: CommandKind,
        n: usize,
    ) -> Vec<Verdict> {
        (0..n)
            .map(|_| buckets.check(limits, kind, Instant::now()))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_kind_past_its_rate_is_refused_then_disconnected() {
        let limits = CommandRateLimits::new(
            Vec::new(),
            Vec::new(),
            vec![(CommandKind::Publish, vec![per_second(2)])],
            3,
        )
        .expect("limits");
        let mut buckets = CommandBuckets::new(&limits, Instant::now());
        use Verdict::*;
        assert_eq!(
            run(&mut buckets, &limits, CommandKind::Publish, 4),
            [Allow, Allow, Refuse, Refuse]
        );
        assert_eq!(
            run(&mut buckets, &limits, CommandKind::History, 5),
            [Allow; 5],
            "kinds without buckets and no default are not limited"
        );
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(
            run(&mut buckets, &limits, CommandKind::Publish, 4),
            [Allow, Refuse, Refuse, Disconnect],
            "half a second refills one; an allowed command resets the count in a row"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn total_and_default_are_shared_and_taken_together() {
        let limits = CommandRateLimits::new(
            vec![per_second(5)],
            vec![per_second(3)],
            vec![(CommandKind::Rpc, vec![per_second(10)])],
            0,
        )
        .expect("limits");
        let mut buckets = CommandBuckets::new(&limits, Instant::now());
        use Verdict::*;
        assert_eq!(
            run(&mut buckets, &limits, CommandKind::History, 2),
            [Allow, Allow]
        );
        assert_eq!(
            run(&mut buckets, &limits, CommandKind::Presence, 2),
            [Allow, Refuse],
            "kinds without their own buckets share default's 3"
        );
        assert_eq!(
            run(&mut buckets, &limits, CommandKind::Rpc, 4),
            [Allow, Allow, Refuse, Refuse],
            "total's 5 caps every kind; a refused command took no token"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            run(&mut buckets, &limits, CommandKind::Rpc, 6),
            [Allow, Allow, Allow, Allow, Allow, Refuse],
            "disconnect_after 0 never disconnects"
        );
    }

    #[test]
    fn an_idle_connection_pays_one_pointer() {
        assert_eq!(
            std::mem::size_of::<Option<Box<CommandBuckets>>>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn no_bucket_is_no_limit() {
        assert_eq!(
            CommandRateLimits::new(Vec::new(), Vec::new(), Vec::new(), 5),
            None
        );
    }
}
