//! Any bytes from Redis frame to RESP values and at most one error, never a panic, and reading
//! them in chunks of any size (derived from the input, see `chunked.rs`) gives exactly the
//! frames, the error and the unconsumed tail of reading them at once. Compared up to and
//! including the first error: after one the connection is dropped. No frame taken off the
//! buffer is longer than the limit.
#![no_main]

mod chunked;

use bytes::BytesMut;
use herald_redis::fuzzing::{Frame, RespError, default_max_frame, next_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(input) = chunked::Input::parse(data) else {
        return;
    };
    let limit = input.small_limit.unwrap_or_else(default_max_frame);
    let whole = read(limit, &[input.stream]);
    let chunked = read(limit, &input.chunks());
    assert_eq!(whole, chunked, "chunking changed the result");
});

/// The frames read from `chunks` appended one by one to the buffer, each taken off as soon as
/// it is complete; then the first error, or what was left unconsumed at the end.
fn read(limit: usize, chunks: &[&[u8]]) -> (Vec<Frame>, Result<BytesMut, RespError>) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.len();
            match next_frame(&mut buf, limit) {
                Ok(Some(frame)) => {
                    assert!(before - buf.len() <= limit, "frame over the limit taken");
                    frames.push(frame);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "bytes consumed without a frame");
                    break;
                }
                Err(error) => return (frames, Err(error)),
            }
        }
    }
    (frames, Ok(buf))
}
