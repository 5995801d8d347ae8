//! Codec behaviour pinned to exact bytes: framing edge cases, omit rules, raw payloads.

use bytes::Bytes;

use super::*;
use crate::codes::ErrorCode;
use crate::messages::*;

fn json_commands(frame: &str) -> Result<Vec<Command>, DecodeError> {
    decode_commands(Protocol::Json, frame.as_bytes())
}

fn json_reply(reply: &Reply) -> String {
    let bytes = encode_reply(Protocol::Json, reply).expect("encodes");
    String::from_utf8(bytes.to_vec()).expect("JSON is UTF-8")
}

fn json_push(push: &Push) -> String {
    let bytes = encode_push(Protocol::Json, push).expect("encodes");
    String::from_utf8(bytes.to_vec()).expect("JSON is UTF-8")
}

fn raw(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

// --- JSON framing -------------------------------------------------------------------------

#[test]
fn json_single_and_multiple_messages() {
    assert_eq!(json_commands("{}").expect("pong"), [Command::default()]);
    let commands = json_commands("{\"id\":1}\n{\"id\":2}\n{\"id\":3}").expect("three");
    let ids: Vec<u32> = commands.iter().map(|c| c.id).collect();
    assert_eq!(ids, [1, 2, 3]);
}

#[test]
fn json_one_trailing_newline_is_accepted() {
    assert_eq!(json_commands("{\"id\":1}\n").expect("ok").len(), 1);
    assert_eq!(
        json_commands("{\"id\":1}\n{\"id\":2}\n").expect("ok").len(),
        2
    );
}

#[test]
fn json_empty_lines_are_rejected() {
    for (frame, bad) in [
        ("{}\n\n", 1),
        ("{}\n\n{}", 1),
        ("\n{}", 0),
        ("\n", 0),
        ("\n\n", 0),
    ] {
        match json_commands(frame) {
            Err(DecodeError::EmptyMessage { index }) => assert_eq!(index, bad, "{frame:?}"),
            other => panic!("{frame:?}: {other:?}"),
        }
    }
}

#[test]
fn empty_frame_is_rejected() {
    for protocol in [Protocol::Json, Protocol::Protobuf] {
        assert!(matches!(
            decode_commands(protocol, b""),
            Err(DecodeError::EmptyFrame)
        ));
        assert!(matches!(
            decode_reply(protocol, b""),
            Err(DecodeError::EmptyFrame)
        ));
    }
}

#[test]
fn json_error_names_the_bad_message() {
    match json_commands("{}\n{\"id\":1}\n{oops}") {
        Err(DecodeError::Json { index, .. }) => assert_eq!(index, 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn json_rejects_what_is_not_one_object() {
    for frame in [
        "null",
        "[]",
        "1",
        "\"x\"",
        "{} {}",
        "{}x",
        "{",
        " ",
        "{\"id\":1,}",
    ] {
        assert!(json_commands(frame).is_err(), "{frame:?}");
    }
}

#[test]
fn json_rejects_wrong_field_types() {
    for frame in [
        r#"{"id":"1"}"#,
        r#"{"id":-1}"#,
        r#"{"id":1.5}"#,
        r#"{"id":4294967296}"#,
        r#"{"connect":[]}"#,
        r#"{"subscribe":{"recover":1}}"#,
        r#"{"subscribe":{"channel":5}}"#,
        r#"{"connect":{"headers":{"a":1}}}"#,
    ] {
        assert!(json_commands(frame).is_err(), "{frame:?}");
    }
}

#[test]
fn json_whitespace_around_a_message_is_fine() {
    let commands = json_commands(" {\"id\" : 1 }\r\n\t{}\r").expect("ok");
    assert_eq!(commands.len(), 2);
    assert_eq!(commands[0].id, 1);
}

#[test]
fn json_unknown_fields_are_ignored() {
    let frame = r#"{"id":2,"method":1,"subscribe":{"channel":"chat:1","flag":1,"future":{"a":[1,{"b":null}]},"phase":0},"extra":[true]}"#;
    let commands = json_commands(frame).expect("ok");
    let sub = commands[0].subscribe.as_ref().expect("subscribe");
    assert_eq!(commands[0].id, 2);
    assert_eq!(sub.channel, "chat:1");
    assert_eq!(sub.flag, 1);
}

#[test]
fn json_null_means_absent() {
    let frame = r#"{"id":null,"connect":null,"publish":{"channel":null,"data":null,"type":null},"history":{"since":null}}"#;
    let command = json_commands(frame).expect("ok").remove(0);
    assert_eq!(command.id, 0);
    assert_eq!(command.connect, None);
    assert_eq!(command.publish, Some(PublishRequest::default()));
    assert_eq!(command.history, Some(HistoryRequest::default()));
}

#[test]
fn json_keys_with_escapes_are_understood() {
    let command = json_commands(r#"{"i\u0064":5}"#).expect("ok").remove(0);
    assert_eq!(command.id, 5);
}

#[test]
fn json_numbers_fill_64_bit_fields() {
    let frame = r#"{"id":4294967295,"subscribe":{"offset":18446744073709551615,"flag":-9223372036854775808,"limit":-1}}"#;
    let command = json_commands(frame).expect("ok").remove(0);
    let sub = command.subscribe.expect("subscribe");
    assert_eq!(command.id, u32::MAX);
    assert_eq!(sub.offset, u64::MAX);
    assert_eq!(sub.flag, i64::MIN);
    assert_eq!(sub.limit, -1);
}

#[test]
fn json_data_fields_keep_raw_bytes() {
    let frame = r#"{"id":3,"publish":{"channel":"c","data":{"text": "yo", "n":[1, 2.50]}}}
{"id":4,"rpc":{"method":"m","data":"a string"}}
{"send":{"data":42}}
{"id":5,"connect":{"data":[],"subs":{"a":{"data":{"x":"\n"}}}}}"#;
    let commands = json_commands(frame).expect("ok");
    assert_eq!(
        commands[0].publish.as_ref().expect("publish").data,
        raw(r#"{"text": "yo", "n":[1, 2.50]}"#)
    );
    assert_eq!(
        commands[1].rpc.as_ref().expect("rpc").data,
        raw(r#""a string""#)
    );
    assert_eq!(commands[2].send.as_ref().expect("send").data, raw("42"));
    let connect = commands[3].connect.as_ref().expect("connect");
    assert_eq!(connect.data, raw("[]"));
    assert_eq!(connect.subs["a"].data, raw(r#"{"x":"\n"}"#));
}

// --- JSON encoding ------------------------------------------------------------------------

#[test]
fn json_string_payloads_for_delta_subscriptions() {
    // The payload (newlines included, which raw JSON would lose) becomes a string the SDK
    // parses back to the very same bytes; the delta flag is written when set.
    let payload = "{\"text\": \"a\\\"b\u{2028}\",\n \"n\": 1}";
    let data = json_string(payload.as_bytes()).expect("UTF-8");
    let push = Push {
        channel: "c".into(),
        r#pub: Some(Publication {
            data: data.clone(),
            delta: true,
            offset: 2,
            ..Default::default()
        }),
        ..Default::default()
    };
    let json = json_push(&push);
    assert!(
        json.starts_with(r#"{"push":{"channel":"c","pub":{"data":""#),
        "{json}"
    );
    assert!(json.ends_with(r#","offset":2,"delta":true}}}"#), "{json}");
    let back: String = serde_json::from_slice(&data).expect("a JSON string");
    assert_eq!(back, payload);
    assert_eq!(json_string(b"\xff"), None, "not UTF-8");
}

#[test]
fn json_ping_is_empty_object() {
    assert_eq!(json_reply(&Reply::default()), "{}");
}

#[test]
fn json_empty_results_are_written() {
    let publish = Reply {
        id: 2,
        publish: Some(PublishResult {}),
        ..Default::default()
    };
    assert_eq!(json_reply(&publish), r#"{"id":2,"publish":{}}"#);
    let unsubscribe = Reply {
        id: 3,
        unsubscribe: Some(UnsubscribeResult {}),
        ..Default::default()
    };
    assert_eq!(json_reply(&unsubscribe), r#"{"id":3,"unsubscribe":{}}"#);
    let subscribe = Reply {
        id: 4,
        subscribe: Some(SubscribeResult::default()),
        ..Default::default()
    };
    assert_eq!(json_reply(&subscribe), r#"{"id":4,"subscribe":{}}"#);
}

#[test]
fn json_always_written_fields() {
    let stats = Reply {
        id: 4,
        presence_stats: Some(PresenceStatsResult::default()),
        ..Default::default()
    };
    assert_eq!(
        json_reply(&stats),
        r#"{"id":4,"presence_stats":{"num_clients":0,"num_users":0}}"#
    );
    let history = Reply {
        id: 5,
        history: Some(HistoryResult::default()),
        ..Default::default()
    };
    assert_eq!(
        json_reply(&history),
        r#"{"id":5,"history":{"publications":[],"epoch":"","offset":0}}"#
    );
    let presence = Reply {
        id: 6,
        presence: Some(PresenceResult::default()),
        ..Default::default()
    };
    assert_eq!(
        json_reply(&presence),
        r#"{"id":6,"presence":{"presence":{}}}"#
    );
    let join = Push {
        channel: "c".into(),
        join: Some(Join {
            info: Some(ClientInfo::default()),
        }),
        ..Default::default()
    };
    assert_eq!(
        json_push(&join),
        r#"{"push":{"channel":"c","join":{"info":{"user":"","client":""}}}}"#
    );
}

#[test]
fn json_publication_push() {
    let push = Push {
        channel: "chat:1".into(),
        r#pub: Some(Publication {
            data: raw(r#"{"text":"hi"}"#),
            offset: 8,
            ..Default::default()
        }),
        ..Default::default()
    };
    let expected = r#"{"push":{"channel":"chat:1","pub":{"data":{"text":"hi"},"offset":8}}}"#;
    assert_eq!(json_push(&push), expected);
    let reply = Reply {
        push: Some(push),
        ..Default::default()
    };
    assert_eq!(json_reply(&reply), expected);
}

#[test]
fn json_publication_with_info_and_tags() {
    let push = Push {
        channel: "chat:1".into(),
        r#pub: Some(Publication {
            data: raw(r#"{"text":"yo"}"#),
            info: Some(ClientInfo {
                user: "42".into(),
                client: "9a3c".into(),
                conn_info: raw(r#"{"name":"Ann"}"#),
                chan_info: Bytes::new(),
            }),
            offset: 9,
            tags: [("k".to_owned(), "v".to_owned())].into(),
            score: -3,
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        json_push(&push),
        r#"{"push":{"channel":"chat:1","pub":{"data":{"text":"yo"},"info":{"user":"42","client":"9a3c","conn_info":{"name":"Ann"}},"offset":9,"tags":{"k":"v"},"score":-3}}}"#
    );
}

#[test]
fn json_connect_and_error_replies() {
    let connect = Reply {
        id: 1,
        connect: Some(ConnectResult {
            client: "9a3c".into(),
            version: "0.1.0".into(),
            expires: true,
            ttl: 3590,
            ping: 25,
            pong: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        json_reply(&connect),
        r#"{"id":1,"connect":{"client":"9a3c","version":"0.1.0","expires":true,"ttl":3590,"ping":25,"pong":true}}"#
    );
    let error = Reply {
        id: 7,
        error: Some(ErrorCode::INTERNAL.to_proto()),
        ..Default::default()
    };
    assert_eq!(
        json_reply(&error),
        r#"{"id":7,"error":{"code":100,"message":"internal server error","temporary":true}}"#
    );
}

#[test]
fn json_type_fields_use_proto_names() {
    let command = Command {
        id: 1,
        publish: Some(PublishRequest {
            channel: "m".into(),
            r#type: 1,
            ..Default::default()
        }),
        ..Default::default()
    };
    let bytes = encode_command(Protocol::Json, &command).expect("encodes");
    assert_eq!(
        &bytes[..],
        br#"{"id":1,"publish":{"channel":"m","type":1}}"#
    );
    assert_eq!(
        decode_commands(Protocol::Json, &bytes).expect("decodes"),
        [command]
    );
}

#[test]
fn json_raw_newlines_are_removed() {
    let push = Push {
        channel: "c".into(),
        message: Some(Message {
            data: raw("{\n  \"a\": \"x\\ny\",\n  \"b\": [1,\n2]\n}\n"),
        }),
        ..Default::default()
    };
    let json = json_push(&push);
    assert_eq!(
        json,
        r#"{"push":{"channel":"c","message":{"data":{  "a": "x\ny",  "b": [1,2]}}}}"#
    );
    assert!(!json.contains('\n'));
}

#[test]
fn json_binary_payload_is_not_json() {
    let push = Push {
        channel: "c".into(),
        r#pub: Some(Publication {
            data: Bytes::from_static(&[0x0a, 0x03, 0xff, 0x00]),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(matches!(
        encode_push(Protocol::Json, &push),
        Err(EncodeError::NotJson {
            field: "Publication.data"
        })
    ));
    // The same payload is fine over Protobuf.
    assert!(encode_push(Protocol::Protobuf, &push).is_ok());

    let info = Reply {
        push: Some(Push {
            join: Some(Join {
                info: Some(ClientInfo {
                    conn_info: raw("{not json"),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(matches!(
        encode_reply(Protocol::Json, &info),
        Err(EncodeError::NotJson {
            field: "ClientInfo.conn_info"
        })
    ));
}

#[test]
fn json_strings_are_escaped() {
    let reply = Reply {
        id: 1,
        error: Some(Error {
            code: 400,
            message: "quote \" backslash \\ nl \n ctl \u{1} ünï 😀".into(),
            temporary: false,
        }),
        ..Default::default()
    };
    let json = json_reply(&reply);
    assert_eq!(
        json,
        "{\"id\":1,\"error\":{\"code\":400,\"message\":\"quote \\\" backslash \\\\ nl \\n ctl \\u0001 ünï 😀\"}}"
    );
    assert_eq!(
        decode_reply(Protocol::Json, json.as_bytes()).expect("decodes"),
        [reply]
    );
}

// --- Protobuf -----------------------------------------------------------------------------

#[test]
fn protobuf_ping_is_one_zero_byte() {
    let bytes = encode_reply(Protocol::Protobuf, &Reply::default()).expect("encodes");
    assert_eq!(&bytes[..], [0x00]);
    assert_eq!(
        decode_reply(Protocol::Protobuf, &[0x00]).expect("decodes"),
        [Reply::default()]
    );
    assert_eq!(
        decode_commands(Protocol::Protobuf, &[0x00, 0x00]).expect("two pongs"),
        [Command::default(), Command::default()]
    );
}

#[test]
fn protobuf_push_matches_reply_encoding() {
    let push = Push {
        id: 7,
        channel: "chat:1".into(),
        r#pub: Some(Publication {
            data: Bytes::from(vec![7u8; 300]),
            offset: 8,
            ..Default::default()
        }),
        ..Default::default()
    };
    let reply = Reply {
        push: Some(push.clone()),
        ..Default::default()
    };
    let direct = encode_push(Protocol::Protobuf, &push).expect("encodes");
    let via_reply = encode_reply(Protocol::Protobuf, &reply).expect("encodes");
    assert_eq!(direct, via_reply);
    assert_eq!(
        decode_reply(Protocol::Protobuf, &direct).expect("decodes"),
        [reply]
    );
}

#[test]
fn protobuf_frame_of_several_messages() {
    let commands = [
        Command {
            id: 1,
            connect: Some(ConnectRequest {
                token: "t".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        Command::default(),
        Command {
            id: 2,
            subscribe: Some(SubscribeRequest {
                channel: "c".into(),
                flag: 1,
                ..Default::default()
            }),
            ..Default::default()
        },
    ];
    let mut frame = FrameWriter::new(Protocol::Protobuf);
    for command in &commands {
        frame.push(&encode_command(Protocol::Protobuf, command).expect("encodes"));
    }
    let frame = frame.finish();
    assert_eq!(
        decode_commands(Protocol::Protobuf, &frame).expect("decodes"),
        commands
    );
}

#[test]
fn protobuf_truncation_is_an_error() {
    let bytes = encode_command(
        Protocol::Protobuf,
        &Command {
            id: 300,
            ..Default::default()
        },
    )
    .expect("encodes");
    assert_eq!(&bytes[..], [3, 8, 0xac, 0x02]);
    assert!(matches!(
        decode_commands(Protocol::Protobuf, &bytes[..3]),
        Err(DecodeError::Truncated {
            index: 0,
            declared: 3,
            remaining: 2
        })
    ));
    // A good message followed by a cut-off length prefix.
    assert!(matches!(
        decode_commands(Protocol::Protobuf, &[0x00, 0x80]),
        Err(DecodeError::LengthPrefix { index: 1 })
    ));
    // A varint longer than ten bytes.
    assert!(matches!(
        decode_commands(Protocol::Protobuf, &[0xff; 11]),
        Err(DecodeError::LengthPrefix { index: 0 })
    ));
    // A huge declared length allocates nothing: it is compared with what is left first.
    assert!(matches!(
        decode_commands(Protocol::Protobuf, &[0xff, 0xff, 0xff, 0xff, 0x0f, 0x08]),
        Err(DecodeError::Truncated { .. })
    ));
    // A body that is not a Command.
    assert!(matches!(
        decode_commands(Protocol::Protobuf, &[0x02, 0x08, 0x80]),
        Err(DecodeError::Protobuf { index: 0, .. })
    ));
}

#[test]
fn protobuf_ignores_unknown_fields() {
    // id = 1, then field 99 (varint) = 5.
    let body = [0x08, 0x01, 0x98, 0x06, 0x05];
    let mut frame = vec![body.len() as u8];
    frame.extend_from_slice(&body);
    let commands = decode_commands(Protocol::Protobuf, &frame).expect("decodes");
    assert_eq!(commands[0].id, 1);
}

// --- Unframed messages --------------------------------------------------------------------

#[test]
fn unframed_messages_round_trip() {
    let request = EmulationRequest {
        node: "n1".into(),
        session: "s".into(),
        data: raw(r#"{"id":1}"#),
    };
    let json = encode_message(Protocol::Json, &request).expect("encodes");
    assert_eq!(&json[..], br#"{"node":"n1","session":"s","data":{"id":1}}"#);
    for protocol in [Protocol::Json, Protocol::Protobuf] {
        let bytes = encode_message(protocol, &request).expect("encodes");
        let back: EmulationRequest = decode_message(protocol, &bytes).expect("decodes");
        assert_eq!(back, request);
    }
    let bare = Push {
        channel: "c".into(),
        disconnect: Some(crate::DisconnectCode::SHUTDOWN.to_proto()),
        ..Default::default()
    };
    let json = encode_message(Protocol::Json, &bare).expect("encodes");
    assert_eq!(
        &json[..],
        br#"{"channel":"c","disconnect":{"code":3001,"reason":"shutdown","reconnect":true}}"#
    );
}

#[test]
fn bare_push_ranges_slice_the_push_out_of_its_reply() {
    let push = Push {
        channel: "news".into(),
        ..Default::default()
    };
    for protocol in [Protocol::Json, Protocol::Protobuf] {
        let reply = encode_push(protocol, &push).expect("encodes");
        let range = bare_push_range(protocol, &reply).expect("a push");
        let bare = encode_message(protocol, &push).expect("encodes");
        assert_eq!(&reply[range], &bare[..], "{protocol:?}");
    }
    // A Protobuf ping is an empty reply: the empty push.
    assert_eq!(bare_push_range(Protocol::Protobuf, &[0]), Some(1..1));
    let other = encode_reply(
        Protocol::Protobuf,
        &Reply {
            id: 1,
            ..Default::default()
        },
    )
    .expect("encodes");
    assert_eq!(bare_push_range(Protocol::Protobuf, &other), None);
    assert_eq!(bare_push_range(Protocol::Protobuf, &[5, 0x22]), None);
    assert_eq!(bare_push_range(Protocol::Json, b"{}"), None);
}
