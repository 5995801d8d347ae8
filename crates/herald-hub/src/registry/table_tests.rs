//! The registry as a table: a script of broker events around one subscription (registered
//! pending, then activated with the position its reply carries), and what the connection's
//! queues hold afterwards. Rows cover the pending-then-activate handshake, gaps and new epochs
//! while pending and after, the pending buffer's bound (3008), server-side subscriptions
//! (3010) and payloads a JSON connection cannot carry (3506).

use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use herald_engine::{BrokerEventHandler, ClientInfo, Publication, StreamPosition};
use herald_proto::{Protocol, Reply, SubscribeResult};

use super::{NewSubscriber, Registry};
use crate::outbox::{Drained, Outbox};
use crate::session::Control;

const CHANNEL: &str = "ch";
const EPOCH: &str = "epochAAA";
const OTHER_EPOCH: &str = "epochBBB";

/// One broker event or registry call.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// A publication at this offset of this epoch (offset 0: published without history).
    Pub(u64, &'static str),
    /// A publication whose payload is not JSON (binary).
    BinaryPub(u64),
    /// The broker may have lost events of every channel.
    Gap,
    /// A join in the channel.
    Join,
    /// The subscribe reply is queued; a positioned one carries this offset (of [`EPOCH`]).
    Activate(Option<u64>),
}

/// What the connection's outbox holds, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    /// The subscribe reply.
    Reply,
    /// A publication push with this offset.
    Pub(u64),
    /// An unsubscribe push with this code.
    Unsubscribe(u32),
    /// A join push.
    Join,
}

struct Row {
    case: &'static str,
    protocol: Protocol,
    positioned: bool,
    server_side: bool,
    push_join_leave: bool,
    /// `client.queue_max_size`.
    queue: usize,
    steps: &'static [Step],
    expected: &'static [Item],
    /// The close code, if the connection is closed.
    close: Option<u16>,
    /// The session was told to forget the subscription (it lost its place).
    dropped: bool,
}

/// A positioned JSON subscription with a roomy queue, nothing expected: rows override.
const BASE: Row = Row {
    case: "",
    protocol: Protocol::Json,
    positioned: true,
    server_side: false,
    push_join_leave: false,
    queue: 1 << 20,
    steps: &[],
    expected: &[],
    close: None,
    dropped: false,
};

use Item::{Pub as P, Reply as R, Unsubscribe as U};
use Step::{Activate, BinaryPub, Gap, Join, Pub};

const ROWS: &[Row] = &[
    Row {
        case: "publications while pending: those past the reply's position follow it",
        steps: &[
            Pub(2, EPOCH),
            Pub(3, EPOCH),
            Pub(4, EPOCH),
            Activate(Some(2)),
        ],
        expected: &[R, P(3), P(4)],
        ..BASE
    },
    Row {
        case: "publications while pending that the reply covers are not repeated",
        steps: &[Pub(1, EPOCH), Pub(2, EPOCH), Activate(Some(2))],
        expected: &[R],
        ..BASE
    },
    Row {
        case: "a publication without history while pending is delivered as it is",
        steps: &[Pub(0, ""), Pub(3, EPOCH), Activate(Some(2))],
        expected: &[R, P(0), P(3)],
        ..BASE
    },
    Row {
        case: "after activation: next delivered, duplicate skipped",
        steps: &[
            Activate(Some(2)),
            Pub(2, EPOCH),
            Pub(3, EPOCH),
            Pub(3, EPOCH),
            Pub(4, EPOCH),
        ],
        expected: &[R, P(3), P(4)],
        ..BASE
    },
    Row {
        case: "a gap while pending: the reply, then unsubscribe 2500, nothing buffered",
        steps: &[Pub(3, EPOCH), Gap, Pub(4, EPOCH), Activate(Some(2))],
        expected: &[R, U(2500)],
        dropped: true,
        ..BASE
    },
    Row {
        case: "a gap while pending, then nothing more is delivered",
        steps: &[Gap, Activate(Some(2)), Pub(3, EPOCH)],
        expected: &[R, U(2500)],
        dropped: true,
        ..BASE
    },
    Row {
        case: "a missing offset among the buffered publications is a gap",
        steps: &[Pub(4, EPOCH), Activate(Some(2))],
        expected: &[R, U(2500)],
        dropped: true,
        ..BASE
    },
    Row {
        case: "a new epoch while pending is a gap",
        steps: &[Pub(3, OTHER_EPOCH), Activate(Some(2))],
        expected: &[R, U(2500)],
        dropped: true,
        ..BASE
    },
    Row {
        case: "a new epoch after activation is a gap, even at the next offset",
        steps: &[
            Activate(Some(2)),
            Pub(3, EPOCH),
            Pub(4, OTHER_EPOCH),
            Pub(5, OTHER_EPOCH),
        ],
        expected: &[R, P(3), U(2500)],
        dropped: true,
        ..BASE
    },
    Row {
        case: "a skipped offset after activation is a gap; later ones are not delivered",
        steps: &[Activate(Some(2)), Pub(4, EPOCH), Pub(5, EPOCH)],
        expected: &[R, U(2500)],
        dropped: true,
        ..BASE
    },
    Row {
        case: "a broker gap after activation",
        steps: &[Activate(Some(2)), Pub(3, EPOCH), Gap, Pub(4, EPOCH)],
        expected: &[R, P(3), U(2500)],
        dropped: true,
        ..BASE
    },
    Row {
        case: "a server-side subscription that loses its place while pending closes with 3010",
        server_side: true,
        steps: &[Gap, Activate(Some(2))],
        expected: &[R],
        close: Some(3010),
        ..BASE
    },
    Row {
        case: "a server-side subscription with a new epoch closes with 3010",
        server_side: true,
        steps: &[Activate(Some(2)), Pub(3, OTHER_EPOCH)],
        expected: &[R],
        close: Some(3010),
        ..BASE
    },
    Row {
        case: "not positioned: gaps and epochs do not matter, arrival order is kept",
        positioned: false,
        steps: &[
            Pub(5, EPOCH),
            Gap,
            Pub(3, OTHER_EPOCH),
            Activate(None),
            Pub(9, EPOCH),
        ],
        expected: &[R, P(5), P(3), P(9)],
        ..BASE
    },
    Row {
        case: "the pending buffer over the queue bound closes with 3008",
        // Each publication push is about 50 bytes.
        queue: 120,
        steps: &[
            Pub(3, EPOCH),
            Pub(4, EPOCH),
            Pub(5, EPOCH),
            Activate(Some(2)),
        ],
        expected: &[],
        close: Some(3008),
        ..BASE
    },
    Row {
        case: "the pending buffer within the queue bound is delivered",
        queue: 400,
        steps: &[Pub(3, EPOCH), Pub(4, EPOCH), Activate(Some(2))],
        expected: &[R, P(3), P(4)],
        ..BASE
    },
    Row {
        case: "the outbox over its bound after activation closes with 3008",
        queue: 120,
        steps: &[
            Activate(Some(2)),
            Pub(3, EPOCH),
            Pub(4, EPOCH),
            Pub(5, EPOCH),
        ],
        expected: &[],
        close: Some(3008),
        ..BASE
    },
    Row {
        case: "binary data for a JSON subscriber closes with 3506",
        steps: &[Activate(Some(2)), BinaryPub(3)],
        expected: &[R],
        close: Some(3506),
        ..BASE
    },
    Row {
        case: "binary data for a pending JSON subscriber closes with 3506",
        steps: &[BinaryPub(3), Activate(Some(2))],
        expected: &[],
        close: Some(3506),
        ..BASE
    },
    Row {
        case: "binary data reaches a Protobuf subscriber",
        protocol: Protocol::Protobuf,
        steps: &[BinaryPub(3), Activate(Some(2)), BinaryPub(4)],
        expected: &[R, P(3), P(4)],
        ..BASE
    },
    Row {
        case: "joins are pushed only to active subscribers that asked for them",
        push_join_leave: true,
        steps: &[Join, Activate(Some(2)), Join],
        expected: &[R, Item::Join],
        ..BASE
    },
    Row {
        case: "no join for a subscriber that did not ask",
        steps: &[Activate(Some(2)), Join, Pub(3, EPOCH)],
        expected: &[R, P(3)],
        ..BASE
    },
];

#[test]
fn registry_table() {
    let mut failures = Vec::new();
    for row in ROWS {
        let got = run(row);
        let want = (row.expected.to_vec(), row.close, row.dropped);
        if got != want {
            failures.push(format!(
                "{}:\n    want {want:?}\n    got  {got:?}",
                row.case
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_second_subscription_of_the_same_client_is_refused_and_the_last_removal_frees_the_channel() {
    let registry = Registry::new();
    let outbox = Arc::new(Outbox::new(Protocol::Json, 1 << 20));
    let (alice, bob): (Arc<str>, Arc<str>) = (Arc::from("alice"), Arc::from("bob"));
    let spec = || NewSubscriber {
        outbox: outbox.clone(),
        push_join_leave: false,
        positioned: false,
        server_side: false,
        delta: false,
    };
    assert_eq!(registry.add_pending(CHANNEL, &alice, spec()), Ok(true));
    assert!(registry.add_pending(CHANNEL, &alice, spec()).is_err());
    assert_eq!(registry.add_pending(CHANNEL, &bob, spec()), Ok(false));
    assert_eq!(registry.counts(), (1, 2));
    assert!(!registry.remove(CHANNEL, &alice));
    assert!(!registry.remove(CHANNEL, &alice), "already gone");
    assert!(registry.remove(CHANNEL, &bob), "the last one");
    assert_eq!(registry.counts(), (0, 0));
    // Activating a subscription that is gone queues nothing.
    registry.activate(CHANNEL, &alice, Some(reply(Protocol::Json)), None);
    assert_eq!(queued(&outbox), (Vec::new(), None));
}

#[test]
fn subscribers_positioned_in_one_epoch_share_it_and_a_new_epoch_replaces_it() {
    let registry = Registry::new();
    let outbox = Arc::new(Outbox::new(Protocol::Json, 1 << 20));
    let clients: Vec<Arc<str>> = ["a", "b", "c"].into_iter().map(Arc::from).collect();
    let at = |offset, epoch: &str| {
        Some(StreamPosition {
            offset,
            epoch: epoch.to_owned(),
        })
    };
    for client in &clients {
        let spec = NewSubscriber {
            outbox: outbox.clone(),
            push_join_leave: false,
            positioned: true,
            server_side: false,
            delta: false,
        };
        assert!(registry.add_pending(CHANNEL, client, spec).is_ok());
    }
    registry.activate(CHANNEL, &clients[0], None, at(3, "e1"));
    registry.activate(CHANNEL, &clients[1], None, at(5, "e1"));
    registry.activate(CHANNEL, &clients[2], None, at(1, "e2"));
    let shard = registry.shard(CHANNEL);
    let channel = shard.get(CHANNEL).expect("the channel");
    let epoch = |client: &Arc<str>| {
        let position = channel.subscribers[client].position.as_ref();
        position.expect("positioned").1.clone()
    };
    assert!(Arc::ptr_eq(&epoch(&clients[0]), &epoch(&clients[1])));
    assert_eq!(&*epoch(&clients[2]), "e2");
    assert!(Arc::ptr_eq(
        channel.epoch.as_ref().expect("shared"),
        &epoch(&clients[2])
    ));
}

/// Runs a row: (what the outbox holds, its close code, whether the session was told to drop
/// the subscription).
fn run(row: &Row) -> (Vec<Item>, Option<u16>, bool) {
    let registry = Registry::new();
    let outbox = Arc::new(Outbox::new(row.protocol, row.queue));
    let client: Arc<str> = Arc::from("client");
    let spec = NewSubscriber {
        outbox: outbox.clone(),
        push_join_leave: row.push_join_leave,
        positioned: row.positioned,
        server_side: row.server_side,
        delta: false,
    };
    assert_eq!(registry.add_pending(CHANNEL, &client, spec), Ok(true));
    for step in row.steps {
        match *step {
            Step::Pub(offset, epoch) => {
                let position = StreamPosition {
                    offset,
                    epoch: epoch.into(),
                };
                registry.handle_publication(CHANNEL, &publication(offset, b"{}"), &position);
            }
            Step::BinaryPub(offset) => {
                let position = StreamPosition {
                    offset,
                    epoch: EPOCH.into(),
                };
                let data = b"\x00\xffbinary";
                registry.handle_publication(CHANNEL, &publication(offset, data), &position);
            }
            Step::Gap => registry.handle_gap(),
            Step::Join => registry.handle_join(CHANNEL, &ClientInfo::default()),
            Step::Activate(offset) => {
                let position = offset.map(|offset| StreamPosition {
                    offset,
                    epoch: EPOCH.into(),
                });
                registry.activate(CHANNEL, &client, Some(reply(row.protocol)), position);
            }
        }
    }
    let (items, close) = queued(&outbox);
    let dropped = match outbox.take_control().as_deref() {
        Some(Control::Dropped(channel)) => channel == CHANNEL,
        Some(other) => panic!("{}: unexpected control {other:?}", row.case),
        None => false,
    };
    (items, close, dropped)
}

fn publication(offset: u64, data: &'static [u8]) -> Publication {
    Publication {
        offset,
        data: Bytes::from_static(data),
        ..Default::default()
    }
}

fn reply(protocol: Protocol) -> Bytes {
    let reply = Reply {
        id: 2,
        subscribe: Some(SubscribeResult::default()),
        ..Default::default()
    };
    herald_proto::encode_reply(protocol, &reply).expect("a subscribe reply encodes")
}

/// What the outbox holds now, without waiting.
fn queued(outbox: &Outbox) -> (Vec<Item>, Option<u16>) {
    let mut cx = Context::from_waker(Waker::noop());
    let (messages, close) = match outbox.poll_drain(&mut cx) {
        Poll::Ready(Drained::Messages(messages)) => (messages, None),
        Poll::Ready(Drained::Close(messages, disconnect)) => (messages, Some(disconnect.code)),
        Poll::Pending => (Vec::new(), None),
    };
    let items = messages
        .iter()
        .flat_map(|m| herald_proto::decode_reply(outbox.protocol(), m).expect("valid"))
        .map(|reply| item(&reply))
        .collect();
    (items, close)
}

fn item(reply: &Reply) -> Item {
    if reply.id != 0 {
        return Item::Reply;
    }
    let push = reply.push.as_ref().expect("a push");
    if let Some(publication) = &push.r#pub {
        Item::Pub(publication.offset)
    } else if let Some(unsubscribe) = &push.unsubscribe {
        Item::Unsubscribe(unsubscribe.code)
    } else if push.join.is_some() {
        Item::Join
    } else {
        panic!("unexpected push {push:?}")
    }
}
