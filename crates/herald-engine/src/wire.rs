//! The binary layout engine crates share for a publication body and a [`ClientInfo`], and the
//! join and leave events built on it. Herald nodes are the only readers, so the format is
//! Herald's own, compact and binary-safe. Each engine adds its own framing around it (the Redis
//! engine its `p1:{offset}:{epoch}:` publication prefix and stream entries, the NATS broker its
//! `p1:` prefix). Sans-I/O: bytes in, values out, and decoding never panics on any input.
//!
//! ```text
//! join         = "j1:" client-info
//! leave        = "l1:" client-info
//!
//! body         = time data tag-count *(key value) flags [client-info]
//! client-info  = user client conn-info chan-info
//!
//! time         = varint of the zigzag-encoded i64 (Unix milliseconds)
//! data, conn-info, chan-info = bytes;  user, client, key, value = string
//! bytes        = varint length, then that many bytes;  string = bytes holding UTF-8
//! tag-count    = varint;  flags = one byte: bit 0 has-info, bit 1 delta, others 0
//! varint       = unsigned LEB128, at most 10 bytes
//! ```
//!
//! A body never carries the publication's offset: the decoder is told it.

use std::collections::HashMap;

use bytes::{Buf, Bytes};

use crate::{ClientInfo, Publication};

/// Prefix of a join event, before the client info.
pub const JOIN_PREFIX: &[u8] = b"j1:";
/// Prefix of a leave event, before the client info.
pub const LEAVE_PREFIX: &[u8] = b"l1:";

/// Longest varint: 64 bits in 7-bit groups.
pub const MAX_VARINT_LEN: usize = 10;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
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

/// Bit of a body's flags byte: a client info follows.
const FLAG_INFO: u8 = 1;
/// Bit of a body's flags byte: the publication goes out as a delta ([`Publication::delta`]).
/// Added after the first release of the format: older bodies never set it and still decode,
/// but a node from before it rejects a body that sets it (upgrade every node before publishing
/// with `delta`).
const FLAG_DELTA: u8 = 2;

/// Appends the body of `publication` (everything but its offset) to `out`.
pub fn put_body(out: &mut Vec<u8>, publication: &Publication) {
    put_varint(out, zigzag(publication.time));
    put_bytes(out, &publication.data);
    put_varint(out, publication.tags.len() as u64);
    for (key, value) in &publication.tags {
        put_bytes(out, key.as_bytes());
        put_bytes(out, value.as_bytes());
    }
    let delta = if publication.delta { FLAG_DELTA } else { 0 };
    match &publication.info {
        Some(info) => {
            out.push(FLAG_INFO | delta);
            put_client_info(out, info);
        }
        None => out.push(delta),
    }
}

/// Decodes a body written by [`put_body`], and nothing after it, into a publication at `offset`.
/// `body` is shared, so publication data is not copied.
pub fn decode_body(offset: u64, body: Bytes) -> Result<Publication, DecodeError> {
    let mut input = body;
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
    let flags = get_u8(&mut input, "flags")?;
    if flags & !(FLAG_INFO | FLAG_DELTA) != 0 {
        return Err(DecodeError::Invalid("flags"));
    }
    let info = if flags & FLAG_INFO != 0 {
        Some(get_client_info(&mut input)?)
    } else {
        None
    };
    no_trailing(&input)?;
    Ok(Publication {
        offset,
        data,
        info,
        tags,
        time,
        delta: flags & FLAG_DELTA != 0,
    })
}

/// Encodes `info` alone.
pub fn encode_client_info(info: &ClientInfo) -> Vec<u8> {
    let mut out = Vec::new();
    put_client_info(&mut out, info);
    out
}

/// Decodes what [`encode_client_info`] wrote, and nothing after it.
pub fn decode_client_info(bytes: Bytes) -> Result<ClientInfo, DecodeError> {
    let mut input = bytes;
    let info = get_client_info(&mut input)?;
    no_trailing(&input)?;
    Ok(info)
}

/// `prefix` ([`JOIN_PREFIX`] or [`LEAVE_PREFIX`]) followed by `info`.
pub fn encode_presence_event(prefix: &[u8], info: &ClientInfo) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + 16 + info.conn_info.len());
    out.extend_from_slice(prefix);
    put_client_info(&mut out, info);
    out
}

/// What follows `prefix` in `payload`, if `payload` starts with it (shared, not copied).
pub fn strip(payload: &Bytes, prefix: &[u8]) -> Option<Bytes> {
    payload
        .starts_with(prefix)
        .then(|| payload.slice(prefix.len()..))
}

/// Fails with [`DecodeError::Trailing`] if `input` is not empty.
pub fn no_trailing(input: &Bytes) -> Result<(), DecodeError> {
    match input.remaining() {
        0 => Ok(()),
        n => Err(DecodeError::Trailing(n)),
    }
}

/// Appends `info` to `out`.
pub fn put_client_info(out: &mut Vec<u8>, info: &ClientInfo) {
    put_bytes(out, info.user.as_bytes());
    put_bytes(out, info.client.as_bytes());
    put_bytes(out, &info.conn_info);
    put_bytes(out, &info.chan_info);
}

/// Reads what [`put_client_info`] wrote from the front of `input`.
pub fn get_client_info(input: &mut Bytes) -> Result<ClientInfo, DecodeError> {
    Ok(ClientInfo {
        user: get_string(input, "user")?,
        client: get_string(input, "client")?,
        conn_info: get_bytes(input, "conn info")?,
        chan_info: get_bytes(input, "chan info")?,
    })
}

/// Appends `bytes`, preceded by their length as a varint.
pub fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends `value` as an unsigned LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads one byte; `what` names the field in the error.
pub fn get_u8(input: &mut Bytes, what: &'static str) -> Result<u8, DecodeError> {
    if input.has_remaining() {
        Ok(input.get_u8())
    } else {
        Err(DecodeError::Truncated(what))
    }
}

/// Reads a varint written by [`put_varint`]; `what` names the field in the error.
pub fn get_varint(input: &mut Bytes, what: &'static str) -> Result<u64, DecodeError> {
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

/// Reads bytes written by [`put_bytes`] (shared, not copied); `what` names the field in the error.
pub fn get_bytes(input: &mut Bytes, what: &'static str) -> Result<Bytes, DecodeError> {
    let len = get_varint(input, what)?;
    match usize::try_from(len) {
        Ok(len) if len <= input.remaining() => Ok(input.split_to(len)),
        _ => Err(DecodeError::Truncated(what)),
    }
}

/// Reads bytes written by [`put_bytes`] that must hold UTF-8; `what` names the field in the error.
pub fn get_string(input: &mut Bytes, what: &'static str) -> Result<String, DecodeError> {
    let bytes = get_bytes(input, what)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Invalid(what))
}

/// Maps signed to unsigned so that small magnitudes make short varints.
pub fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Inverse of [`zigzag`].
pub fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
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

    fn body(publication: &Publication) -> Bytes {
        let mut out = Vec::new();
        put_body(&mut out, publication);
        out.into()
    }

    #[test]
    fn body_round_trips() {
        let plain = Publication {
            delta: false,
            ..publication()
        };
        for publication in [publication(), plain, Publication::default()] {
            assert_eq!(
                decode_body(7, body(&publication)),
                Ok(Publication {
                    offset: 7,
                    ..publication
                })
            );
        }
    }

    #[test]
    fn zigzag_round_trips() {
        for time in [i64::MIN, -1, 0, 1, i64::MAX] {
            assert_eq!(unzigzag(zigzag(time)), time);
        }
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn client_info_round_trips() {
        for info in [info(), ClientInfo::default()] {
            assert_eq!(
                decode_client_info(encode_client_info(&info).into()),
                Ok(info)
            );
        }
        let mut trailing = encode_client_info(&info());
        trailing.push(0);
        assert_eq!(
            decode_client_info(trailing.into()),
            Err(DecodeError::Trailing(1))
        );
        assert_eq!(
            decode_client_info(Bytes::from_static(b"\x01\xff\x00\x00\x00")),
            Err(DecodeError::Invalid("user"))
        );
    }

    #[test]
    fn presence_events_carry_their_prefix() {
        let event = Bytes::from(encode_presence_event(JOIN_PREFIX, &info()));
        assert_eq!(strip(&event, LEAVE_PREFIX), None);
        let rest = strip(&event, JOIN_PREFIX).expect("join prefix");
        assert_eq!(decode_client_info(rest), Ok(info()));
    }

    #[test]
    fn rejects_malformed_bodies() {
        let valid = body(&publication());
        assert_eq!(
            decode_body(1, Bytes::new()),
            Err(DecodeError::Truncated("time"))
        );
        assert_eq!(
            decode_body(1, valid.slice(..valid.len() - 1)),
            Err(DecodeError::Truncated("chan info"))
        );
        assert_eq!(
            decode_body(1, Bytes::from_static(b"\x00\x00\xff\xff\x03")),
            Err(DecodeError::Invalid("tag count"))
        );
        assert_eq!(
            decode_body(1, Bytes::from_static(b"\x00\x00\x00\x04")),
            Err(DecodeError::Invalid("flags"))
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
        let valid = body(&publication()).to_vec();
        for _ in 0..20_000 {
            let bytes = if rng.random_bool(0.5) {
                let mut bytes = vec![0u8; rng.random_range(0..64)];
                rng.fill_bytes(&mut bytes);
                bytes
            } else {
                // Mutate a valid body so decoding gets deep before failing.
                let mut bytes = valid.clone();
                let at = rng.random_range(0..bytes.len());
                bytes[at] = rng.random();
                bytes.truncate(rng.random_range(0..=bytes.len()));
                bytes
            };
            let _ = decode_body(1, Bytes::from(bytes.clone()));
            let _ = decode_client_info(Bytes::from(bytes));
        }
    }
}
