//! permessage-deflate on the way out: what a connection agreed on, and the per-thread cache
//! that compresses a publication once, however many subscribers on the thread it goes to.
//!
//! The registry encodes a publication once per protocol into one `Bytes` that every
//! subscriber's outbox shares. A connection that drains such a message asks the cache of the
//! thread it runs on: the first subscriber there compresses it, the others find it by the
//! identity of that `Bytes` (address and length). The entry holds a clone of the `Bytes`, so
//! the allocation stays alive, and unchanged (`Bytes` are immutable), as long as the entry
//! does: an equal address and length cannot belong to another message. A miss (an entry
//! evicted before every subscriber came) only costs one more compression.

use std::cell::RefCell;
use std::num::NonZeroU8;

use bytes::Bytes;
use herald_ws::deflate;

/// Entries per thread: enough for the publications in flight to one thread's connections,
/// few enough that a linear scan is cheaper than hashing.
const CACHE_ENTRIES: usize = 16;

/// Larger messages are compressed without the cache, so it never pins more than
/// `CACHE_ENTRIES` × this (plus their compressed forms) per thread.
const CACHE_MAX_MESSAGE: usize = 1 << 20;

/// The largest LZ77 window, log2: what a client that does not ask for less gets.
pub(super) const FULL_WINDOW: NonZeroU8 = NonZeroU8::new(15).expect("non-zero");

/// What a connection agreed on (per connection: 8 bytes, also as an `Option`; it lives in every
/// idle connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Deflate {
    /// Messages shorter than this go out as they are (`websocket.compression_min_size`).
    pub(super) min_size: u32,
    /// zlib level (`websocket.compression_level`).
    pub(super) level: u8,
    /// Our compressor's LZ77 window, log2, as negotiated (8 to 15). Non-zero, so that an
    /// `Option<Deflate>`, which every connection's writer carries, needs no extra tag.
    pub(super) window_bits: NonZeroU8,
}

impl Deflate {
    /// `message` compressed, or `None` when it goes out as it is (under the minimum size, or
    /// deflate would not shrink it). Each call compresses: for a message only this connection
    /// sends.
    pub(super) fn compress(&self, message: &[u8]) -> Option<Bytes> {
        if message.len() < self.min_size as usize {
            return None;
        }
        deflate::compress(message, self.level, self.window_bits.get())
    }

    /// [`Deflate::compress`] for a message that other connections may send too (a
    /// publication): compressed once per thread, through the cache.
    pub(super) fn compress_shared(&self, message: &Bytes) -> Option<Bytes> {
        if message.len() < self.min_size as usize {
            return None;
        }
        if message.len() > CACHE_MAX_MESSAGE {
            return deflate::compress(message, self.level, self.window_bits.get());
        }
        CACHE.with(|cache| cache.borrow_mut().get_or_compress(message, *self))
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = const { RefCell::new(Cache { entries: Vec::new(), clock: 0 }) };
}

/// Compressed forms of recent messages, least recently used evicted first.
struct Cache {
    entries: Vec<Entry>,
    /// Counts lookups; an entry's `used` is the count at its last hit.
    clock: u64,
}

struct Entry {
    /// Keeps the message's allocation alive, which is what makes its address an identity.
    message: Bytes,
    level: u8,
    window_bits: u8,
    /// `None`: deflate does not shrink it.
    compressed: Option<Bytes>,
    used: u64,
}

impl Cache {
    fn get_or_compress(&mut self, message: &Bytes, deflate: Deflate) -> Option<Bytes> {
        self.clock += 1;
        let hit = self.entries.iter_mut().find(|entry| {
            entry.message.as_ptr() == message.as_ptr()
                && entry.message.len() == message.len()
                && entry.level == deflate.level
                && entry.window_bits == deflate.window_bits.get()
        });
        if let Some(entry) = hit {
            entry.used = self.clock;
            return entry.compressed.clone();
        }
        let compressed = deflate::compress(message, deflate.level, deflate.window_bits.get());
        let entry = Entry {
            message: message.clone(),
            level: deflate.level,
            window_bits: deflate.window_bits.get(),
            compressed: compressed.clone(),
            used: self.clock,
        };
        if self.entries.len() < CACHE_ENTRIES {
            self.entries.push(entry);
        } else if let Some(oldest) = self.entries.iter_mut().min_by_key(|entry| entry.used) {
            *oldest = entry;
        }
        compressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFLATE: Deflate = Deflate {
        min_size: 0,
        level: 1,
        window_bits: NonZeroU8::new(15).expect("non-zero"),
    };

    fn publication(n: usize) -> Bytes {
        Bytes::from(format!(
            r#"{{"push":{{"channel":"news","pub":{{"data":{{"n":{n},"text":"hello hello hello"}}}}}}}}"#
        ))
    }

    #[test]
    fn a_shared_message_is_compressed_once_per_thread() {
        let message = publication(1);
        let first = DEFLATE.compress_shared(&message).expect("shrinks");
        let second = DEFLATE.compress_shared(&message.clone()).expect("shrinks");
        // The same allocation: the second subscriber got the first one's frame.
        assert_eq!(first.as_ptr(), second.as_ptr());
        // Equal content in another allocation is another message.
        let copy = Bytes::copy_from_slice(&message);
        let third = DEFLATE.compress_shared(&copy).expect("shrinks");
        assert_eq!(third, first);
        assert_ne!(third.as_ptr(), first.as_ptr());
        // Another window is another frame.
        let narrow = Deflate {
            window_bits: NonZeroU8::new(9).expect("non-zero"),
            ..DEFLATE
        };
        let fourth = narrow.compress_shared(&message).expect("shrinks");
        assert_ne!(fourth.as_ptr(), first.as_ptr());
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let kept = publication(0);
        let first = DEFLATE.compress_shared(&kept).expect("shrinks");
        for n in 1..CACHE_ENTRIES * 2 {
            DEFLATE.compress_shared(&publication(n));
            // Used again between every other message: never the oldest.
            let again = DEFLATE.compress_shared(&kept).expect("shrinks");
            assert_eq!(again.as_ptr(), first.as_ptr(), "evicted after {n}");
        }
        CACHE.with(|cache| assert_eq!(cache.borrow().entries.len(), CACHE_ENTRIES));
    }

    #[test]
    fn short_messages_stay_plain() {
        let deflate = Deflate {
            min_size: 1000,
            ..DEFLATE
        };
        assert_eq!(deflate.compress_shared(&publication(1)), None);
        assert_eq!(deflate.compress(&publication(1)), None);
        assert!(DEFLATE.compress(&publication(1)).is_some());
    }
}
