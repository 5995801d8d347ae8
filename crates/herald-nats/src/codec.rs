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
//! A publication's offset is never sent: it is always delivered as 0.

use std::collections::HashMap;

use bytes::{Buf, Bytes};
use herald_engine::{ClientInfo, Publication};

const PUBLICATION_PREFIX: &[u8] = b"p1:";
const JOIN_PREFIX: &[u8] = b"j1:";
const LEAVE_PREFIX: &[u8] = b"l1:";

/// Longest varint: 64 bits in 7-bit groups.
const MAX_VARINT_LEN: usize = 10;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DecodeError {
    /// The message does not start with a known kind and version.
    #[error("unknown message kind")]
    UnknownKind,
    /// The input ended inside a field.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A field holds a value it cannot hold.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Bytes are left after the last field.
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

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
    put_varint(&mut out, zigzag(publication.time));
    put_bytes(&mut out, &publication.data);
    put_varint(&mut out, publication.tags.len() as u64);
    for (key, value) in &publication.tags {
        put_bytes(&mut out, key.as_bytes());
        put_bytes(&mut out, value.as_bytes());
    }
    match &publication.info {
        Some(info) => {
            out.push(1);
            put_client_info(&mut out, info);
        }
        None => out.push(0),
    }
    out.into()
}

/// The message announcing that `info` joined.
pub(crate) fn encode_join(info: &ClientInfo) -> Bytes {
    encode_presence_event(JOIN_PREFIX, info)
}

/// The message announcing that `info` left.
pub(crate) fn encode_leave(info: &ClientInfo) -> Bytes {
    encode_presence_event(LEAVE_PREFIX, info)
}

/// Decodes a message. `payload` is shared, so publication data is not copied.
pub(crate) fn decode(payload: Bytes) -> Result<Message, DecodeError> {
    if let Some(rest) = strip(&payload, PUBLICATION_PREFIX) {
        return decode_publication(rest).map(Message::Publication);
    }
    if let Some(rest) = strip(&payload, JOIN_PREFIX) {
        return decode_client_info(rest).map(Message::Join);
    }
    if let Some(rest) = strip(&payload, LEAVE_PREFIX) {
        return decode_client_info(rest).map(Message::Leave);
    }
    Err(DecodeError::UnknownKind)
}

fn decode_publication(mut input: Bytes) -> Result<Publication, DecodeError> {
    let time = unzigzag(get_varint(&mut input, "time")?);
    let data = get_bytes(&mut input, "data")?;
    let tag_count = get_varint(&mut input, "tag count")?;
    // Each tag takes at least two bytes, which bounds the allocation by the input size.
    if tag_count > (input.remaining() / 2) as u64 {
        return Err(DecodeError::Invalid("tag count"));
    }
    let mut tags = HashMap::with_capacity(tag_count as usize);
    for _ in 0..tag_count {
        let key = get_string(&mut input, "tag key")?;
        let value = get_string(&mut input, "tag value")?;
        tags.insert(key, value);
    }
    let info = match get_u8(&mut input, "info flag")? {
        0 => None,
        1 => Some(get_client_info(&mut input)?),
        _ => return Err(DecodeError::Invalid("info flag")),
    };
    no_trailing(&input)?;
    Ok(Publication {
        offset: 0,
        data,
        info,
        tags,
        time,
    })
}

fn decode_client_info(mut input: Bytes) -> Result<ClientInfo, DecodeError> {
    let info = get_client_info(&mut input)?;
    no_trailing(&input)?;
    Ok(info)
}

fn encode_presence_event(prefix: &[u8], info: &ClientInfo) -> Bytes {
    let mut out = Vec::with_capacity(prefix.len() + 16 + info.conn_info.len());
    out.extend_from_slice(prefix);
    put_client_info(&mut out, info);
    out.into()
}

fn strip(payload: &Bytes, prefix: &[u8]) -> Option<Bytes> {
    payload
        .starts_with(prefix)
        .then(|| payload.slice(prefix.len()..))
}

fn no_trailing(input: &Bytes) -> Result<(), DecodeError> {
    match input.remaining() {
        0 => Ok(()),
        n => Err(DecodeError::Trailing(n)),
    }
}

fn put_client_info(out: &mut Vec<u8>, info: &ClientInfo) {
    put_bytes(out, info.user.as_bytes());
    put_bytes(out, info.client.as_bytes());
    put_bytes(out, &info.conn_info);
    put_bytes(out, &info.chan_info);
}

fn get_client_info(input: &mut Bytes) -> Result<ClientInfo, DecodeError> {
    Ok(ClientInfo {
        user: get_string(input, "user")?,
        client: get_string(input, "client")?,
        conn_info: get_bytes(input, "conn info")?,
        chan_info: get_bytes(input, "chan info")?,
    })
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_u8(input: &mut Bytes, what: &'static str) -> Result<u8, DecodeError> {
    if input.has_remaining() {
        Ok(input.get_u8())
    } else {
        Err(DecodeError::Truncated(what))
    }
}

fn get_varint(input: &mut Bytes, what: &'static str) -> Result<u64, DecodeError> {
    let mut value = 0u64;
    for i in 0..MAX_VARINT_LEN {
        let byte = get_u8(input, what)?;
        // The tenth byte may only carry the single top bit.
        if i == MAX_VARINT_LEN - 1 && byte > 1 {
            return Err(DecodeError::Invalid(what));
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::Invalid(what))
}

fn get_bytes(input: &mut Bytes, what: &'static str) -> Result<Bytes, DecodeError> {
    let len = get_varint(input, what)?;
    match usize::try_from(len) {
        Ok(len) if len <= input.remaining() => Ok(input.split_to(len)),
        _ => Err(DecodeError::Truncated(what)),
    }
}

fn get_string(input: &mut Bytes, what: &'static str) -> Result<String, DecodeError> {
    let bytes = get_bytes(input, what)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Invalid(what))
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
    use rand::{Rng, RngCore};

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
            decode(Bytes::from_static(b"p1:\x00\x00\x00\x02")),
            Err(DecodeError::Invalid("info flag"))
        );
        // A user that is not UTF-8.
        assert_eq!(
            decode(Bytes::from_static(b"j1:\x01\xff\x00\x00\x00")),
            Err(DecodeError::Invalid("user"))
        );
    }

    #[test]
    fn rejects_overlong_varints() {
        let mut input = Bytes::from_static(&[0xff; 11]);
        assert_eq!(get_varint(&mut input, "v"), Err(DecodeError::Invalid("v")));
        let mut max = Vec::new();
        put_varint(&mut max, u64::MAX);
        assert_eq!(get_varint(&mut Bytes::from(max), "v"), Ok(u64::MAX));
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
