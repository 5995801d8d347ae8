//! The encoder: Fossil's `delta.c` algorithm. The source is indexed by a hash of each
//! 16-byte block at multiples of 16; a rolling hash over the target finds candidate blocks,
//! each is extended forwards and backwards, and the longest match that is worth its command
//! becomes a copy; what lies between copies is inserted.

use crate::format::{checksum, digit_count, put_int};

/// Block size of the source index and width of the rolling hash.
const NHASH: usize = 16;

/// Candidate blocks examined per target position (Fossil's bound on a hash chain walk).
const MAX_CHAIN: usize = 250;

/// The delta that turns `source` into `target`. Never fails: at worst it inserts the whole
/// target. When `target` is UTF-8, so is the delta (see the crate docs).
///
/// Lengths are 32-bit in the format: inputs of 4 GiB or more are not supported (publications
/// are bounded far below that).
pub fn delta(source: &[u8], target: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(target).is_ok();
    let mut out = Vec::with_capacity(target.len() / 4 + 32);
    put_int(&mut out, len32(target.len()));
    out.push(b'\n');
    // Bytes before `pending` are in the delta; the search for the next copy starts at `base`.
    let mut pending = 0;
    let mut base = 0;
    if source.len() > NHASH {
        let index = Index::new(source);
        while base + NHASH < target.len() {
            let Some(found) = find_copy(&index, source, target, base) else {
                break;
            };
            let copy = if text {
                found.on_char_boundaries(target)
            } else {
                found
            };
            if copy.len == 0 {
                // A short match inside one character: not worth a copy, search on past it.
                base = next_boundary(target, found.start + 1);
                continue;
            }
            insert(&mut out, &target[pending..copy.start]);
            put_int(&mut out, len32(copy.len));
            out.push(b'@');
            put_int(&mut out, len32(copy.offset));
            out.push(b',');
            base = copy.start + copy.len;
            pending = base;
        }
    }
    insert(&mut out, &target[pending..]);
    put_int(&mut out, checksum(target));
    out.push(b';');
    out
}

/// Where each hash of a source block was seen: `landmark[hash]` is the last block with that
/// hash, `collide[block]` the previous block with the same hash (`NONE` ends a chain).
struct Index {
    landmark: Vec<u32>,
    collide: Vec<u32>,
}

const NONE: u32 = u32::MAX;

impl Index {
    fn new(source: &[u8]) -> Self {
        let blocks = source.len() / NHASH;
        let mut index = Self {
            landmark: vec![NONE; blocks],
            collide: vec![NONE; blocks],
        };
        for block in 0..blocks {
            let at = block * NHASH;
            // A block must be whole: the last one may end at the source's end, not past it.
            if at + NHASH > source.len() {
                break;
            }
            let slot = index.slot(RollingHash::new(&source[at..at + NHASH]).value());
            index.collide[block] = index.landmark[slot];
            index.landmark[slot] = len32(block);
        }
        index
    }

    fn slot(&self, hash: u32) -> usize {
        hash as usize % self.landmark.len()
    }

    /// The source blocks whose hash is `hash`, most recently indexed first.
    fn chain(&self, hash: u32) -> impl Iterator<Item = usize> + '_ {
        let mut block = self.landmark[self.slot(hash)];
        std::iter::from_fn(move || {
            let current = block;
            (current != NONE).then(|| {
                block = self.collide[current as usize];
                current as usize
            })
        })
        .take(MAX_CHAIN)
    }
}

/// A copy command: `len` bytes of the source from `offset` land at `start` in the target.
#[derive(Debug, Clone, Copy)]
struct Copy {
    start: usize,
    offset: usize,
    len: usize,
}

impl Copy {
    /// Shrinks the copy so both its ends fall on character boundaries of `target` (a UTF-8
    /// text): the inserts around it then hold whole characters. A short copy inside one
    /// character shrinks to nothing.
    fn on_char_boundaries(self, target: &[u8]) -> Self {
        let end = self.start + self.len;
        let mut start = self.start;
        while start < end && is_continuation(target[start]) {
            start += 1;
        }
        let mut new_end = end;
        while new_end > start && new_end < target.len() && is_continuation(target[new_end]) {
            new_end -= 1;
        }
        Self {
            start,
            offset: self.offset + (start - self.start),
            len: new_end - start,
        }
    }
}

/// The first character boundary of `target` at or after `at`.
fn next_boundary(target: &[u8], mut at: usize) -> usize {
    while at < target.len() && is_continuation(target[at]) {
        at += 1;
    }
    at
}

/// A byte inside a UTF-8 character (`10xxxxxx`), not at its start.
fn is_continuation(byte: u8) -> bool {
    byte & 0xc0 == 0x80
}

/// The best copy for the target from `base` on, trying each position with Fossil's rules;
/// `None` when none is found before the target's last block.
fn find_copy(index: &Index, source: &[u8], target: &[u8], base: usize) -> Option<Copy> {
    let mut hash = RollingHash::new(&target[base..base + NHASH]);
    let mut i = 0;
    loop {
        let mut best: Option<Copy> = None;
        for block in index.chain(hash.value()) {
            let at = block * NHASH;
            let forward = source[at..]
                .iter()
                .zip(&target[base + i..])
                .take_while(|(a, b)| a == b)
                .count();
            // Backwards from the byte before the block; like Fossil, never down to source[0].
            let backward = (1..at.min(i + 1))
                .take_while(|&k| source[at - k] == target[base + i - k])
                .count();
            let len = forward + backward;
            let literal = i - backward;
            let offset = at - backward;
            // A copy must save more than its command costs.
            let cost = digit_count(literal) + digit_count(len) + digit_count(offset) + 3;
            if len >= cost && best.is_none_or(|b| len > b.len) {
                best = Some(Copy {
                    start: base + literal,
                    offset,
                    len,
                });
            }
        }
        if best.is_some() {
            return best;
        }
        if base + i + NHASH >= target.len() {
            return None;
        }
        hash.roll(target[base + i + NHASH]);
        i += 1;
    }
}

/// Fossil's rolling hash over a 16-byte window: `a` sums the window's bytes, `b` weighs them
/// by position, both modulo 2^16.
struct RollingHash {
    a: u16,
    b: u16,
    window: [u8; NHASH],
    oldest: usize,
}

impl RollingHash {
    fn new(window: &[u8]) -> Self {
        let mut a = 0u16;
        let mut b = 0u16;
        for &byte in window {
            a = a.wrapping_add(u16::from(byte));
            b = b.wrapping_add(a);
        }
        let mut copy = [0u8; NHASH];
        copy.copy_from_slice(window);
        Self {
            a,
            b,
            window: copy,
            oldest: 0,
        }
    }

    /// Moves the window one byte on: `byte` enters, the oldest leaves.
    fn roll(&mut self, byte: u8) {
        let old = self.window[self.oldest];
        self.window[self.oldest] = byte;
        self.oldest = (self.oldest + 1) % NHASH;
        self.a = self
            .a
            .wrapping_sub(u16::from(old))
            .wrapping_add(u16::from(byte));
        self.b = self
            .b
            .wrapping_sub((NHASH as u16).wrapping_mul(u16::from(old)))
            .wrapping_add(self.a);
    }

    fn value(&self) -> u32 {
        u32::from(self.a) | (u32::from(self.b) << 16)
    }
}

/// Appends an insert command for `bytes`, if there are any.
fn insert(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    put_int(out, len32(bytes.len()));
    out.push(b':');
    out.extend_from_slice(bytes);
}

/// A length or offset as the format's 32-bit integer.
fn len32(value: usize) -> u32 {
    // Publications are bounded by the message size limit, far below 4 GiB; saturating keeps
    // an absurd input from wrapping into a valid-looking but wrong delta (the decoder rejects
    // it instead).
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply;

    #[test]
    fn rolling_equals_a_fresh_hash() {
        let data: Vec<u8> = (0..200u32).map(|i| (i * 7 + i / 3) as u8).collect();
        let mut hash = RollingHash::new(&data[..NHASH]);
        for start in 1..data.len() - NHASH {
            hash.roll(data[start + NHASH - 1]);
            assert_eq!(
                hash.value(),
                RollingHash::new(&data[start..start + NHASH]).value(),
                "{start}"
            );
        }
    }

    #[test]
    fn a_small_change_in_a_large_payload_is_a_small_delta() {
        let source = format!(r#"{{"counter":1,"payload":"{}"}}"#, "a".repeat(500));
        let target = format!(r#"{{"counter":2,"payload":"{}b"}}"#, "a".repeat(499));
        let patch = delta(source.as_bytes(), target.as_bytes());
        assert!(patch.len() < 40, "{}", String::from_utf8_lossy(&patch));
        assert_eq!(
            apply(source.as_bytes(), &patch).as_deref(),
            Ok(target.as_bytes())
        );
    }

    #[test]
    fn short_sources_insert_everything() {
        let patch = delta(b"abc", b"abcdef");
        assert_eq!(&patch[..6], b"6\n6:ab");
        assert_eq!(apply(b"abc", &patch).as_deref(), Ok(&b"abcdef"[..]));
        assert_eq!(apply(b"abc", &delta(b"abc", b"")).as_deref(), Ok(&b""[..]));
    }

    #[test]
    fn copies_do_not_split_characters_of_a_text() {
        // Source and target differ inside a two-byte character: the copies around the change
        // stop at character boundaries, so the inserts are whole characters.
        let source = format!("{}é{}", "x".repeat(40), "y".repeat(40));
        let target = format!("{}è{}", "x".repeat(40), "y".repeat(40));
        let patch = delta(source.as_bytes(), target.as_bytes());
        assert!(std::str::from_utf8(&patch).is_ok(), "{patch:?}");
        assert_eq!(
            apply(source.as_bytes(), &patch).as_deref(),
            Ok(target.as_bytes())
        );
    }
}
