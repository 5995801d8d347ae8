//! The JSON shape of every message: which keys it has and which are written even when zero.
//!
//! One line per message keeps the wire format reviewable against `client.proto` and Go easyjson
//! in one place. Each entry expands to [`JsonObject`] and [`JsonValue`] impls:
//! - `field` — key `"field"`, omitted when zero / empty / `None`;
//! - `field as "name"` — key `"name"` (for Rust keywords such as `r#type`);
//! - `field [always]` — written even when zero (the exceptions easyjson makes).

use serde::de::{Deserializer, IgnoredAny, MapAccess};

use super::value::{De, JsonObject, JsonValue, read_message};
use super::writer::JsonWriter;
use crate::error::EncodeError;
use crate::messages::*;

macro_rules! json_schema {
    ($($ty:ident { $($field:ident $(as $name:literal)? $([$always:ident])?),* $(,)? })*) => {$(
        #[allow(unused_mut, unused_variables)]
        impl JsonObject for $ty {
            fn write_object(&self, out: &mut JsonWriter) -> Result<(), EncodeError> {
                out.byte(b'{');
                let mut first = true;
                $(
                    if json_schema!(@always $($always)?) || !self.$field.is_zero() {
                        out.key(&mut first, json_schema!(@name $field $($name)?));
                        self.$field.write_json(
                            out,
                            concat!(stringify!($ty), ".", stringify!($field)),
                        )?;
                    }
                )*
                out.byte(b'}');
                Ok(())
            }

            fn read_field<'de, A: MapAccess<'de>>(
                &mut self,
                key: &str,
                map: &mut A,
            ) -> Result<(), A::Error> {
                $(
                    if key == json_schema!(@name $field $($name)?) {
                        self.$field = map.next_value::<De<_>>()?.0;
                        return Ok(());
                    }
                )*
                map.next_value::<IgnoredAny>()?;
                Ok(())
            }

            fn object_size_hint(&self) -> usize {
                2 $(+ json_schema!(@name $field $($name)?).len() + 4 + self.$field.size_hint())*
            }
        }

        impl JsonValue for $ty {
            fn is_zero(&self) -> bool {
                false
            }
            fn size_hint(&self) -> usize {
                self.object_size_hint()
            }
            fn write_json(&self, out: &mut JsonWriter, _: &'static str) -> Result<(), EncodeError> {
                self.write_object(out)
            }
            fn read_json<'de, D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
                read_message(de)
            }
        }
    )*};
    (@name $field:ident) => { stringify!($field) };
    (@name $field:ident $name:literal) => { $name };
    (@always) => { false };
    (@always always) => { true };
}

json_schema! {
    // Commands and requests.
    Command { id, connect, subscribe, unsubscribe, publish, presence, presence_stats, history,
        ping, send, rpc, refresh, sub_refresh }
    EmulationRequest { node, session, data }
    ConnectRequest { token, data, subs, name, version, headers, flag, dict, profile }
    RefreshRequest { token }
    SubscribeRequest { channel, token, recover, epoch, offset, data, positioned, recoverable,
        join_leave, delta, tf, flag, r#type as "type", phase, cursor, limit, asc }
    KeyedItem { key, version }
    TrackBatch { signature, items }
    SubRefreshRequest { channel, token, r#type as "type", track, untrack }
    UnsubscribeRequest { channel }
    PublishRequest { channel, data, r#type as "type", key, removed }
    PresenceRequest { channel }
    PresenceStatsRequest { channel }
    StreamPosition { offset, epoch }
    HistoryRequest { channel, limit, since, reverse }
    PingRequest {}
    RpcRequest { data, method }
    SendRequest { data }
    FilterNode { op, key, cmp, val, vals, nodes }

    // Replies and results.
    Reply { id, error, push, connect, subscribe, unsubscribe, publish, presence, presence_stats,
        history, ping, rpc, refresh, sub_refresh }
    Error { code, message, temporary }
    Dictionary { id, data, data_b64 }
    ConnectResult { client, version, expires, ttl, data, subs, ping, pong, session, node, time,
        flag, dict }
    RefreshResult { client, version, expires, ttl }
    SubscribeResult { expires, ttl, recoverable, epoch, publications, recovered, offset,
        positioned, data, was_recovering, delta, id, r#type as "type", phase, cursor, state,
        publish_debounce }
    SubRefreshResult { expires, ttl, items }
    UnsubscribeResult {}
    PublishResult {}
    PresenceResult { presence [always] }
    PresenceStatsResult { num_clients [always], num_users [always] }
    HistoryResult { publications [always], epoch [always], offset [always] }
    PingResult {}
    RpcResult { data }

    // Pushes.
    Push { id, channel, r#pub as "pub", join, leave, unsubscribe, message, subscribe, connect,
        disconnect, refresh }
    ClientInfo { user [always], client [always], conn_info, chan_info }
    Publication { data, info, offset, tags, delta, time, channel, key, removed, score, epoch,
        prev_data, version }
    Join { info }
    Leave { info }
    Unsubscribe { code, reason }
    Subscribe { recoverable, epoch, offset, positioned, data }
    Message { data }
    Connect { client, version, data, subs, expires, ttl, ping, pong, session, node, time }
    Disconnect { code, reason, reconnect }
    Refresh { expires, ttl }
}
