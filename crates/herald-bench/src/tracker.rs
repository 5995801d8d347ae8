//! Per-connection bookkeeping of which messages of a round arrived: lost, duplicated and
//! out-of-order counts in a few dozen bytes per connection.
//!
//! Messages are numbered 0, 1, 2 ... in publish order. Arrivals are expected in order, so the
//! tracker keeps the next expected number and the gaps it has seen as ranges; a number inside a
//! gap is a late (out-of-order) arrival, a number below the next expected and outside every gap
//! is a duplicate. Memory grows with the number of gaps, not of messages.

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// Which messages of a round the publisher got accepted: `0..total` minus `failed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// Messages the round tried to publish.
    pub total: u64,
    /// Numbers whose publish request failed, sorted, without repeats.
    pub failed: Vec<u64>,
}

impl Published {
    /// All of `0..total` accepted.
    pub fn all(total: u64) -> Self {
        Published {
            total,
            failed: Vec::new(),
        }
    }

    /// How many were accepted.
    pub fn accepted(&self) -> u64 {
        self.total - self.failed.len() as u64
    }

    /// How many accepted numbers lie in `range`.
    pub fn accepted_in(&self, range: Range<u64>) -> u64 {
        let start = range.start.min(self.total);
        let end = range.end.min(self.total);
        if start >= end {
            return 0;
        }
        let failed_before = |n: u64| self.failed.partition_point(|&f| f < n) as u64;
        (end - start) - (failed_before(end) - failed_before(start))
    }
}

/// What one arrival was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The next expected one, or later (earlier ones are now missing).
    InOrder,
    /// One that was missing: it came after a later one.
    Late,
    /// One that already arrived.
    Duplicate,
}

/// The arrivals of one round on one connection.
#[derive(Debug, Clone, Default)]
pub struct SeqTracker {
    next: u64,
    missing: Vec<Range<u64>>,
    unique: u64,
    duplicates: u64,
    out_of_order: u64,
}

impl SeqTracker {
    /// Notes the arrival of message `seq`.
    pub fn record(&mut self, seq: u64) -> Seen {
        if seq >= self.next {
            if seq > self.next {
                self.missing.push(self.next..seq);
            }
            self.next = seq + 1;
            self.unique += 1;
            return Seen::InOrder;
        }
        // Gaps are disjoint and pushed in increasing order, so they stay sorted by start.
        let index = self.missing.partition_point(|gap| gap.end <= seq);
        match self.missing.get(index) {
            Some(gap) if gap.start <= seq => {
                let gap = gap.clone();
                let mut replacement = Vec::with_capacity(2);
                if gap.start < seq {
                    replacement.push(gap.start..seq);
                }
                if seq + 1 < gap.end {
                    replacement.push(seq + 1..gap.end);
                }
                self.missing.splice(index..=index, replacement);
                self.unique += 1;
                self.out_of_order += 1;
                Seen::Late
            }
            _ => {
                self.duplicates += 1;
                Seen::Duplicate
            }
        }
    }

    /// Distinct messages received.
    pub fn unique(&self) -> u64 {
        self.unique
    }

    /// Arrivals of a message that had already arrived.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Arrivals after a later message.
    pub fn out_of_order(&self) -> u64 {
        self.out_of_order
    }

    /// Accepted messages that never arrived: the gaps, and everything after the last arrival.
    pub fn lost(&self, published: &Published) -> u64 {
        let gaps: u64 = self
            .missing
            .iter()
            .map(|gap| published.accepted_in(gap.clone()))
            .sum();
        gaps + published.accepted_in(self.next..published.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_arrivals_lose_nothing() {
        let mut tracker = SeqTracker::default();
        for seq in 0..100 {
            assert_eq!(tracker.record(seq), Seen::InOrder);
        }
        assert_eq!(tracker.unique(), 100);
        assert_eq!(tracker.lost(&Published::all(100)), 0);
        assert_eq!(
            tracker.lost(&Published::all(103)),
            3,
            "the tail counts as lost"
        );
    }

    #[test]
    fn gaps_late_arrivals_and_duplicates() {
        let mut tracker = SeqTracker::default();
        for seq in [0, 1, 5, 6, 3, 9, 3, 6, 2] {
            tracker.record(seq);
        }
        // Missing after this: 4, 7, 8 (and 10.. of the round).
        assert_eq!(tracker.unique(), 7);
        assert_eq!(tracker.out_of_order(), 2);
        assert_eq!(tracker.duplicates(), 2);
        assert_eq!(tracker.lost(&Published::all(10)), 3);
        assert_eq!(tracker.lost(&Published::all(12)), 5);
    }

    #[test]
    fn failed_publishes_are_not_lost() {
        let mut tracker = SeqTracker::default();
        for seq in [0, 2, 3, 5] {
            tracker.record(seq);
        }
        let published = Published {
            total: 7,
            failed: vec![1, 6],
        };
        assert_eq!(published.accepted(), 5);
        assert_eq!(published.accepted_in(0..7), 5);
        assert_eq!(published.accepted_in(1..2), 0);
        assert_eq!(published.accepted_in(5..100), 1);
        // 4 is missing and was accepted; 1 and 6 failed at the publisher.
        assert_eq!(tracker.lost(&published), 1);
    }

    #[test]
    fn out_of_range_numbers_do_not_inflate_losses() {
        let mut tracker = SeqTracker::default();
        tracker.record(0);
        tracker.record(1_000_000);
        assert_eq!(tracker.lost(&Published::all(2)), 1);
    }
}
