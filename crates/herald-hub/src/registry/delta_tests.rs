//! Fan-out to subscribers that negotiated delta compression, as a table: a script of broker
//! events around one delta subscription, and what its client receives. Every row also plays
//! the SDK's part (apply each patch to the payload it holds, parse JSON strings) and checks
//! that the client ends up with exactly the payloads published.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use herald_engine::{BrokerEventHandler, Publication, StreamPosition};
use herald_proto::{Protocol, Reply, SubscribeResult};

use super::{NewSubscriber, Registry};
use crate::outbox::{Drained, Outbox};

const CHANNEL: &str = "ch";
const EPOCH: &str = "epochAAA";

#[derive(Debug, Clone, Copy)]
enum Step {
    /// A publication at this offset (0: without history) asking for a delta.
    Pub(u64),
    /// A publication at this offset that does not ask for a delta.
    Plain(u64),
    /// A publication whose payload shares nothing with the previous one.
    Unrelated(u64),
    /// The subscribe reply is queued; a positioned one carries this offset.
    Activate(Option<u64>),
}

/// What the client receives, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Reply,
    /// The full payload of the publication at this offset.
    Full(u64),
    /// A patch for the publication at this offset.
    Patch(u64),
}

struct Row {
    case: &'static str,
    protocol: Protocol,
    positioned: bool,
    steps: &'static [Step],
    expected: &'static [Item],
}

const BASE: Row = Row {
    case: "",
    protocol: Protocol::Json,
    positioned: true,
    steps: &[],
    expected: &[],
};

use Item::{Full as F, Patch as D, Reply as R};
use Step::{Activate, Plain, Pub, Unrelated};

const ROWS: &[Row] = &[
    Row {
        case: "the first publication after subscribing is full, the next ones are patches",
        steps: &[Activate(Some(2)), Pub(3), Pub(4), Pub(5)],
        expected: &[R, F(3), D(4), D(5)],
        ..BASE
    },
    Row {
        case: "the same over Protobuf",
        protocol: Protocol::Protobuf,
        steps: &[Activate(Some(2)), Pub(3), Pub(4), Pub(5)],
        expected: &[R, F(3), D(4), D(5)],
        ..BASE
    },
    Row {
        case: "a publication without the delta flag is full; the next patch is against it",
        steps: &[Activate(Some(2)), Pub(3), Plain(4), Pub(5)],
        expected: &[R, F(3), F(4), D(5)],
        ..BASE
    },
    Row {
        case: "publications buffered while pending are full; a live one after them is a patch",
        steps: &[Pub(2), Pub(3), Activate(Some(2)), Pub(4)],
        expected: &[R, F(3), D(4)],
        ..BASE
    },
    Row {
        case: "a publication outside the stream resets the client's base: the next is full",
        steps: &[Activate(Some(2)), Pub(3), Pub(0), Pub(4), Pub(5)],
        expected: &[R, F(3), F(0), F(4), D(5)],
        ..BASE
    },
    Row {
        case: "a patch that is not smaller than the payload is sent full",
        steps: &[Activate(Some(2)), Pub(3), Unrelated(4), Pub(5)],
        expected: &[R, F(3), F(4), F(5)],
        ..BASE
    },
    Row {
        case: "a subscriber without positions always gets full payloads",
        positioned: false,
        steps: &[Activate(None), Pub(3), Pub(4)],
        expected: &[R, F(3), F(4)],
        ..BASE
    },
    Row {
        case: "the channel's first publications after the first delta subscriber are full",
        steps: &[Activate(Some(0)), Pub(1), Pub(2)],
        expected: &[R, F(1), D(2)],
        ..BASE
    },
];

#[test]
fn delta_table() {
    let mut failures = Vec::new();
    for row in ROWS {
        let (items, payloads) = run(row);
        let published: Vec<Vec<u8>> = row
            .expected
            .iter()
            .filter_map(|item| match item {
                Item::Full(offset) | Item::Patch(offset) => Some(payload(row, *offset)),
                Item::Reply => None,
            })
            .collect();
        if items != row.expected || payloads != published {
            failures.push(format!(
                "{}:\n    want {:?}\n    got  {items:?} (payloads as published: {})",
                row.case,
                row.expected,
                payloads == published
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn subscribers_share_each_variant_and_plain_subscribers_see_no_change() {
    let registry = Registry::new();
    let mut outboxes = Vec::new();
    for (name, protocol, delta) in [
        ("json-delta-1", Protocol::Json, true),
        ("json-delta-2", Protocol::Json, true),
        ("json-plain", Protocol::Json, false),
        ("pb-delta", Protocol::Protobuf, true),
        ("pb-plain", Protocol::Protobuf, false),
    ] {
        let outbox = Arc::new(Outbox::new(protocol, 1 << 20));
        let client: Arc<str> = Arc::from(name);
        let spec = NewSubscriber {
            outbox: outbox.clone(),
            push_join_leave: false,
            positioned: true,
            server_side: false,
            delta,
        };
        registry.add_pending(CHANNEL, &client, spec).expect("new");
        registry.activate(CHANNEL, &client, None, Some(position(2)));
        outboxes.push((client, outbox));
    }
    for offset in 3..=4 {
        publish(&registry, offset, &payload(&BASE, offset), true);
    }
    let drained: Vec<Vec<Bytes>> = outboxes.iter().map(|(_, o)| messages(o)).collect();
    assert_eq!(drained[0].len(), 2);
    for (first, second) in drained[0].iter().zip(&drained[1]) {
        assert_eq!(first.as_ptr(), second.as_ptr(), "one encoding shared");
    }
    let json_plain = String::from_utf8(drained[2][1].to_vec()).expect("UTF-8");
    assert!(
        json_plain.contains(r#""data":{"n":4,"#) && !json_plain.contains("delta"),
        "{json_plain}"
    );
    let pb_plain = publications(Protocol::Protobuf, &drained[4]);
    assert_eq!(pb_plain[1].data, payload(&BASE, 4));
    assert!(!pb_plain[1].delta);
    assert!(publications(Protocol::Protobuf, &drained[3])[1].delta);

    // The chain lives while delta subscribers do.
    let has_chain = |registry: &Registry| {
        registry
            .shard(CHANNEL)
            .get(CHANNEL)
            .is_some_and(|c| c.delta.is_some())
    };
    for (client, _) in &outboxes[..4] {
        assert!(has_chain(&registry));
        registry.remove(CHANNEL, client);
    }
    assert!(!has_chain(&registry), "only a plain subscriber is left");
}

/// Runs a row: what the client received, and the payloads it rebuilt from it.
fn run(row: &Row) -> (Vec<Item>, Vec<Vec<u8>>) {
    let registry = Registry::new();
    let outbox = Arc::new(Outbox::new(row.protocol, 1 << 20));
    let client: Arc<str> = Arc::from("client");
    let spec = NewSubscriber {
        outbox: outbox.clone(),
        push_join_leave: false,
        positioned: row.positioned,
        server_side: false,
        delta: true,
    };
    registry.add_pending(CHANNEL, &client, spec).expect("new");
    for step in row.steps {
        match *step {
            Step::Pub(offset) => publish(&registry, offset, &payload(row, offset), true),
            Step::Plain(offset) => publish(&registry, offset, &payload(row, offset), false),
            Step::Unrelated(offset) => publish(&registry, offset, &payload(row, offset), true),
            Step::Activate(offset) => {
                let reply = Reply {
                    id: 2,
                    subscribe: Some(SubscribeResult::default()),
                    ..Default::default()
                };
                let reply = herald_proto::encode_reply(row.protocol, &reply).expect("encodes");
                registry.activate(CHANNEL, &client, Some(reply), offset.map(position));
            }
        }
    }
    let mut items = Vec::new();
    let mut rebuilt = Vec::new();
    let mut base: Vec<u8> = Vec::new();
    for message in messages(&outbox) {
        for reply in herald_proto::decode_reply(row.protocol, &message).expect("valid") {
            let Some(publication) = reply.push.and_then(|p| p.r#pub) else {
                items.push(Item::Reply);
                continue;
            };
            // The SDK's part: a JSON delta subscription's data is always a string.
            let data = match row.protocol {
                Protocol::Json => serde_json::from_slice::<String>(&publication.data)
                    .expect("a JSON string")
                    .into_bytes(),
                Protocol::Protobuf => publication.data.to_vec(),
            };
            let offset = publication.offset;
            let full = if publication.delta {
                items.push(Item::Patch(offset));
                assert!(data.len() < base.len() + 20, "a patch is small");
                herald_delta::apply(&base, &data).expect("the patch applies")
            } else {
                items.push(Item::Full(offset));
                data
            };
            base.clone_from(&full);
            rebuilt.push(full);
        }
    }
    (items, rebuilt)
}

/// The payload published at `offset`: similar ones, except for an `Unrelated` step's.
fn payload(row: &Row, offset: u64) -> Vec<u8> {
    let unrelated = row
        .steps
        .iter()
        .any(|s| matches!(s, Step::Unrelated(o) if *o == offset));
    if unrelated {
        format!(r#"{{"other":{offset}}}"#).into_bytes()
    } else {
        format!(r#"{{"n":{offset},"text":"{}"}}"#, "é".repeat(100)).into_bytes()
    }
}

fn publish(registry: &Registry, offset: u64, data: &[u8], delta: bool) {
    let publication = Publication {
        offset,
        data: Bytes::copy_from_slice(data),
        delta,
        ..Default::default()
    };
    let position = if offset == 0 {
        StreamPosition::default()
    } else {
        position(offset)
    };
    registry.handle_publication(CHANNEL, &publication, &position);
}

fn position(offset: u64) -> StreamPosition {
    StreamPosition {
        offset,
        epoch: EPOCH.into(),
    }
}

fn messages(outbox: &Outbox) -> Vec<Bytes> {
    let mut cx = Context::from_waker(Waker::noop());
    match outbox.poll_drain(&mut cx) {
        Poll::Ready(Drained::Messages(messages)) => messages,
        other => panic!("expected messages, got {other:?}"),
    }
}

fn publications(protocol: Protocol, messages: &[Bytes]) -> Vec<herald_proto::Publication> {
    messages
        .iter()
        .flat_map(|m| herald_proto::decode_reply(protocol, m).expect("valid"))
        .filter_map(|r| r.push.and_then(|p| p.r#pub))
        .collect()
}
