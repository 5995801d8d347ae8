//! Open-loop send schedule: message `i` is due at `i / rate` seconds after the start, whether
//! or not earlier messages have gone out. Latency is measured from the due time, so a stalled
//! publisher or server shows up as latency instead of silently lowering the rate
//! (coordinated omission).

use std::time::Duration;

/// When each message of a round is due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    rate: f64,
    total: u64,
}

impl Schedule {
    /// `rate` messages per second for `duration`; at least one message.
    pub fn new(rate: f64, duration: Duration) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            1.0
        };
        let total = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
        Schedule { rate, total }
    }

    /// Messages per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// How many messages the round sends.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// When message `seq` is due, counted from the start of the round.
    pub fn due(&self, seq: u64) -> Duration {
        Duration::from_secs_f64(seq as f64 / self.rate)
    }

    /// How many messages are due by `elapsed` (all with `due(seq) <= elapsed`), capped at
    /// [`Schedule::total`].
    pub fn due_by(&self, elapsed: Duration) -> u64 {
        let due = (elapsed.as_secs_f64() * self.rate).floor() as u64 + 1;
        // Guard against the floor landing one short of a due time that `due()` rounds below
        // `elapsed` (float error at exact boundaries).
        let due = if due < self.total && self.due(due) <= elapsed {
            due + 1
        } else {
            due
        };
        due.min(self.total)
    }

    /// The scheduled length of the round: when the last message is due.
    pub fn span(&self) -> Duration {
        self.due(self.total.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_messages_evenly() {
        let schedule = Schedule::new(500.0, Duration::from_secs(2));
        assert_eq!(schedule.total(), 1000);
        assert_eq!(schedule.due(0), Duration::ZERO);
        assert_eq!(schedule.due(1), Duration::from_millis(2));
        assert_eq!(schedule.due(500), Duration::from_secs(1));
        assert_eq!(schedule.span(), Duration::from_millis(1998));
    }

    #[test]
    fn due_by_counts_messages_whose_time_has_come() {
        let schedule = Schedule::new(1000.0, Duration::from_secs(1));
        assert_eq!(schedule.due_by(Duration::ZERO), 1);
        assert_eq!(schedule.due_by(Duration::from_micros(999)), 1);
        assert_eq!(schedule.due_by(Duration::from_millis(1)), 2);
        assert_eq!(schedule.due_by(Duration::from_millis(10)), 11);
        assert_eq!(schedule.due_by(Duration::from_secs(60)), 1000);
        for seq in 0..1000 {
            let due = schedule.due(seq);
            assert!(schedule.due_by(due) > seq, "message {seq} due at {due:?}");
        }
    }

    #[test]
    fn odd_inputs_still_send_something() {
        assert_eq!(Schedule::new(0.0, Duration::from_secs(1)).total(), 1);
        assert_eq!(Schedule::new(f64::NAN, Duration::ZERO).total(), 1);
        assert_eq!(Schedule::new(0.4, Duration::from_secs(10)).total(), 4);
    }
}
