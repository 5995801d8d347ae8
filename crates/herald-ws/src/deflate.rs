//! permessage-deflate (RFC 7692) without context takeover in either direction: the
//! negotiation ([`negotiate`]), and the compressor ([`compress`]) and decompressor
//! (`decompress`) that every connection on a thread shares.
//!
//! No context takeover is what lets them be shared: each message is compressed and
//! decompressed on its own (the stream is reset before each one), so a connection keeps no
//! LZ77 window between messages, and an idle connection with compression costs nothing more
//! than one without. A compressor (about 270 KiB for a 32 KiB window) and a decompressor
//! (about 40 KiB) live once per thread, created on first use.

use std::cell::RefCell;

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The extension's token in `Sec-WebSocket-Extensions`.
pub const EXTENSION: &str = "permessage-deflate";

/// The largest LZ77 window (32 KiB) and the one the decompressor always uses: it decodes any
/// smaller window too, so a client's `client_max_window_bits` never needs an answer.
const MAX_WINDOW_BITS: u8 = 15;

/// The smallest window zlib can compress raw deflate with: it refuses 8 (a 256-byte window)
/// for raw streams, so an offer that demands `server_max_window_bits=8` is declined.
const MIN_WINDOW_BITS: u8 = 9;

/// What RFC 7692 section 7.2.1 removes from the end of every compressed message, and what the
/// receiver appends before inflating (section 7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The parameters of the offer the server accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    /// The LZ77 window our compressor may use, log2 (9..=15): the client's
    /// `server_max_window_bits`, or 15 when it did not ask.
    pub window_bits: u8,
    /// Whether the client's offer named `server_max_window_bits`: then the response must.
    window_requested: bool,
}

impl Agreed {
    /// The `Sec-WebSocket-Extensions` value of the response. Both `no_context_takeover`
    /// parameters, always: section 7.1.1 lets the server add either one even when the client
    /// did not offer it, and sharing compressors between connections needs both.
    /// `client_max_window_bits` is never sent: our decompressor takes any window.
    pub fn response(&self) -> String {
        let mut value =
            format!("{EXTENSION}; server_no_context_takeover; client_no_context_takeover");
        if self.window_requested {
            value.push_str(&format!("; server_max_window_bits={}", self.window_bits));
        }
        value
    }
}

/// Picks the first `permessage-deflate` offer in the client's `Sec-WebSocket-Extensions`
/// values that this server can honour (section 5.1: offers come in order of preference), or
/// `None`: then the connection runs without compression. An offer is declined when it names
/// an unknown parameter, names one twice, gives a parameter a value it cannot have, or asks
/// for `server_max_window_bits=8` (see `MIN_WINDOW_BITS`).
pub fn negotiate<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Agreed> {
    values
        .into_iter()
        .flat_map(|value| value.split(','))
        .find_map(accept_offer)
}

/// The agreement for one offer (`permessage-deflate; param; param=value`), if acceptable.
fn accept_offer(offer: &str) -> Option<Agreed> {
    let mut parts = offer.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case(EXTENSION) {
        return None;
    }
    let mut agreed = Agreed {
        window_bits: MAX_WINDOW_BITS,
        window_requested: false,
    };
    let mut seen = [false; 4];
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => {
                // Section 7.1: a value may be sent as a quoted string.
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                (name.trim(), Some(value))
            }
            None => (param, None),
        };
        let index = match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if value.is_none() => 0,
            "client_no_context_takeover" if value.is_none() => 1,
            "server_max_window_bits" => {
                let bits = window_bits(value?)?;
                if bits < MIN_WINDOW_BITS {
                    return None;
                }
                agreed.window_bits = bits;
                agreed.window_requested = true;
                2
            }
            "client_max_window_bits" => {
                if let Some(value) = value {
                    window_bits(value)?;
                }
                3
            }
            _ => return None,
        };
        if std::mem::replace(&mut seen[index], true) {
            return None;
        }
    }
    Some(agreed)
}

/// A window size parameter: a decimal 8..=15 without leading zeros (section 7.1.2).
fn window_bits(value: &str) -> Option<u8> {
    if value.starts_with('0') || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// It inflates to more than the limit.
    TooBig,
    /// It is not valid deflate data.
    Corrupt,
}

thread_local! {
    /// The thread's decompressor: raw deflate, the largest window.
    static INFLATE: RefCell<Decompress> =
        RefCell::new(Decompress::new_with_window_bits(false, MAX_WINDOW_BITS));
    /// The thread's compressors, one per (level, window bits) in use: nearly always one.
    static DEFLATE: RefCell<Vec<(u8, u8, Compress)>> = const { RefCell::new(Vec::new()) };
}

/// Inflates one whole message (its frames' payloads joined) into at most `limit` bytes.
/// Stops as soon as the output passes `limit`, so a small message that inflates to gigabytes
/// (a decompression bomb) costs at most `limit` bytes of memory.
pub(crate) fn decompress(payload: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    guarded(|| inflate(payload, limit)).unwrap_or_else(|| {
        INFLATE.with(|cell| {
            *cell.borrow_mut() = Decompress::new_with_window_bits(false, MAX_WINDOW_BITS);
        });
        Err(InflateError::Corrupt)
    })
}

/// Runs `f`, turning a panic inside zlib into `None`. zlib-rs 0.6.8 panicked on ordinary
/// input (fixed in 0.6.9); a panic in a connection task would skip the session's close and
/// leave it registered, so the codec fails the one message instead, and the caller replaces
/// the thread's (possibly broken) stream state.
fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

fn inflate(payload: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    INFLATE.with(|cell| {
        let mut inflater = cell.borrow_mut();
        // No context takeover: every message starts a fresh stream.
        inflater.reset(false);
        let mut out = Vec::new();
        for mut input in [payload, &TAIL[..]] {
            loop {
                if out.len() == out.capacity() {
                    if out.len() > limit {
                        return Err(InflateError::TooBig);
                    }
                    // Double, from a guess at the ratio, never past one byte over the limit.
                    let want = out.len().max(payload.len().saturating_mul(4)).max(256);
                    out.reserve_exact(want.min(limit + 1 - out.len()));
                }
                let (in_before, out_before) = (inflater.total_in(), out.len());
                let status = inflater
                    .decompress_vec(input, &mut out, FlushDecompress::Sync)
                    .map_err(|_| InflateError::Corrupt)?;
                let used = usize::try_from(inflater.total_in() - in_before)
                    .map_err(|_| InflateError::Corrupt)?;
                input = input.get(used..).ok_or(InflateError::Corrupt)?;
                if out.len() > limit {
                    return Err(InflateError::TooBig);
                }
                if status == Status::StreamEnd {
                    // A final block (BFINAL) ends the message; the tail is not needed.
                    return Ok(out);
                }
                if input.is_empty() && out.len() < out.capacity() {
                    // All input taken and room left: the inflater holds nothing back.
                    break;
                }
                if used == 0 && out.len() == out_before && out.len() < out.capacity() {
                    return Err(InflateError::Corrupt);
                }
            }
        }
        Ok(out)
    })
}

/// Compresses one message for a connection that agreed on `window_bits`, at `level` (0-9).
/// `None` when the result would not be smaller: the message then goes out as it is (section
/// 6: each message chooses), as does everything when zlib fails for some reason.
pub fn compress(payload: &[u8], level: u8, window_bits: u8) -> Option<Bytes> {
    guarded(|| deflate(payload, level, window_bits)).unwrap_or_else(|| {
        DEFLATE.with(|cell| cell.borrow_mut().clear());
        None
    })
}

fn deflate(payload: &[u8], level: u8, window_bits: u8) -> Option<Bytes> {
    DEFLATE.with(|cell| {
        let mut compressors = cell.borrow_mut();
        let position = match compressors
            .iter()
            .position(|(l, w, _)| (*l, *w) == (level, window_bits))
        {
            Some(position) => position,
            None => {
                let compress = Compress::new_with_window_bits(
                    Compression::new(u32::from(level.min(9))),
                    false,
                    window_bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS),
                );
                compressors.push((level, window_bits, compress));
                compressors.len() - 1
            }
        };
        let compressor = &mut compressors[position].2;
        // No context takeover: every message starts a fresh stream.
        compressor.reset();
        let mut out = Vec::with_capacity(payload.len() / 2 + 64);
        let mut input = payload;
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity());
            }
            let before = compressor.total_in();
            compressor
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .ok()?;
            let used = usize::try_from(compressor.total_in() - before).ok()?;
            input = input.get(used..)?;
            if out.len() >= payload.len() + TAIL.len() {
                // It will not come out smaller; stop spending time on it.
                return None;
            }
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        // The sync flush ends the data with an empty stored block; section 7.2.1 drops its
        // last four bytes.
        if !out.ends_with(&TAIL) {
            return None;
        }
        out.truncate(out.len() - TAIL.len());
        (out.len() < payload.len()).then(|| Bytes::from(out))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_offer_gets_both_no_context_takeover_parameters() {
        let agreed = negotiate(["permessage-deflate"]).expect("accepted");
        assert_eq!(agreed.window_bits, 15);
        assert_eq!(
            agreed.response(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
        // What browsers send.
        let agreed = negotiate(["permessage-deflate; client_max_window_bits"]).expect("accepted");
        assert_eq!(
            agreed.response(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
    }

    #[test]
    fn a_requested_server_window_is_used_and_answered() {
        let agreed =
            negotiate(["permessage-deflate; server_max_window_bits=\"10\""]).expect("accepted");
        assert_eq!(agreed.window_bits, 10);
        assert!(agreed.response().ends_with("; server_max_window_bits=10"));
    }

    #[test]
    fn offers_this_server_cannot_honour_fall_through_to_the_next() {
        let agreed = negotiate([
            "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; server_max_window_bits=12",
        ])
        .expect("the third offer");
        assert_eq!(agreed.window_bits, 12);
        for declined in [
            "permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; mystery",
            "deflate-stream",
            "",
        ] {
            assert_eq!(negotiate([declined]), None, "{declined}");
        }
    }

    #[test]
    fn compressed_messages_inflate_to_the_original() {
        let message = br#"{"push":{"channel":"news","pub":{"data":{"text":"hello hello hello"}}}}"#;
        for bits in [9, 12, 15] {
            let compressed = compress(message, 1, bits).expect("smaller");
            assert!(!compressed.ends_with(&TAIL));
            assert_eq!(decompress(&compressed, 1024), Ok(message.to_vec()));
        }
    }

    #[test]
    fn what_does_not_shrink_is_left_alone() {
        assert_eq!(compress(b"", 1, 15), None);
        assert_eq!(compress(b"ab", 1, 15), None);
        // xorshift64: bytes deflate cannot shrink.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        assert_eq!(compress(&noise, 9, 15), None);
        assert_eq!(compress(&noise, 1, 15), None);
    }

    #[test]
    fn a_large_message_round_trips_through_several_output_buffers() {
        let message: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 1000).to_be_bytes())
            .collect();
        let compressed = compress(&message, 6, 15).expect("smaller");
        assert_eq!(decompress(&compressed, message.len()), Ok(message));
    }

    #[test]
    fn inflating_stops_at_the_limit() {
        let bomb = compress(&vec![0u8; 10 << 20], 9, 15).expect("very much smaller");
        assert!(bomb.len() < 20_000, "{}", bomb.len());
        assert_eq!(decompress(&bomb, 65_536), Err(InflateError::TooBig));
        let exact = compress(&[b'a'; 1000], 1, 15).expect("smaller");
        assert_eq!(decompress(&exact, 1000).map(|m| m.len()), Ok(1000));
        assert_eq!(decompress(&exact, 999), Err(InflateError::TooBig));
    }

    #[test]
    fn garbage_is_corrupt_and_the_next_message_still_inflates() {
        // Block type 3 is reserved.
        assert_eq!(
            decompress(&[0xff, 0xff, 0xff], 1024),
            Err(InflateError::Corrupt)
        );
        let good = compress(b"aaaaaaaaaaaaaaaaaaaa", 1, 15).expect("smaller");
        assert_eq!(
            decompress(&good, 1024),
            Ok(b"aaaaaaaaaaaaaaaaaaaa".to_vec())
        );
    }

    #[test]
    fn an_empty_compressed_message_inflates_to_nothing() {
        // What a client sends for an empty message: one empty stored block, tail removed.
        assert_eq!(decompress(&[0x00], 1024), Ok(Vec::new()));
        // A final empty fixed block.
        assert_eq!(decompress(&[0x03, 0x00], 1024), Ok(Vec::new()));
    }
}
