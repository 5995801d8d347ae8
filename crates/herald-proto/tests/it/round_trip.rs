//! encode -> decode is the identity, for every message shape and both protocols.

use bytes::Bytes;
use herald_proto::*;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::strategies::{self, Payload};

/// Encodes each message, joins them into one frame, and decodes the frame.
fn frame_of<M>(
    protocol: Protocol,
    messages: &[M],
    encode: impl Fn(Protocol, &M) -> Result<Bytes, EncodeError>,
) -> Bytes {
    let mut frame = FrameWriter::new(protocol);
    for message in messages {
        frame.push(&encode(protocol, message).expect("encodes"));
    }
    frame.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn json_command(command in strategies::command(Payload::Json)) {
        let bytes = encode_command(Protocol::Json, &command).expect("encodes");
        prop_assert!(!bytes.contains(&b'\n'));
        prop_assert_eq!(decode_commands(Protocol::Json, &bytes).expect("decodes"), vec![command]);
    }

    #[test]
    fn protobuf_command(command in strategies::command(Payload::Binary)) {
        let bytes = encode_command(Protocol::Protobuf, &command).expect("encodes");
        prop_assert_eq!(
            decode_commands(Protocol::Protobuf, &bytes).expect("decodes"),
            vec![command]
        );
    }

    #[test]
    fn json_reply(reply in strategies::reply(Payload::Json)) {
        let bytes = encode_reply(Protocol::Json, &reply).expect("encodes");
        prop_assert!(!bytes.contains(&b'\n'));
        prop_assert_eq!(decode_reply(Protocol::Json, &bytes).expect("decodes"), vec![reply]);
    }

    #[test]
    fn protobuf_reply(reply in strategies::reply(Payload::Binary)) {
        let bytes = encode_reply(Protocol::Protobuf, &reply).expect("encodes");
        prop_assert_eq!(decode_reply(Protocol::Protobuf, &bytes).expect("decodes"), vec![reply]);
    }

    #[test]
    fn push_equals_reply_with_push(push in strategies::push(Payload::Json)) {
        let reply = Reply { push: Some(push.clone()), ..Default::default() };
        for protocol in [Protocol::Json, Protocol::Protobuf] {
            let direct = encode_push(protocol, &push).expect("encodes");
            prop_assert_eq!(&direct, &encode_reply(protocol, &reply).expect("encodes"));
            prop_assert_eq!(decode_reply(protocol, &direct).expect("decodes"), vec![reply.clone()]);
        }
    }

    #[test]
    fn protobuf_push_with_binary_payload(push in strategies::push(Payload::Binary)) {
        let reply = Reply { push: Some(push.clone()), ..Default::default() };
        let direct = encode_push(Protocol::Protobuf, &push).expect("encodes");
        prop_assert_eq!(&direct, &encode_reply(Protocol::Protobuf, &reply).expect("encodes"));
    }

    #[test]
    fn multi_message_command_frames(
        json in vec(strategies::command(Payload::Json), 1..5),
        binary in vec(strategies::command(Payload::Binary), 1..5),
    ) {
        let frame = frame_of(Protocol::Json, &json, encode_command);
        prop_assert_eq!(decode_commands(Protocol::Json, &frame).expect("decodes"), json.clone());
        // A reader accepts one trailing newline.
        let mut trailing = frame.to_vec();
        trailing.push(b'\n');
        prop_assert_eq!(decode_commands(Protocol::Json, &trailing).expect("decodes"), json);

        let frame = frame_of(Protocol::Protobuf, &binary, encode_command);
        prop_assert_eq!(decode_commands(Protocol::Protobuf, &frame).expect("decodes"), binary);
    }

    #[test]
    fn multi_message_reply_frames(
        json in vec(strategies::reply(Payload::Json), 1..4),
        binary in vec(strategies::reply(Payload::Binary), 1..4),
    ) {
        let frame = frame_of(Protocol::Json, &json, encode_reply);
        prop_assert_eq!(decode_reply(Protocol::Json, &frame).expect("decodes"), json);
        let frame = frame_of(Protocol::Protobuf, &binary, encode_reply);
        prop_assert_eq!(decode_reply(Protocol::Protobuf, &frame).expect("decodes"), binary);
    }

    #[test]
    fn unframed_emulation_request(
        json in strategies::emulation_request(Payload::Json),
        binary in strategies::emulation_request(Payload::Binary),
    ) {
        let bytes = encode_message(Protocol::Json, &json).expect("encodes");
        prop_assert_eq!(decode_message::<EmulationRequest>(Protocol::Json, &bytes).expect("decodes"), json);
        let bytes = encode_message(Protocol::Protobuf, &binary).expect("encodes");
        prop_assert_eq!(decode_message::<EmulationRequest>(Protocol::Protobuf, &bytes).expect("decodes"), binary);
    }

    /// Pretty-printed payloads lose their raw newlines, and nothing else.
    #[test]
    fn json_payload_newlines_are_stripped(value in strategies::json_value()) {
        prop_assume!(!value.is_null());
        let pretty = serde_json::to_vec_pretty(&value).expect("serializes");
        let push = Push {
            channel: "c".into(),
            r#pub: Some(Publication { data: Bytes::from(pretty.clone()), ..Default::default() }),
            ..Default::default()
        };
        let bytes = encode_push(Protocol::Json, &push).expect("encodes");
        prop_assert!(!bytes.contains(&b'\n'));
        let decoded = decode_reply(Protocol::Json, &bytes).expect("decodes");
        let data = decoded[0].push.as_ref().and_then(|p| p.r#pub.as_ref()).map(|p| p.data.clone());
        let stripped: Vec<u8> = pretty.iter().copied().filter(|&b| b != b'\n').collect();
        prop_assert_eq!(data, Some(Bytes::from(stripped.clone())));
        let before: serde_json::Value = serde_json::from_slice(&pretty).expect("JSON");
        let after: serde_json::Value = serde_json::from_slice(&stripped).expect("still JSON");
        prop_assert_eq!(after, before);
    }
}
