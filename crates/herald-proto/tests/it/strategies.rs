//! proptest strategies for every message of the schema.
//!
//! `Payload::Json` fills `bytes` fields with compact JSON values (what a JSON connection can
//! carry); `Payload::Binary` with arbitrary bytes (Protobuf carries anything).

use std::collections::HashMap;
use std::fmt::Debug;

use bytes::Bytes;
use herald_proto::*;
use proptest::collection::{hash_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde_json::Value;

type S<T> = BoxedStrategy<T>;

/// What `bytes` fields may hold.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Payload {
    /// Compact JSON values (never `null`, which reads back as "absent"), or empty.
    Json,
    /// Any bytes.
    Binary,
}

/// A JSON value of limited depth, with arbitrary strings and numbers.
pub(crate) fn json_value() -> S<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            hash_map(text(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// A non-null JSON value serialized compactly (no raw newline anywhere).
pub(crate) fn json_bytes() -> S<Bytes> {
    json_value()
        .prop_filter("null means absent", |v| !v.is_null())
        .prop_map(|v| Bytes::from(serde_json::to_vec(&v).expect("Value serializes")))
        .boxed()
}

fn bytes(p: Payload) -> S<Bytes> {
    match p {
        Payload::Json => prop_oneof![1 => Just(Bytes::new()), 3 => json_bytes()].boxed(),
        Payload::Binary => vec(any::<u8>(), 0..48).prop_map(Bytes::from).boxed(),
    }
}

/// Mostly short readable strings, sometimes arbitrary Unicode (control characters, quotes,
/// U+2028...) to exercise escaping.
fn text() -> S<String> {
    prop_oneof![3 => "[a-z0-9:_-]{0,10}", 1 => any::<String>()].boxed()
}

/// Zero (the omitted value) a third of the time, any value otherwise.
fn num<T: Arbitrary + Default + Clone + Debug + 'static>() -> S<T> {
    prop_oneof![1 => Just(T::default()), 2 => any::<T>()].boxed()
}

fn map_of<T: Debug + 'static>(values: S<T>) -> S<HashMap<String, T>> {
    hash_map(text(), values, 0..3).boxed()
}

fn list_of<T: Debug + 'static>(values: S<T>) -> S<Vec<T>> {
    vec(values, 0..3).boxed()
}

fn opt<T: Debug + 'static>(value: S<T>) -> S<Option<T>> {
    option::of(value).boxed()
}

// --- Commands -----------------------------------------------------------------------------

pub(crate) fn command(p: Payload) -> S<Command> {
    let head = (
        num::<u32>(),
        opt(connect_request(p)),
        opt(subscribe_request(p)),
        opt(text()
            .prop_map(|channel| UnsubscribeRequest { channel })
            .boxed()),
        opt(publish_request(p)),
        opt(text()
            .prop_map(|channel| PresenceRequest { channel })
            .boxed()),
        opt(text()
            .prop_map(|channel| PresenceStatsRequest { channel })
            .boxed()),
    );
    let tail = (
        opt(history_request()),
        opt(Just(PingRequest {}).boxed()),
        opt(bytes(p).prop_map(|data| SendRequest { data }).boxed()),
        opt((bytes(p), text())
            .prop_map(|(data, method)| RpcRequest { data, method })
            .boxed()),
        opt(text().prop_map(|token| RefreshRequest { token }).boxed()),
        opt(sub_refresh_request()),
    );
    (head, tail)
        .prop_map(
            |(
                (id, connect, subscribe, unsubscribe, publish, presence, presence_stats),
                (history, ping, send, rpc, refresh, sub_refresh),
            )| Command {
                id,
                connect,
                subscribe,
                unsubscribe,
                publish,
                presence,
                presence_stats,
                history,
                ping,
                send,
                rpc,
                refresh,
                sub_refresh,
            },
        )
        .boxed()
}

pub(crate) fn emulation_request(p: Payload) -> S<EmulationRequest> {
    (text(), text(), bytes(p))
        .prop_map(|(node, session, data)| EmulationRequest {
            node,
            session,
            data,
        })
        .boxed()
}

fn connect_request(p: Payload) -> S<ConnectRequest> {
    (
        text(),
        bytes(p),
        map_of(subscribe_request(p)),
        text(),
        text(),
        map_of(text()),
        num::<i64>(),
        text(),
        text(),
    )
        .prop_map(
            |(token, data, subs, name, version, headers, flag, dict, profile)| ConnectRequest {
                token,
                data,
                subs,
                name,
                version,
                headers,
                flag,
                dict,
                profile,
            },
        )
        .boxed()
}

fn subscribe_request(p: Payload) -> S<SubscribeRequest> {
    let head = (
        text(),
        text(),
        any::<bool>(),
        text(),
        num::<u64>(),
        bytes(p),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    );
    let tail = (
        text(),
        opt(filter_node()),
        num::<i64>(),
        num::<i32>(),
        num::<i32>(),
        text(),
        num::<i32>(),
        any::<bool>(),
    );
    (head, tail)
        .prop_map(
            |(
                (channel, token, recover, epoch, offset, data, positioned, recoverable, join_leave),
                (delta, tf, flag, r#type, phase, cursor, limit, asc),
            )| SubscribeRequest {
                channel,
                token,
                recover,
                epoch,
                offset,
                data,
                positioned,
                recoverable,
                join_leave,
                delta,
                tf,
                flag,
                r#type,
                phase,
                cursor,
                limit,
                asc,
            },
        )
        .boxed()
}

fn filter_node() -> S<FilterNode> {
    let leaf =
        (text(), text(), text(), text(), list_of(text())).prop_map(|(op, key, cmp, val, vals)| {
            FilterNode {
                op,
                key,
                cmp,
                val,
                vals,
                nodes: Vec::new(),
            }
        });
    leaf.prop_recursive(3, 8, 3, |inner| {
        (text(), vec(inner, 0..3)).prop_map(|(op, nodes)| FilterNode {
            op,
            nodes,
            ..Default::default()
        })
    })
    .boxed()
}

fn publish_request(p: Payload) -> S<PublishRequest> {
    (text(), bytes(p), num::<i32>(), text(), any::<bool>())
        .prop_map(|(channel, data, r#type, key, removed)| PublishRequest {
            channel,
            data,
            r#type,
            key,
            removed,
        })
        .boxed()
}

fn stream_position() -> S<StreamPosition> {
    (num::<u64>(), text())
        .prop_map(|(offset, epoch)| StreamPosition { offset, epoch })
        .boxed()
}

fn history_request() -> S<HistoryRequest> {
    (text(), num::<i32>(), opt(stream_position()), any::<bool>())
        .prop_map(|(channel, limit, since, reverse)| HistoryRequest {
            channel,
            limit,
            since,
            reverse,
        })
        .boxed()
}

fn sub_refresh_request() -> S<SubRefreshRequest> {
    let item = (text(), num::<u64>()).prop_map(|(key, version)| KeyedItem { key, version });
    let batch = (text(), list_of(item.boxed()))
        .prop_map(|(signature, items)| TrackBatch { signature, items });
    (
        text(),
        text(),
        num::<i32>(),
        list_of(batch.boxed()),
        list_of(text()),
    )
        .prop_map(
            |(channel, token, r#type, track, untrack)| SubRefreshRequest {
                channel,
                token,
                r#type,
                track,
                untrack,
            },
        )
        .boxed()
}

// --- Replies ------------------------------------------------------------------------------

pub(crate) fn reply(p: Payload) -> S<Reply> {
    let head = (
        num::<u32>(),
        opt(error()),
        opt(push(p)),
        opt(connect_result(p)),
        opt(subscribe_result(p)),
        opt(Just(UnsubscribeResult {}).boxed()),
        opt(Just(PublishResult {}).boxed()),
    );
    let tail = (
        opt(map_of(client_info(p))
            .prop_map(|presence| PresenceResult { presence })
            .boxed()),
        opt((num::<u32>(), num::<u32>())
            .prop_map(|(num_clients, num_users)| PresenceStatsResult {
                num_clients,
                num_users,
            })
            .boxed()),
        opt((list_of(publication(p)), text(), num::<u64>())
            .prop_map(|(publications, epoch, offset)| HistoryResult {
                publications,
                epoch,
                offset,
            })
            .boxed()),
        opt(Just(PingResult {}).boxed()),
        opt(bytes(p).prop_map(|data| RpcResult { data }).boxed()),
        opt((text(), text(), any::<bool>(), num::<u32>())
            .prop_map(|(client, version, expires, ttl)| RefreshResult {
                client,
                version,
                expires,
                ttl,
            })
            .boxed()),
        opt((any::<bool>(), num::<u32>(), list_of(publication(p)))
            .prop_map(|(expires, ttl, items)| SubRefreshResult {
                expires,
                ttl,
                items,
            })
            .boxed()),
    );
    (head, tail)
        .prop_map(
            |(
                (id, error, push, connect, subscribe, unsubscribe, publish),
                (presence, presence_stats, history, ping, rpc, refresh, sub_refresh),
            )| Reply {
                id,
                error,
                push,
                connect,
                subscribe,
                unsubscribe,
                publish,
                presence,
                presence_stats,
                history,
                ping,
                rpc,
                refresh,
                sub_refresh,
            },
        )
        .boxed()
}

fn error() -> S<Error> {
    (num::<u32>(), text(), any::<bool>())
        .prop_map(|(code, message, temporary)| Error {
            code,
            message,
            temporary,
        })
        .boxed()
}

fn connect_result(p: Payload) -> S<ConnectResult> {
    let dictionary = (text(), bytes(p), text()).prop_map(|(id, data, data_b64)| Dictionary {
        id,
        data,
        data_b64,
    });
    let head = (
        text(),
        text(),
        any::<bool>(),
        num::<u32>(),
        bytes(p),
        map_of(subscribe_result(p)),
        num::<u32>(),
    );
    let tail = (
        any::<bool>(),
        text(),
        text(),
        num::<i64>(),
        num::<i64>(),
        opt(dictionary.boxed()),
    );
    (head, tail)
        .prop_map(
            |(
                (client, version, expires, ttl, data, subs, ping),
                (pong, session, node, time, flag, dict),
            )| ConnectResult {
                client,
                version,
                expires,
                ttl,
                data,
                subs,
                ping,
                pong,
                session,
                node,
                time,
                flag,
                dict,
            },
        )
        .boxed()
}

fn subscribe_result(p: Payload) -> S<SubscribeResult> {
    let head = (
        any::<bool>(),
        num::<u32>(),
        any::<bool>(),
        text(),
        list_of(publication(p)),
        any::<bool>(),
        num::<u64>(),
        any::<bool>(),
        bytes(p),
    );
    let tail = (
        any::<bool>(),
        any::<bool>(),
        num::<i64>(),
        num::<i32>(),
        num::<i32>(),
        text(),
        list_of(publication(p)),
        num::<u32>(),
    );
    (head, tail)
        .prop_map(
            |(
                (
                    expires,
                    ttl,
                    recoverable,
                    epoch,
                    publications,
                    recovered,
                    offset,
                    positioned,
                    data,
                ),
                (was_recovering, delta, id, r#type, phase, cursor, state, publish_debounce),
            )| SubscribeResult {
                expires,
                ttl,
                recoverable,
                epoch,
                publications,
                recovered,
                offset,
                positioned,
                data,
                was_recovering,
                delta,
                id,
                r#type,
                phase,
                cursor,
                state,
                publish_debounce,
            },
        )
        .boxed()
}

// --- Pushes -------------------------------------------------------------------------------

pub(crate) fn push(p: Payload) -> S<Push> {
    let head = (
        num::<i64>(),
        text(),
        opt(publication(p)),
        opt(opt(client_info(p)).prop_map(|info| Join { info }).boxed()),
        opt(opt(client_info(p)).prop_map(|info| Leave { info }).boxed()),
        opt((num::<u32>(), text())
            .prop_map(|(code, reason)| Unsubscribe { code, reason })
            .boxed()),
    );
    let tail = (
        opt(bytes(p).prop_map(|data| Message { data }).boxed()),
        opt(
            (any::<bool>(), text(), num::<u64>(), any::<bool>(), bytes(p))
                .prop_map(|(recoverable, epoch, offset, positioned, data)| Subscribe {
                    recoverable,
                    epoch,
                    offset,
                    positioned,
                    data,
                })
                .boxed(),
        ),
        opt(connect_push(p)),
        opt((num::<u32>(), text(), any::<bool>())
            .prop_map(|(code, reason, reconnect)| Disconnect {
                code,
                reason,
                reconnect,
            })
            .boxed()),
        opt((any::<bool>(), num::<u32>())
            .prop_map(|(expires, ttl)| Refresh { expires, ttl })
            .boxed()),
    );
    (head, tail)
        .prop_map(
            |(
                (id, channel, r#pub, join, leave, unsubscribe),
                (message, subscribe, connect, disconnect, refresh),
            )| Push {
                id,
                channel,
                r#pub,
                join,
                leave,
                unsubscribe,
                message,
                subscribe,
                connect,
                disconnect,
                refresh,
            },
        )
        .boxed()
}

fn connect_push(p: Payload) -> S<Connect> {
    let head = (
        text(),
        text(),
        bytes(p),
        map_of(subscribe_result(p)),
        any::<bool>(),
        num::<u32>(),
    );
    let tail = (num::<u32>(), any::<bool>(), text(), text(), num::<i64>());
    (head, tail)
        .prop_map(
            |((client, version, data, subs, expires, ttl), (ping, pong, session, node, time))| {
                Connect {
                    client,
                    version,
                    data,
                    subs,
                    expires,
                    ttl,
                    ping,
                    pong,
                    session,
                    node,
                    time,
                }
            },
        )
        .boxed()
}

pub(crate) fn client_info(p: Payload) -> S<ClientInfo> {
    (text(), text(), bytes(p), bytes(p))
        .prop_map(|(user, client, conn_info, chan_info)| ClientInfo {
            user,
            client,
            conn_info,
            chan_info,
        })
        .boxed()
}

pub(crate) fn publication(p: Payload) -> S<Publication> {
    let head = (
        bytes(p),
        opt(client_info(p)),
        num::<u64>(),
        map_of(text()),
        any::<bool>(),
        num::<i64>(),
        text(),
    );
    let tail = (
        text(),
        any::<bool>(),
        num::<i64>(),
        text(),
        bytes(p),
        num::<u64>(),
    );
    (head, tail)
        .prop_map(
            |(
                (data, info, offset, tags, delta, time, channel),
                (key, removed, score, epoch, prev_data, version),
            )| Publication {
                data,
                info,
                offset,
                tags,
                delta,
                time,
                channel,
                key,
                removed,
                score,
                epoch,
                prev_data,
                version,
            },
        )
        .boxed()
}
