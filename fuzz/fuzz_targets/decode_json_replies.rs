//! Any frame decodes to replies or an error, never a panic; whatever decodes re-encodes and
//! decodes back to the same replies.
#![no_main]

use herald_proto::{Protocol, decode_reply, encode_reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    let Ok(replies) = decode_reply(Protocol::Json, frame) else {
        return;
    };
    for reply in replies {
        let encoded = encode_reply(Protocol::Json, &reply).expect("decoded replies re-encode");
        let again = decode_reply(Protocol::Json, &encoded).expect("re-encoded replies decode");
        assert_eq!(again, [reply]);
    }
});
