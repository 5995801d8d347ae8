//! Go-style duration strings (`"25s"`, `"300ms"`, `"1h30m"`, `"1.5s"`, `"720h"`), as Centrifugo's
//! configuration writes them.
//!
//! Centrifugo decodes a bare number as *nanoseconds* (Go's `time.Duration`), which surprises
//! everyone who writes `ping_interval: 25`. Herald accepts a bare number only where its meaning
//! cannot be misread: `0` (zero) and negative numbers (Centrifugo's "-1 disables" convention for
//! `client.ping_interval` / `client.pong_timeout`); any other bare number is an error asking for a
//! unit.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// A signed duration read from configuration. Negative values exist only to express "disabled".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration {
    nanos: i64,
}

impl GoDuration {
    /// Zero.
    pub const ZERO: GoDuration = GoDuration { nanos: 0 };

    /// A whole number of seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Self {
            nanos: secs.saturating_mul(1_000_000_000),
        }
    }

    /// A whole number of milliseconds.
    pub const fn from_millis(millis: i64) -> Self {
        Self {
            nanos: millis.saturating_mul(1_000_000),
        }
    }

    /// A standard duration, saturating at the largest value.
    pub fn from_std(d: Duration) -> Self {
        Self {
            nanos: i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        }
    }

    /// Nanoseconds, possibly negative.
    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// True for zero.
    pub const fn is_zero(self) -> bool {
        self.nanos == 0
    }

    /// True for values below zero (Centrifugo's "disabled").
    pub const fn is_negative(self) -> bool {
        self.nanos < 0
    }

    /// The duration, or `None` when negative.
    pub fn to_std(self) -> Option<Duration> {
        u64::try_from(self.nanos).ok().map(Duration::from_nanos)
    }

    /// Parses Go's `time.ParseDuration` syntax plus the bare-number rule in the module docs.
    pub fn parse(input: &str) -> Result<Self, String> {
        parse(input.trim()).map(|nanos| Self { nanos })
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0s");
        }
        if self.nanos < 0 {
            f.write_str("-")?;
        }
        let total = u128::from(self.nanos.unsigned_abs());
        if total < NANOS_PER_SEC {
            return if total % 1_000_000 == 0 {
                write!(f, "{}ms", total / 1_000_000)
            } else if total % 1_000 == 0 {
                write!(f, "{}us", total / 1_000)
            } else {
                write!(f, "{total}ns")
            };
        }
        let hours = total / (3600 * NANOS_PER_SEC);
        let minutes = total / (60 * NANOS_PER_SEC) % 60;
        let sub_minute = total % (60 * NANOS_PER_SEC);
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        if sub_minute > 0 {
            let secs = sub_minute / NANOS_PER_SEC;
            let frac = sub_minute % NANOS_PER_SEC;
            if frac == 0 {
                write!(f, "{secs}s")?;
            } else {
                let digits = format!("{frac:09}");
                write!(f, "{secs}.{}s", digits.trim_end_matches('0'))?;
            }
        }
        Ok(())
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = GoDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration string such as \"25s\", \"300ms\" or \"1h30m\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<GoDuration, E> {
        GoDuration::parse(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<GoDuration, E> {
        bare_number(i128::from(v)).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<GoDuration, E> {
        bare_number(i128::from(v)).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<GoDuration, E> {
        if v == 0.0 {
            Ok(GoDuration::ZERO)
        } else if v < 0.0 {
            Ok(GoDuration { nanos: -1 })
        } else {
            Err(E::custom(format!(
                "bare number {v} is not a duration: add a unit, e.g. \"{v}s\""
            )))
        }
    }
}

/// A number without unit: zero and negatives are unambiguous, positives are not.
fn bare_number(v: i128) -> Result<GoDuration, String> {
    if v > 0 {
        return Err(format!(
            "bare number {v} is not a duration (Centrifugo would read it as nanoseconds): \
             add a unit, e.g. \"{v}s\""
        ));
    }
    let nanos = i64::try_from(v).map_err(|_| format!("duration {v} out of range"))?;
    Ok(GoDuration { nanos })
}

fn parse(s: &str) -> Result<i64, String> {
    let original = s;
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest.is_empty() {
        return Err(format!("invalid duration \"{original}\""));
    }
    if rest.bytes().all(|b| b.is_ascii_digit()) {
        let value: i128 = rest
            .parse()
            .map_err(|_| format!("duration \"{original}\" out of range"))?;
        return bare_number(if negative { -value } else { value }).map(|d| d.nanos);
    }

    let mut total: u128 = 0;
    let mut s = rest;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let mut frac_part = "";
        if let Some(after_dot) = s.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &after_dot[..frac_len];
            s = &after_dot[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(format!("invalid duration \"{original}\""));
        }
        let unit_len = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(s.len(), |(i, _)| i);
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            "" => return Err(format!("missing unit in duration \"{original}\"")),
            other => {
                return Err(format!(
                    "unknown unit \"{other}\" in duration \"{original}\""
                ));
            }
        };
        let int_value: u128 = if int_part.is_empty() {
            0
        } else {
            int_part
                .parse()
                .map_err(|_| format!("duration \"{original}\" out of range"))?
        };
        // Digits past the 18th cannot change a nanosecond count of any unit we accept.
        let frac_digits = &frac_part[..frac_part.len().min(18)];
        let frac_value: u128 = if frac_digits.is_empty() {
            0
        } else {
            let digits: u128 = frac_digits
                .parse()
                .map_err(|_| format!("invalid duration \"{original}\""))?;
            digits * scale / 10u128.pow(frac_digits.len() as u32)
        };
        total = int_value
            .checked_mul(scale)
            .and_then(|v| v.checked_add(frac_value))
            .and_then(|v| v.checked_add(total))
            .ok_or_else(|| format!("duration \"{original}\" out of range"))?;
    }
    let limit = if negative {
        u128::from(i64::MIN.unsigned_abs())
    } else {
        i64::MAX as u128
    };
    if total > limit {
        return Err(format!("duration \"{original}\" out of range"));
    }
    let magnitude = total as i128;
    let signed = if negative { -magnitude } else { magnitude };
    i64::try_from(signed).map_err(|_| format!("duration \"{original}\" out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nanos(s: &str) -> i64 {
        GoDuration::parse(s).expect("valid duration").as_nanos()
    }

    #[test]
    fn parses_go_syntax() {
        assert_eq!(nanos("25s"), 25_000_000_000);
        assert_eq!(nanos("300ms"), 300_000_000);
        assert_eq!(nanos("1h30m"), 5_400_000_000_000);
        assert_eq!(nanos("720h"), 720 * 3_600_000_000_000);
        assert_eq!(nanos("1.5s"), 1_500_000_000);
        assert_eq!(nanos(".5s"), 500_000_000);
        assert_eq!(nanos("2us"), 2_000);
        assert_eq!(nanos("2µs"), 2_000);
        assert_eq!(nanos("7ns"), 7);
        assert_eq!(nanos("1h0m1.5s"), 3_601_500_000_000);
        assert_eq!(nanos("0"), 0);
        assert_eq!(nanos("0s"), 0);
        assert_eq!(nanos("-0"), 0);
        assert_eq!(nanos("-1"), -1);
        assert_eq!(nanos("-1s"), -1_000_000_000);
        assert_eq!(nanos("+2s"), 2_000_000_000);
    }

    #[test]
    fn rejects_ambiguous_and_malformed() {
        for bad in [
            "25",
            "",
            "s",
            "1x",
            "1.s.",
            "-",
            "1h-2m",
            "9999999999h",
            ".",
        ] {
            assert!(GoDuration::parse(bad).is_err(), "{bad} should fail");
        }
        let err = GoDuration::parse("30").expect_err("bare positive number");
        assert!(err.contains("\"30s\""), "{err}");
    }

    #[test]
    fn deserializes_strings_and_unambiguous_numbers() {
        let d: GoDuration = serde_json::from_str("\"8s\"").expect("string");
        assert_eq!(d, GoDuration::from_secs(8));
        let d: GoDuration = serde_json::from_str("0").expect("zero");
        assert!(d.is_zero());
        let d: GoDuration = serde_json::from_str("-1").expect("negative");
        assert!(d.is_negative());
        assert!(d.to_std().is_none());
        assert!(serde_json::from_str::<GoDuration>("25").is_err());
        assert!(serde_json::from_str::<GoDuration>("true").is_err());
    }

    #[test]
    fn displays_compactly_and_round_trips() {
        let cases = [
            ("25s", "25s"),
            ("720h", "720h"),
            ("1h30m", "1h30m"),
            ("300ms", "300ms"),
            ("1.5s", "1.5s"),
            ("90s", "1m30s"),
            ("-1s", "-1s"),
            ("0", "0s"),
            ("1500us", "1500us"),
        ];
        for (input, shown) in cases {
            let d = GoDuration::parse(input).expect("valid");
            assert_eq!(d.to_string(), shown);
            assert_eq!(GoDuration::parse(&d.to_string()).expect("round trip"), d);
        }
    }
}
