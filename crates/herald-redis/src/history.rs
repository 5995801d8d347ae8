//! History reads: one script call reads the position (creating it if missing) and the asked
//! range of the stream; the rules about `since` that need the top offset are applied here, on
//! what it returned.

use bytes::Bytes;
use herald_engine::{
    EngineError, HistoryFilter, HistoryLimit, HistoryOptions, HistoryResult, Publication,
    StreamPosition,
};
use redis::Value;

use crate::broker::new_epoch;
use crate::codec;
use crate::engine::RedisEngine;
use crate::scripts::{SCRIPTS, as_string, as_u64, into_array, into_bytes, millis, unexpected};

/// The stream entry field holding the encoded publication.
const DATA_FIELD: &[u8] = b"d";

/// Which stream range the script reads.
#[derive(Debug, PartialEq, Eq)]
struct Range {
    /// `"XRANGE"`, `"XREVRANGE"`, or `""` for none.
    command: &'static str,
    from: String,
    to: String,
    /// `""` for no limit.
    count: String,
}

impl Range {
    const NONE: &'static str = "";

    fn none() -> Self {
        Self {
            command: Self::NONE,
            from: String::new(),
            to: String::new(),
            count: String::new(),
        }
    }

    /// The range the memory engine's `Stream::read` selects, in stream ids (`N-0` is offset N).
    /// Positions Redis cannot express (before offset 1) select nothing.
    fn of(filter: &HistoryFilter) -> Self {
        let count = match filter.limit {
            HistoryLimit::PositionOnly | HistoryLimit::Max(0) => return Self::none(),
            HistoryLimit::All => String::new(),
            HistoryLimit::Max(n) => n.to_string(),
        };
        let (command, from, to) = match (&filter.since, filter.reverse) {
            (None, false) => ("XRANGE", "-".to_owned(), "+".to_owned()),
            (None, true) => ("XREVRANGE", "+".to_owned(), "-".to_owned()),
            // After `since`, oldest first.
            (Some(since), false) => ("XRANGE", format!("({}-0", since.offset), "+".to_owned()),
            // Before `since`, newest first: nothing is before offset 1.
            (Some(since), true) if since.offset <= 1 => return Self::none(),
            // A full id: an incomplete end id `N` would mean `N-<max>`, which includes `N-0`.
            (Some(since), true) => ("XREVRANGE", format!("({}-0", since.offset), "-".to_owned()),
        };
        Self {
            command,
            from,
            to,
            count,
        }
    }
}

impl RedisEngine {
    /// Reads the stream position and the asked range (the position alone for the stream top);
    /// once more after a connection error (see `health.rs`).
    pub(crate) async fn read_history(
        &self,
        channel: &str,
        opts: &HistoryOptions,
    ) -> Result<HistoryResult, EngineError> {
        let filter = &opts.filter;
        let range = Range::of(filter);
        let since_epoch = filter.since.as_ref().map_or("", |s| s.epoch.as_str());
        // A forward `since` is only continuable if the stream still holds its successor.
        let forward_since = filter.since.as_ref().filter(|_| !filter.reverse);
        let shard = self.shard(channel);
        let mut script = SCRIPTS.history.key(self.keys.stream(channel));
        script
            .key(self.keys.stream_meta(channel))
            .arg(new_epoch())
            .arg(millis(opts.meta_ttl))
            .arg(since_epoch)
            .arg(range.command)
            .arg(&range.from)
            .arg(&range.to)
            .arg(&range.count)
            .arg(if forward_since.is_some() { "1" } else { "0" });
        let script = &script;
        let reply: Value = shard
            .read("history", |mut c| async move {
                script.invoke_async(&mut c).await
            })
            .await?;
        let read = HistoryReply::parse(reply)?;
        if !read.epoch_matches {
            return Err(EngineError::UnrecoverablePosition);
        }
        let position = StreamPosition {
            offset: read.top,
            epoch: read.epoch,
        };
        if let Some(since) = forward_since {
            if since.offset >= position.offset {
                return Ok(HistoryResult {
                    publications: Vec::new(),
                    position,
                });
            }
            // Nothing held reads as "everything up to the top is gone".
            let oldest = read.oldest.unwrap_or(position.offset.saturating_add(1));
            if since.offset.saturating_add(1) < oldest {
                return Err(EngineError::UnrecoverablePosition);
            }
        }
        let publications = read
            .entries
            .into_iter()
            .map(|entry| decode_entry(channel, entry))
            .collect::<Result<_, _>>()?;
        Ok(HistoryResult {
            publications,
            position,
        })
    }
}

/// What the history script returned.
#[derive(Debug)]
struct HistoryReply {
    top: u64,
    epoch: String,
    epoch_matches: bool,
    oldest: Option<u64>,
    entries: Vec<Value>,
}

impl HistoryReply {
    fn parse(reply: Value) -> Result<Self, EngineError> {
        let bad = |reply: &Value| unexpected("history", reply);
        let Some(items) = into_array(reply.clone()) else {
            return Err(bad(&reply));
        };
        let Ok([top, epoch, matches, oldest, entries]) = <[Value; 5]>::try_from(items) else {
            return Err(bad(&reply));
        };
        let oldest = match oldest {
            Value::Nil => None,
            id => Some(
                into_bytes(id)
                    .and_then(|id| entry_offset(&id))
                    .ok_or_else(|| bad(&reply))?,
            ),
        };
        Ok(Self {
            top: as_u64(&top).ok_or_else(|| bad(&reply))?,
            epoch: as_string(&epoch).ok_or_else(|| bad(&reply))?,
            epoch_matches: as_u64(&matches) == Some(1),
            oldest,
            entries: into_array(entries).ok_or_else(|| bad(&reply))?,
        })
    }
}

/// The offset of a stream entry id `N-0`.
fn entry_offset(id: &[u8]) -> Option<u64> {
    let (offset, _sequence) = id.split_at(id.iter().position(|&b| b == b'-')?);
    codec::parse_offset(offset).ok()
}

/// Decodes one `[id, [field, value, ...]]` stream entry.
fn decode_entry(channel: &str, entry: Value) -> Result<Publication, EngineError> {
    let bad = |why: &str| EngineError::Unavailable {
        reason: format!("redis history of {channel}: {why}"),
    };
    let Some([id, fields]) = into_array(entry).and_then(|e| <[Value; 2]>::try_from(e).ok()) else {
        return Err(bad("malformed stream entry"));
    };
    let offset = into_bytes(id)
        .and_then(|id| entry_offset(&id))
        .ok_or_else(|| bad("malformed stream entry id"))?;
    let mut fields = into_array(fields)
        .ok_or_else(|| bad("malformed stream entry"))?
        .into_iter();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        if into_bytes(name).as_deref() == Some(DATA_FIELD) {
            let body = into_bytes(value).ok_or_else(|| bad("malformed stream entry"))?;
            return codec::decode_body(offset, Bytes::from(body))
                .map_err(|e| bad(&format!("undecodable publication at offset {offset}: {e}")));
        }
    }
    Err(bad("stream entry without data"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(since: Option<u64>, limit: HistoryLimit, reverse: bool) -> Range {
        Range::of(&HistoryFilter {
            since: since.map(|offset| StreamPosition {
                offset,
                epoch: String::new(),
            }),
            limit,
            reverse,
        })
    }

    fn expect(command: &'static str, from: &str, to: &str, count: &str) -> Range {
        Range {
            command,
            from: from.into(),
            to: to.into(),
            count: count.into(),
        }
    }

    #[test]
    fn ranges_follow_the_memory_engine() {
        use HistoryLimit::{All, Max, PositionOnly};
        assert_eq!(range(None, PositionOnly, false), Range::none());
        assert_eq!(range(Some(3), Max(0), false), Range::none());
        assert_eq!(range(None, All, false), expect("XRANGE", "-", "+", ""));
        assert_eq!(
            range(None, Max(2), true),
            expect("XREVRANGE", "+", "-", "2")
        );
        assert_eq!(
            range(Some(2), Max(5), false),
            expect("XRANGE", "(2-0", "+", "5")
        );
        assert_eq!(
            range(Some(0), All, false),
            expect("XRANGE", "(0-0", "+", "")
        );
        assert_eq!(
            range(Some(4), All, true),
            expect("XREVRANGE", "(4-0", "-", "")
        );
        assert_eq!(range(Some(1), All, true), Range::none());
        assert_eq!(range(Some(0), All, true), Range::none());
    }

    #[test]
    fn parses_entry_ids() {
        assert_eq!(entry_offset(b"42-0"), Some(42));
        assert_eq!(entry_offset(b"42"), None);
        assert_eq!(entry_offset(b"x-0"), None);
    }

    #[test]
    fn decodes_entries_and_rejects_broken_ones() {
        let publication = Publication {
            data: Bytes::from_static(b"hi"),
            ..Publication::default()
        };
        let entry = |id: &[u8], field: &[u8], body: Vec<u8>| {
            Value::Array(vec![
                Value::BulkString(id.to_vec()),
                Value::Array(vec![
                    Value::BulkString(field.to_vec()),
                    Value::BulkString(body),
                ]),
            ])
        };
        let body = codec::encode_body(&publication);
        assert_eq!(
            decode_entry("ch", entry(b"7-0", b"d", body.clone())),
            Ok(Publication {
                offset: 7,
                ..publication
            })
        );
        assert!(decode_entry("ch", entry(b"7-0", b"x", body)).is_err());
        assert!(decode_entry("ch", entry(b"7-0", b"d", b"\xff".to_vec())).is_err());
        assert!(decode_entry("ch", Value::Nil).is_err());
    }
}
