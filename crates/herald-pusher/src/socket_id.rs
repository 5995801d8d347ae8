//! The socket id: Pusher's connection id, two decimal numbers joined by a dot. The server
//! libraries refuse to sign for anything else (`^\d+\.\d+$`).

use std::fmt;
use std::str::FromStr;

use crate::ProtocolError;

/// A connection's id, `"<major>.<minor>"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SocketId {
    major: u64,
    minor: u64,
}

impl SocketId {
    /// The id `"{major}.{minor}"`. The server picks `major` per node and `minor` per connection,
    /// so ids are unique across a cluster.
    pub fn new(major: u64, minor: u64) -> Self {
        Self { major, minor }
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for SocketId {
    type Err = ProtocolError;

    /// Parses an id an API caller names (`socket_id` to exclude from a trigger).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || ProtocolError::Malformed(format!("invalid socket_id {text:?}"));
        let (major, minor) = text.split_once('.').ok_or_else(invalid)?;
        let number = |part: &str| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            part.parse::<u64>().map_err(|_| invalid())
        };
        Ok(Self::new(number(major)?, number(minor)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let id = SocketId::new(123, 4567);
        assert_eq!(id.to_string(), "123.4567");
        assert_eq!("123.4567".parse::<SocketId>(), Ok(id));
    }

    #[test]
    fn refuses_what_the_server_libraries_refuse() {
        for bad in ["", "1", "1.", ".1", "1.2.3", "a.1", "-1.2", "1.+2", " 1.2"] {
            assert!(bad.parse::<SocketId>().is_err(), "{bad:?}");
        }
    }
}
