//! One channel's stream: its position (top offset and epoch), the publications it still holds,
//! and when each of those expires. Pure data: the caller passes `now` and holds the lock.

use std::collections::VecDeque;
use std::time::Duration;

use rand::distr::{Alphabetic, SampleString};
use tokio::time::Instant;

use crate::{EngineError, HistoryFilter, HistoryLimit, Publication, StreamPosition};

/// Epoch length, as in Centrifugo: 8 random letters.
const EPOCH_LEN: usize = 8;

/// A channel stream.
#[derive(Debug)]
pub(crate) struct Stream {
    epoch: String,
    /// Offset of the newest publication ever appended in this epoch (0 before the first).
    top: u64,
    /// The publications still held, oldest first. Trimming drops from the front and expiry or
    /// removal drops everything, so the held offsets are always `top - len + 1 ..= top` and a
    /// publication is found by arithmetic instead of an index map.
    publications: VecDeque<Publication>,
    /// When `publications` expire as a whole (history TTL counts from the last publish, as in
    /// Centrifugo). Only meaningful while `publications` is not empty.
    publications_expire_at: Option<Instant>,
    /// When the position itself (top and epoch) expires; `None` is never.
    position_expire_at: Option<Instant>,
    /// Version and version epoch of the last versioned publication (`PublishOptions::version`),
    /// kept with the position and forgotten with it, as the Redis engine keeps them in the meta
    /// hash.
    last_version: Option<(u64, String)>,
}

impl Stream {
    /// A fresh stream at offset 0 with a new epoch, whose position never expires until a TTL is
    /// set.
    pub(crate) fn new() -> Self {
        Self {
            epoch: new_epoch(),
            top: 0,
            publications: VecDeque::new(),
            publications_expire_at: None,
            position_expire_at: None,
            last_version: None,
        }
    }

    /// Version and version epoch of the last versioned publication, if any.
    pub(crate) fn last_version(&self) -> Option<(u64, &str)> {
        self.last_version
            .as_ref()
            .map(|(version, epoch)| (*version, epoch.as_str()))
    }

    /// Remembers the version of a publication just appended; 0 (no version) leaves the last one.
    pub(crate) fn set_version(&mut self, version: u64, epoch: &str) {
        if version > 0 {
            self.last_version = Some((version, epoch.to_owned()));
        }
    }

    /// The current top position.
    pub(crate) fn position(&self) -> StreamPosition {
        StreamPosition {
            offset: self.top,
            epoch: self.epoch.clone(),
        }
    }

    /// Whether the position has expired, so the whole stream must be forgotten (a later publish
    /// then starts a new epoch at offset 1).
    pub(crate) fn position_expired(&self, now: Instant) -> bool {
        self.position_expire_at.is_some_and(|at| at <= now)
    }

    /// Drops the publications if their TTL has passed.
    pub(crate) fn expire_publications(&mut self, now: Instant) {
        if self.publications_expire_at.is_some_and(|at| at <= now) {
            self.clear_publications();
        }
    }

    /// Drops every publication but keeps the position.
    pub(crate) fn clear_publications(&mut self) {
        // A fresh deque rather than `clear()` so a burst's capacity is given back.
        self.publications = VecDeque::new();
        self.publications_expire_at = None;
    }

    /// Sets the position TTL as a publish does: counted from now, zero is never.
    pub(crate) fn set_position_ttl(&mut self, ttl: Duration, now: Instant) {
        self.position_expire_at = deadline(now, ttl);
    }

    /// Refreshes the position TTL as a history read does: a zero TTL leaves the current expiry
    /// alone (as the Redis engine skips its EXPIRE), anything else counts from now.
    pub(crate) fn refresh_position_ttl(&mut self, ttl: Duration, now: Instant) {
        if !ttl.is_zero() {
            self.position_expire_at = deadline(now, ttl);
        }
    }

    /// Appends `publication` at the next offset, trims to `history_size` (keeping the newest) and
    /// restarts the publications' TTL. Returns the new position and the stored publication, so
    /// the caller can deliver it without another copy.
    pub(crate) fn append(
        &mut self,
        mut publication: Publication,
        history_size: usize,
        history_ttl: Duration,
        now: Instant,
    ) -> (StreamPosition, &Publication) {
        self.top += 1;
        publication.offset = self.top;
        self.publications.push_back(publication);
        // `max(1)` keeps the new publication even for a nonsensical size of 0, so the returned
        // reference always exists.
        while self.publications.len() > history_size.max(1) {
            self.publications.pop_front();
        }
        self.publications_expire_at = deadline(now, history_ttl);
        let position = self.position();
        let stored = self
            .publications
            .back()
            .expect("a publication was pushed just above and trimming keeps at least one");
        (position, stored)
    }

    /// Reads publications as Centrifugo's memory engine does:
    ///
    /// - without `since`: the oldest `limit` (or, reversed, the newest `limit`, newest first);
    /// - with `since`, forward: those with offset > `since.offset`, oldest first. `since` at or
    ///   past the top gives nothing. If publications between `since` and the oldest one held
    ///   are gone (trimmed or expired), the position cannot be continued from and this fails
    ///   with [`EngineError::UnrecoverablePosition`];
    /// - with `since`, reversed: those with offset < `since.offset`, newest first (this is how
    ///   Centrifugo pages backwards: pass the oldest offset seen so far);
    /// - an epoch in `since` other than the stream's fails with `UnrecoverablePosition`; an empty
    ///   epoch matches any, as in Centrifugo's `Node.history`.
    pub(crate) fn read(&self, filter: &HistoryFilter) -> Result<Vec<Publication>, EngineError> {
        let held = self.publications.len();
        // Offset of `publications[0]`; `top + 1` when nothing is held.
        let oldest = self.top + 1 - held as u64;
        // Index of `offset` in `publications`, clamped to the held range. `since` comes from a
        // client, so the conversion saturates rather than truncating on 32-bit targets.
        let index_of = |offset: u64| {
            usize::try_from(offset.saturating_sub(oldest)).map_or(held, |i| i.min(held))
        };

        let range = match &filter.since {
            None => 0..held,
            Some(since) => {
                if !since.epoch.is_empty() && since.epoch != self.epoch {
                    return Err(EngineError::UnrecoverablePosition);
                }
                if filter.reverse {
                    0..index_of(since.offset)
                } else if since.offset >= self.top {
                    held..held
                } else if since.offset + 1 < oldest {
                    return Err(EngineError::UnrecoverablePosition);
                } else {
                    index_of(since.offset + 1)..held
                }
            }
        };
        let limit = match filter.limit {
            HistoryLimit::PositionOnly => return Ok(Vec::new()),
            HistoryLimit::All => usize::MAX,
            HistoryLimit::Max(n) => n,
        };
        let selected = self.publications.range(range);
        Ok(if filter.reverse {
            selected.rev().take(limit).cloned().collect()
        } else {
            selected.take(limit).cloned().collect()
        })
    }
}

/// `now + ttl`, with zero meaning never. An overflowing TTL is treated as never too.
fn deadline(now: Instant, ttl: Duration) -> Option<Instant> {
    if ttl.is_zero() {
        None
    } else {
        now.checked_add(ttl)
    }
}

/// A new random epoch of `[a-zA-Z]`.
fn new_epoch() -> String {
    Alphabetic.sample_string(&mut rand::rng(), EPOCH_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(count: u64, history_size: usize) -> Stream {
        let now = Instant::now();
        let mut stream = Stream::new();
        for i in 1..=count {
            let publication = Publication {
                data: i.to_string().into(),
                ..Publication::default()
            };
            stream.append(publication, history_size, Duration::from_secs(60), now);
        }
        stream
    }

    fn offsets(publications: &[Publication]) -> Vec<u64> {
        publications.iter().map(|p| p.offset).collect()
    }

    fn read(
        stream: &Stream,
        since: Option<u64>,
        limit: HistoryLimit,
        reverse: bool,
    ) -> Result<Vec<u64>, EngineError> {
        let filter = HistoryFilter {
            since: since.map(|offset| StreamPosition {
                offset,
                epoch: stream.epoch.clone(),
            }),
            limit,
            reverse,
        };
        stream.read(&filter).map(|p| offsets(&p))
    }

    #[test]
    fn epoch_is_eight_letters() {
        let epoch = new_epoch();
        assert_eq!(epoch.len(), EPOCH_LEN);
        assert!(epoch.chars().all(|c| c.is_ascii_alphabetic()), "{epoch}");
    }

    #[test]
    fn append_assigns_offsets_and_trims_oldest() {
        let stream = filled(5, 3);
        assert_eq!(stream.position().offset, 5);
        let held: Vec<u64> = stream.publications.iter().map(|p| p.offset).collect();
        assert_eq!(held, vec![3, 4, 5]);
    }

    #[test]
    fn reads_without_since() {
        let stream = filled(5, 10);
        assert_eq!(
            read(&stream, None, HistoryLimit::All, false),
            Ok(vec![1, 2, 3, 4, 5])
        );
        assert_eq!(
            read(&stream, None, HistoryLimit::Max(2), false),
            Ok(vec![1, 2])
        );
        assert_eq!(
            read(&stream, None, HistoryLimit::Max(2), true),
            Ok(vec![5, 4])
        );
        assert_eq!(
            read(&stream, None, HistoryLimit::PositionOnly, false),
            Ok(vec![])
        );
        assert_eq!(read(&stream, None, HistoryLimit::Max(0), false), Ok(vec![]));
    }

    #[test]
    fn reads_forward_since() {
        let stream = filled(5, 10);
        assert_eq!(
            read(&stream, Some(0), HistoryLimit::All, false),
            Ok(vec![1, 2, 3, 4, 5])
        );
        assert_eq!(
            read(&stream, Some(2), HistoryLimit::All, false),
            Ok(vec![3, 4, 5])
        );
        assert_eq!(
            read(&stream, Some(2), HistoryLimit::Max(2), false),
            Ok(vec![3, 4])
        );
        assert_eq!(read(&stream, Some(5), HistoryLimit::All, false), Ok(vec![]));
        assert_eq!(read(&stream, Some(9), HistoryLimit::All, false), Ok(vec![]));
        assert_eq!(
            read(&stream, Some(u64::MAX), HistoryLimit::All, false),
            Ok(vec![])
        );
    }

    #[test]
    fn reads_reverse_since_as_older_newest_first() {
        let stream = filled(5, 10);
        assert_eq!(
            read(&stream, Some(4), HistoryLimit::All, true),
            Ok(vec![3, 2, 1])
        );
        assert_eq!(
            read(&stream, Some(4), HistoryLimit::Max(2), true),
            Ok(vec![3, 2])
        );
        assert_eq!(read(&stream, Some(1), HistoryLimit::All, true), Ok(vec![]));
        assert_eq!(read(&stream, Some(0), HistoryLimit::All, true), Ok(vec![]));
        assert_eq!(
            read(&stream, Some(6), HistoryLimit::All, true),
            Ok(vec![5, 4, 3, 2, 1])
        );
    }

    #[test]
    fn forward_since_before_oldest_held_is_unrecoverable() {
        let stream = filled(5, 3);
        assert_eq!(
            read(&stream, Some(1), HistoryLimit::All, false),
            Err(EngineError::UnrecoverablePosition)
        );
        assert_eq!(
            read(&stream, Some(2), HistoryLimit::All, false),
            Ok(vec![3, 4, 5])
        );
        // Paging backwards past the trimmed part simply ends.
        assert_eq!(read(&stream, Some(3), HistoryLimit::All, true), Ok(vec![]));
    }

    #[test]
    fn since_with_other_epoch_is_unrecoverable_and_empty_epoch_matches() {
        let stream = filled(3, 10);
        let mut filter = HistoryFilter {
            since: Some(StreamPosition {
                offset: 1,
                epoch: "zzzzzzzz".into(),
            }),
            limit: HistoryLimit::All,
            reverse: false,
        };
        assert_eq!(
            stream.read(&filter),
            Err(EngineError::UnrecoverablePosition)
        );
        filter.since = Some(StreamPosition {
            offset: 1,
            epoch: String::new(),
        });
        assert_eq!(stream.read(&filter).map(|p| offsets(&p)), Ok(vec![2, 3]));
    }

    #[test]
    fn expired_publications_make_older_positions_unrecoverable_but_keep_the_top() {
        let mut stream = filled(3, 10);
        let later = Instant::now() + Duration::from_secs(61);
        stream.expire_publications(later);
        assert_eq!(stream.position().offset, 3);
        assert_eq!(
            read(&stream, Some(2), HistoryLimit::All, false),
            Err(EngineError::UnrecoverablePosition)
        );
        assert_eq!(read(&stream, Some(3), HistoryLimit::All, false), Ok(vec![]));
        assert_eq!(read(&stream, None, HistoryLimit::All, false), Ok(vec![]));
    }

    #[test]
    fn position_ttl_zero_is_never_on_publish_and_untouched_on_read() {
        let now = Instant::now();
        let mut stream = Stream::new();
        stream.set_position_ttl(Duration::from_secs(5), now);
        stream.refresh_position_ttl(Duration::ZERO, now);
        assert!(stream.position_expired(now + Duration::from_secs(5)));
        stream.set_position_ttl(Duration::ZERO, now);
        assert!(!stream.position_expired(now + Duration::from_secs(1_000_000)));
    }
}
