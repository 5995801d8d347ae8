//! The data of a benchmark publication: `{"r":<round>,"s":<seq>,"t":<due µs>,"p":"<pad>"}`,
//! padded to the requested size. Receivers take the latency from `t`, the scheduled send time
//! in microseconds since the Unix epoch. The wall clock (not a monotonic one) is used because
//! worker processes compare it too; they run on the same machine, so they share it.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

/// What a receiver needs from a publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Stamp {
    /// Round (step) the message belongs to.
    #[serde(rename = "r")]
    pub round: u32,
    /// Number within the round, from 0.
    #[serde(rename = "s")]
    pub seq: u64,
    /// When it was due to be sent, µs since the Unix epoch.
    #[serde(rename = "t")]
    pub due_us: i64,
}

impl Stamp {
    /// The JSON data for this stamp, padded with `x` to at least `size` bytes.
    pub fn encode(&self, size: usize) -> String {
        let head = format!(
            r#"{{"r":{},"s":{},"t":{},"p":""#,
            self.round, self.seq, self.due_us
        );
        let pad = size.saturating_sub(head.len() + 2);
        let mut data = String::with_capacity(head.len() + pad + 2);
        data.push_str(&head);
        data.extend(std::iter::repeat_n('x', pad));
        data.push_str("\"}");
        data
    }

    /// Reads a stamp from publication data; `None` if it is not one of ours.
    pub fn parse(data: &[u8]) -> Option<Stamp> {
        serde_json::from_slice(data).ok()
    }
}

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_size() {
        let stamp = Stamp {
            round: 3,
            seq: 42,
            due_us: 1_700_000_000_000_000,
        };
        let data = stamp.encode(128);
        assert_eq!(data.len(), 128);
        assert_eq!(Stamp::parse(data.as_bytes()), Some(stamp));

        let small = stamp.encode(1);
        assert!(small.len() > 1, "never truncated");
        assert_eq!(Stamp::parse(small.as_bytes()), Some(stamp));
    }

    #[test]
    fn foreign_data_is_ignored() {
        assert_eq!(Stamp::parse(br#"{"hello":"world"}"#), None);
        assert_eq!(Stamp::parse(b"not json"), None);
    }
}
