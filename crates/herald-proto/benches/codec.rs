//! Codec microbenchmarks: encoding a publication push and decoding client command frames, in
//! both wire protocols.
//!
//! - `encode_push`: one `Push` carrying a `Publication` with a 128 B or 4 KiB JSON payload,
//!   through [`herald_proto::encode_push`]. Throughput is the encoded message's size.
//! - `decode_commands`: a frame of 1 or 10 `publish` commands (128 B JSON payload each), built
//!   with [`herald_proto::encode_command`] + [`herald_proto::append_to_frame`], through
//!   [`herald_proto::decode_commands`]. Throughput is the frame's size and its command count.
//!
//! Run with `cargo bench -p herald-proto --bench codec` (add a filter such as `-- encode` to
//! run a subset).

use bytes::{Bytes, BytesMut};
use divan::counter::{BytesCount, ItemsCount};
use divan::{Bencher, black_box};
use herald_proto::{
    Command, Protocol, Publication, PublishRequest, Push, append_to_frame, decode_commands,
    encode_command, encode_push,
};

fn main() {
    divan::main();
}

/// A valid JSON object of exactly `len` bytes (`len` >= 8).
fn json_payload(len: usize) -> Bytes {
    let filler = len - r#"{"d":""}"#.len();
    Bytes::from(format!(r#"{{"d":"{}"}}"#, "x".repeat(filler)))
}

fn publication_push(payload_len: usize) -> Push {
    Push {
        channel: "chat:room-42".into(),
        r#pub: Some(Publication {
            data: json_payload(payload_len),
            offset: 123_456,
            time: 1_763_780_000_000,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn encode(bencher: Bencher<'_, '_>, protocol: Protocol, payload_len: usize) {
    let push = publication_push(payload_len);
    let encoded_len = encode_push(protocol, &push).expect("push encodes").len();
    bencher
        .counter(BytesCount::new(encoded_len))
        .bench_local(|| encode_push(black_box(protocol), black_box(&push)));
}

/// Encoding one publication push (the per-protocol work of a fan-out).
mod encode_push {
    use super::*;

    #[divan::bench(args = [128, 4096])]
    fn json(bencher: Bencher<'_, '_>, payload_len: usize) {
        encode(bencher, Protocol::Json, payload_len);
    }

    #[divan::bench(args = [128, 4096])]
    fn protobuf(bencher: Bencher<'_, '_>, payload_len: usize) {
        encode(bencher, Protocol::Protobuf, payload_len);
    }
}

fn command_frame(protocol: Protocol, commands: u32) -> Bytes {
    let mut frame = BytesMut::new();
    for id in 1..=commands {
        let command = Command {
            id,
            publish: Some(PublishRequest {
                channel: "chat:room-42".into(),
                data: json_payload(128),
                ..Default::default()
            }),
            ..Default::default()
        };
        let encoded = encode_command(protocol, &command).expect("command encodes");
        append_to_frame(protocol, &mut frame, &encoded);
    }
    frame.freeze()
}

fn decode(bencher: Bencher<'_, '_>, protocol: Protocol, commands: u32) {
    let frame = command_frame(protocol, commands);
    let decoded = decode_commands(protocol, &frame).expect("frame decodes");
    assert_eq!(decoded.len(), commands as usize);
    bencher
        .counter(BytesCount::new(frame.len()))
        .counter(ItemsCount::new(commands))
        .bench_local(|| decode_commands(black_box(protocol), black_box(&frame)));
}

/// Decoding one client frame of N `publish` commands.
mod decode_commands {
    use super::*;

    #[divan::bench(args = [1, 10])]
    fn json(bencher: Bencher<'_, '_>, commands: u32) {
        decode(bencher, Protocol::Json, commands);
    }

    #[divan::bench(args = [1, 10])]
    fn protobuf(bencher: Bencher<'_, '_>, commands: u32) {
        decode(bencher, Protocol::Protobuf, commands);
    }
}
