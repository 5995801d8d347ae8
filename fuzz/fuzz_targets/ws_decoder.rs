//! Any bytes from a WebSocket client decode to messages and at most one error, never a panic,
//! and feeding them in chunks of any size (derived from the input, see `chunked.rs`) gives
//! exactly the messages and the error of feeding them at once. Compared up to and including the
//! first error: after one the decoder's behaviour is unspecified (the connection is closed).
//! Also checks what the decoder promises about each message: text is UTF-8, no message is over
//! the limit, control payloads fit a control frame, close codes are ones a client may send.
//! Run twice: without extensions, and with permessage-deflate negotiated (RSV1 frames are
//! inflated, within the limit).
#![no_main]

mod chunked;

use herald_ws::{Decoder, FrameError, Incoming};
use libfuzzer_sys::fuzz_target;

/// The server's default `message_size_limit`.
const DEFAULT_LIMIT: usize = 65_536;

fuzz_target!(|data: &[u8]| {
    let Some(input) = chunked::Input::parse(data) else {
        return;
    };
    let limit = input.small_limit.unwrap_or(DEFAULT_LIMIT);
    for deflate in [false, true] {
        let whole = decode(limit, deflate, &[input.stream]);
        let chunked = decode(limit, deflate, &input.chunks());
        assert_eq!(whole, chunked, "chunking changed the result");
        for message in &whole.0 {
            check(message, limit);
        }
    }
});

/// The messages decoded from `chunks` fed one by one, and the first error.
fn decode(limit: usize, deflate: bool, chunks: &[&[u8]]) -> (Vec<Incoming>, Option<FrameError>) {
    let mut decoder = match deflate {
        true => Decoder::with_deflate(limit),
        false => Decoder::new(limit),
    };
    let mut out = Vec::new();
    for chunk in chunks {
        if let Err(error) = decoder.feed(&mut chunk.to_vec(), &mut out) {
            return (out, Some(error));
        }
    }
    (out, None)
}

fn check(message: &Incoming, limit: usize) {
    match message {
        Incoming::Data { text, payload } => {
            assert!(payload.len() <= limit, "message over the limit");
            if *text {
                assert!(std::str::from_utf8(payload).is_ok(), "text not UTF-8");
            }
        }
        Incoming::Ping(payload) => assert!(payload.len() <= 125, "oversized ping"),
        Incoming::Pong => {}
        Incoming::Close(code) => {
            if let Some(code) = code {
                assert!(
                    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999),
                    "close code {code} accepted"
                );
            }
        }
    }
}
