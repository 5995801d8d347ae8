//! How publications, joins and leaves are laid out inside Redis: in stream entries and in the
//! messages of the `{prefix}.client.{channel}` PUB/SUB channel. Herald nodes are the only readers,
//! so the format is Herald's own, compact and binary-safe. Sans-I/O: bytes in, values out, and
//! decoding never panics on any input.
//!
//! ```text
//! message      = publication | join | leave
//! publication  = "p1:" offset ":" epoch ":" body     offset: decimal ASCII, epoch: [A-Za-z]*
//! join         = "j1:" client-info
//! leave        = "l1:" client-info
//!
//! body         = time data tag-count *(key value) has-info [client-info]
//! client-info  = user client conn-info chan-info
//!
//! time         = varint of the zigzag-encoded i64 (Unix milliseconds)
//! data, conn-info, chan-info = bytes;  user, client, key, value = string
//! bytes        = varint length, then that many bytes;  string = bytes holding UTF-8
//! tag-count    = varint;  has-info = one byte, 0 or 1
//! varint       = unsigned LEB128, at most 10 bytes
//! ```
//!
//! A stream entry is `XADD {prefix}.stream.{channel} <offset>-0 d <body>`: the offset lives in the
//! entry id, so the body never carries it. The publish script builds the publication message
//! around the same body once it knows the offset and epoch, so a publication is encoded once.
//!
//! The body, client-info, join and leave layouts are [`herald_engine::wire`]'s, shared with the
//! NATS broker; only the publication framing and the stream entries live here.

use bytes::Bytes;
use herald_engine::wire::{self, JOIN_PREFIX, LEAVE_PREFIX, strip};
pub(crate) use herald_engine::wire::{
    DecodeError, decode_body, decode_client_info, encode_client_info,
};
use herald_engine::{ClientInfo, Publication, StreamPosition};

/// Prefix of a publication message, before `offset:epoch:body`.
pub(crate) const PUBLICATION_PREFIX: &[u8] = b"p1:";

/// A decoded PUB/SUB message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    /// A publication and the stream position right after it.
    Publication {
        publication: Publication,
        position: StreamPosition,
    },
    /// A client joined.
    Join(ClientInfo),
    /// A client left.
    Leave(ClientInfo),
}

/// Encodes everything of `publication` but its offset (see the module docs).
pub(crate) fn encode_body(publication: &Publication) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + publication.data.len());
    wire::put_body(&mut out, publication);
    out
}

/// The PUB/SUB message of a publication kept in no stream (offset 0, empty epoch). Publications
/// with history get theirs from the publish script, in the same layout.
pub(crate) fn encode_unpositioned_publication(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PUBLICATION_PREFIX.len() + 3 + body.len());
    out.extend_from_slice(PUBLICATION_PREFIX);
    out.extend_from_slice(b"0::");
    out.extend_from_slice(body);
    out
}

/// The PUB/SUB message announcing that `info` joined.
pub(crate) fn encode_join(info: &ClientInfo) -> Vec<u8> {
    wire::encode_presence_event(JOIN_PREFIX, info)
}

/// The PUB/SUB message announcing that `info` left.
pub(crate) fn encode_leave(info: &ClientInfo) -> Vec<u8> {
    wire::encode_presence_event(LEAVE_PREFIX, info)
}

/// Decodes a PUB/SUB message. `payload` is shared, so publication data is not copied.
pub(crate) fn decode_message(payload: Bytes) -> Result<Message, DecodeError> {
    if let Some(rest) = strip(&payload, PUBLICATION_PREFIX) {
        let (offset, rest) = split_field(rest, "offset")?;
        let (epoch, rest) = split_field(rest, "epoch")?;
        let offset = parse_offset(&offset)?;
        if !epoch.iter().all(u8::is_ascii_alphabetic) {
            return Err(DecodeError::Invalid("epoch"));
        }
        let epoch = String::from_utf8(epoch.to_vec()).map_err(|_| DecodeError::Invalid("epoch"))?;
        let publication = decode_body(offset, rest)?;
        return Ok(Message::Publication {
            publication,
            position: StreamPosition { offset, epoch },
        });
    }
    if let Some(rest) = strip(&payload, JOIN_PREFIX) {
        return decode_client_info(rest).map(Message::Join);
    }
    if let Some(rest) = strip(&payload, LEAVE_PREFIX) {
        return decode_client_info(rest).map(Message::Leave);
    }
    Err(DecodeError::UnknownKind)
}

/// Parses a decimal offset as written by Lua or Rust: ASCII digits only, fits in a u64.
pub(crate) fn parse_offset(digits: &[u8]) -> Result<u64, DecodeError> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(DecodeError::Invalid("offset"));
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(DecodeError::Invalid("offset"))
}

/// Splits `input` at the first `:`, dropping it.
fn split_field(input: Bytes, what: &'static str) -> Result<(Bytes, Bytes), DecodeError> {
    let colon = input
        .iter()
        .position(|&b| b == b':')
        .ok_or(DecodeError::Truncated(what))?;
    Ok((input.slice(..colon), input.slice(colon + 1..)))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use herald_engine::wire::{unzigzag, zigzag};
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

    fn with_header(offset: &str, epoch: &str, body: &[u8]) -> Bytes {
        let mut out = PUBLICATION_PREFIX.to_vec();
        out.extend_from_slice(format!("{offset}:{epoch}:").as_bytes());
        out.extend_from_slice(body);
        out.into()
    }

    #[test]
    fn body_round_trips() {
        for publication in [publication(), Publication::default()] {
            let body = encode_body(&publication);
            let decoded = decode_body(7, body.into()).expect("decode");
            assert_eq!(
                decoded,
                Publication {
                    offset: 7,
                    ..publication
                }
            );
        }
    }

    #[test]
    fn negative_and_extreme_times_round_trip() {
        for time in [i64::MIN, -1, 0, 1, i64::MAX] {
            assert_eq!(unzigzag(zigzag(time)), time);
            let publication = Publication {
                time,
                ..Publication::default()
            };
            let decoded = decode_body(0, encode_body(&publication).into()).expect("decode");
            assert_eq!(decoded.time, time);
        }
    }

    #[test]
    fn messages_round_trip() {
        let body = encode_body(&publication());
        let decoded = decode_message(with_header("42", "AbCdEfGh", &body)).expect("decode");
        assert_eq!(
            decoded,
            Message::Publication {
                publication: Publication {
                    offset: 42,
                    ..publication()
                },
                position: StreamPosition {
                    offset: 42,
                    epoch: "AbCdEfGh".into()
                },
            }
        );
        let unpositioned = decode_message(encode_unpositioned_publication(&body).into());
        assert!(matches!(
            unpositioned,
            Ok(Message::Publication { position, .. }) if position == StreamPosition::default()
        ));
        assert_eq!(
            decode_message(encode_join(&info()).into()),
            Ok(Message::Join(info()))
        );
        assert_eq!(
            decode_message(encode_leave(&info()).into()),
            Ok(Message::Leave(info()))
        );
    }

    #[test]
    fn rejects_malformed_messages() {
        let body = encode_body(&publication());
        assert_eq!(
            decode_message(Bytes::from_static(b"hello")),
            Err(DecodeError::UnknownKind)
        );
        assert_eq!(
            decode_message(Bytes::from_static(b"__p1:1:abc__x")),
            Err(DecodeError::UnknownKind)
        );
        assert_eq!(
            decode_message(with_header("x", "abc", &body)),
            Err(DecodeError::Invalid("offset"))
        );
        assert_eq!(
            decode_message(with_header("99999999999999999999", "abc", &body)),
            Err(DecodeError::Invalid("offset"))
        );
        assert_eq!(
            decode_message(with_header("1", "ab1", &body)),
            Err(DecodeError::Invalid("epoch"))
        );
        assert_eq!(
            decode_message(Bytes::from_static(b"p1:1")),
            Err(DecodeError::Truncated("offset"))
        );
        let mut trailing = body.clone();
        trailing.push(0);
        assert_eq!(
            decode_body(1, trailing.into()),
            Err(DecodeError::Trailing(1))
        );
        assert_eq!(
            decode_body(1, body[..body.len() - 1].to_vec().into()).map(|_| ()),
            Err(DecodeError::Truncated("chan info"))
        );
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = rand::rng();
        let valid = encode_body(&publication());
        for _ in 0..20_000 {
            let mut bytes = if rng.random_bool(0.5) {
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
            let _ = decode_client_info(Bytes::from(bytes.clone()));
            let mut message = PUBLICATION_PREFIX.to_vec();
            message.extend_from_slice(b"1:e:");
            message.append(&mut bytes);
            let _ = decode_message(message.into());
        }
    }
}
