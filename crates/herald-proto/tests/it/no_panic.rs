//! Decoders fed hostile input return errors; they never panic or allocate from a length prefix.

use herald_proto::*;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::strategies::{self, Payload};

fn decode_everything(bytes: &[u8]) {
    for protocol in [Protocol::Json, Protocol::Protobuf] {
        let _ = decode_commands(protocol, bytes);
        let _ = decode_reply(protocol, bytes);
        let _ = decode_message::<EmulationRequest>(protocol, bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_bytes(bytes in vec(any::<u8>(), 0..256)) {
        decode_everything(&bytes);
    }

    /// Text made of JSON's own tokens reaches deeper into the JSON decoder than random bytes.
    #[test]
    fn json_shaped_text(text in "[{}\\[\\]\":,0-9a-z_ \n.-]{0,96}") {
        decode_everything(text.as_bytes());
    }

    /// Valid frames with bytes flipped, cut or inserted.
    #[test]
    fn mutated_frames(
        command in strategies::command(Payload::Json),
        reply in strategies::reply(Payload::Json),
        edits in vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        for protocol in [Protocol::Json, Protocol::Protobuf] {
            for encoded in [
                encode_command(protocol, &command).expect("encodes"),
                encode_reply(protocol, &reply).expect("encodes"),
            ] {
                let mut bytes = encoded.to_vec();
                for (at, byte, kind) in &edits {
                    if bytes.is_empty() {
                        break;
                    }
                    let i = at.index(bytes.len());
                    match kind {
                        0 => bytes[i] = *byte,
                        1 => bytes.truncate(i),
                        _ => bytes.insert(i, *byte),
                    }
                }
                decode_everything(&bytes);
            }
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let depth = 10_000;
    let json = format!(
        "{{\"subscribe\":{{\"tf\":{}{}}}}}",
        "{\"nodes\":[".repeat(depth),
        "]}".repeat(depth)
    );
    assert!(decode_commands(Protocol::Json, json.as_bytes()).is_err());
    // Deep but valid JSON in an unknown field or a raw payload is skipped without recursion,
    // so it is accepted.
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let unknown = format!("{{\"x\":{arrays}}}");
    assert!(decode_commands(Protocol::Json, unknown.as_bytes()).is_ok());
    let payload = format!("{{\"id\":1,\"publish\":{{\"data\":{arrays}}}}}");
    let commands = decode_commands(Protocol::Json, payload.as_bytes()).expect("valid JSON");
    let publish = commands[0].publish.as_ref().expect("publish");
    assert_eq!(publish.data.len(), 2 * depth);

    // Protobuf: FilterNode.nodes (field 6) nested inside itself, innermost first.
    let mut node: Vec<u8> = Vec::new();
    for _ in 0..depth {
        let mut outer = vec![0x32];
        prost::encode_length_delimiter(node.len(), &mut outer).expect("Vec grows");
        outer.extend_from_slice(&node);
        node = outer;
        if node.len() > 1 << 20 {
            break;
        }
    }
    // SubscribeRequest.tf (13) = node; Command.subscribe (5) = request.
    let mut sub = vec![0x6a];
    prost::encode_length_delimiter(node.len(), &mut sub).expect("Vec grows");
    sub.extend_from_slice(&node);
    let mut command = vec![0x2a];
    prost::encode_length_delimiter(sub.len(), &mut command).expect("Vec grows");
    command.extend_from_slice(&sub);
    let mut frame = Vec::new();
    prost::encode_length_delimiter(command.len(), &mut frame).expect("Vec grows");
    frame.extend_from_slice(&command);
    assert!(decode_commands(Protocol::Protobuf, &frame).is_err());
}

#[test]
fn shallow_nesting_is_fine() {
    let json = format!(
        "{{\"subscribe\":{{\"tf\":{}{}}}}}",
        "{\"nodes\":[".repeat(20),
        "]}".repeat(20)
    );
    assert!(decode_commands(Protocol::Json, json.as_bytes()).is_ok());
}
