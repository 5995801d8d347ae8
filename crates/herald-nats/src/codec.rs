//! What travels in a `{prefix}.client.{channel}` message: a publication, a join or a leave.
//! Herald nodes are the only readers, so the format is Herald's own, compact and binary-safe (the
//! layout of the Redis engine's messages, without offset and epoch: NATS keeps no stream).
//! Sans-I/O: bytes in, values out, and decoding never panics on any input.
//!
//! ```text
//! message      = publication | join | leave
//! publication  = "p1:" time data tag-count *(key value) has-info [client-info]
//! join         = "j1:" client-info
//! leave        = "l1:" client-info
//!
//! client-info  = user client conn-info chan-info
//! time         = varint of the zigzag-encoded i64 (Unix milliseconds)
//! data, conn-info, chan-info = bytes;  user, client, key, value = string
//! bytes        = varint length, then that many bytes;  string = bytes holding UTF-8
//! tag-count    = varint;  has-info = one byte, 0 or 1
//! varint       = unsigned LEB128, at most 10 bytes
//! ```
//!
//! A publication's offset is never sent: it is always delivered as 0. The body, client-info, join
//! and leave layouts are [`herald_engine::wire`]'s, shared with the Redis engine; only the
//! publication framing lives here.

use bytes::Bytes;
pub(crate) use herald_engine::wire::DecodeError;
use herald_engine::wire::{self, JOIN_PREFIX, LEAVE_PREFIX, decode_client_info, strip};
use herald_engine::{ClientInfo, Publication};

const PUBLICATION_PREFIX: &[u8] = b"p1:";

/// A decoded channel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    /// A publication (offset 0).
    Publication(Publication),
    /// A client joined.
    Join(ClientInfo),
    /// A client left.
    Leave(ClientInfo),
}

/// Encodes `publication`, all but its offset.
pub(crate) fn encode_publication(publication: &Publication) -> Bytes {
    let mut out = Vec::with_capacity(PUBLICATION_PREFIX.len() + 32 + publication.data.len());
    out.extend_from_slice(PUBLICATION_PREFIX);
    wire::put_body(&mut out, publication);
    out.into()
}

/// The message announcing that `info` joined.
pub(crate) fn encode_join(info: &ClientInfo) -> Bytes {
    wire::encode_presence_event(JOIN_PREFIX, info).into()
}

/// The message announcing that `info` left.
pub(crate) fn encode_leave(info: &ClientInfo) -> Bytes {
    wire::encode_presence_event(LEAVE_PREFIX, info).into()
}

/// Decodes a message. `payload` is shared, so publication data is not copied.
pub(crate) fn decode(payload: Bytes) -> Result<Message, DecodeError> {
    if let Some(rest) = strip(&payload, PUBLICATION_PREFIX) {
        return wire::decode_body(0, rest).map(Message::Publication);
    }
    if let Some(rest) = strip(&payload, JOIN_PREFIX) {
        return decode_client_info(rest).map(Message::Join);
    }
    if let Some(rest) = strip(&payload, LEAVE_PREFIX) {
        return decode_client_info(rest).map(Message::Leave);
    }
    Err(DecodeError::UnknownKind)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use rand::{Rng, RngExt};

    use super::*;

    fn info() -> ClientInfo {
        ClientInfo {
            user: "user-1".into(),
            client: "client-1".into(),
            conn_info: Bytes::from_static(b"{\"a\":1}"),
            chan_info: Bytes::from_static(b"\x00\xff"),
        }
    }

    fn publication() -> Publication {
        Publication {
            offset: 0,
            data: Bytes::from_static(b"\x00\xff{\"binary\":true}"),
            info: Some(info()),
            tags: HashMap::from([("k".into(), "v".into()), ("empty".into(), String::new())]),
            time: 1_700_000_000_123,
            delta: true,
        }
    }

    #[test]
    fn messages_round_trip() {
        for publication in [publication(), Publication::default()] {
            assert_eq!(
                decode(encode_publication(&publication)),
                Ok(Message::Publication(publication))
            );
        }
        assert_eq!(decode(encode_join(&info())), Ok(Message::Join(info())));
        assert_eq!(decode(encode_leave(&info())), Ok(Message::Leave(info())));
        assert_eq!(
            decode(encode_join(&ClientInfo::default())),
            Ok(Message::Join(ClientInfo::default()))
        );
    }

    #[test]
    fn offset_is_not_sent() {
        let sent = Publication {
            offset: 42,
            ..publication()
        };
        assert_eq!(
            decode(encode_publication(&sent)),
            Ok(Message::Publication(publication()))
        );
    }

    #[test]
    fn extreme_times_round_trip() {
        for time in [i64::MIN, -1, 0, 1, i64::MAX] {
            let sent = Publication {
                time,
                ..Publication::default()
            };
            assert_eq!(
                decode(encode_publication(&sent)),
                Ok(Message::Publication(sent))
            );
        }
    }

    #[test]
    fn rejects_malformed_messages() {
        let encoded = encode_publication(&publication());
        assert_eq!(
            decode(Bytes::from_static(b"hello")),
            Err(DecodeError::UnknownKind)
        );
        assert_eq!(decode(Bytes::new()), Err(DecodeError::UnknownKind));
        assert_eq!(
            decode(Bytes::from_static(b"p1:")),
            Err(DecodeError::Truncated("time"))
        );
        let mut trailing = encoded.to_vec();
        trailing.push(0);
        assert_eq!(decode(trailing.into()), Err(DecodeError::Trailing(1)));
        assert_eq!(
            decode(encoded.slice(..encoded.len() - 1)),
            Err(DecodeError::Truncated("chan info"))
        );
        // A huge tag count in a short message.
        assert_eq!(
            decode(Bytes::from_static(b"p1:\x00\x00\xff\xff\x03")),
            Err(DecodeError::Invalid("tag count"))
        );
        assert_eq!(
            decode(Bytes::from_static(b"p1:\x00\x00\x00\x04")),
            Err(DecodeError::Invalid("flags"))
        );
        // A user that is not UTF-8.
        assert_eq!(
            decode(Bytes::from_static(b"j1:\x01\xff\x00\x00\x00")),
            Err(DecodeError::Invalid("user"))
        );
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = rand::rng();
        let valid = encode_publication(&publication());
        for _ in 0..20_000 {
            let bytes = if rng.random_bool(0.5) {
                let mut bytes = vec![0u8; rng.random_range(0..64)];
                rng.fill_bytes(&mut bytes);
                if rng.random_bool(0.5) {
                    bytes.splice(0..0, b"p1:".iter().copied());
                }
                bytes
            } else {
                // A valid message with one byte flipped or cut short.
                let mut bytes = valid.to_vec();
                let at = rng.random_range(0..bytes.len());
                if rng.random_bool(0.5) {
                    bytes[at] ^= 1 << rng.random_range(0..8);
                } else {
                    bytes.truncate(at);
                }
                bytes
            };
            let _ = decode(bytes.into());
        }
    }
}
