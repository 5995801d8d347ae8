//! Any frame decodes to commands or an error, never a panic; whatever decodes re-encodes and
//! decodes back to the same commands.
#![no_main]

use herald_proto::{Protocol, decode_commands, encode_command};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    let Ok(commands) = decode_commands(Protocol::Protobuf, frame) else {
        return;
    };
    for command in commands {
        let encoded = encode_command(Protocol::Protobuf, &command).expect("decoded commands re-encode");
        let again = decode_commands(Protocol::Protobuf, &encoded).expect("re-encoded commands decode");
        assert_eq!(again, [command]);
    }
});
