//! [`PresenceManager`] for [`RedisEngine`]: a hash of client id to encoded `ClientInfo` and a
//! sorted set of client id by expiry, kept in step by scripts; expired entries are dropped on
//! read.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use herald_engine::{ClientInfo, EngineError, PresenceManager, PresenceStats};
use redis::Value;

use crate::codec;
use crate::engine::RedisEngine;
use crate::scripts::{SCRIPTS, into_array, into_bytes, millis, unexpected};

#[async_trait]
impl PresenceManager for RedisEngine {
    async fn add_presence(
        &self,
        channel: &str,
        client_id: &str,
        info: &ClientInfo,
        ttl: Duration,
    ) -> Result<(), EngineError> {
        let ttl_ms = millis(ttl);
        let shard = self.shard(channel);
        let mut commands = shard.commands.clone();
        let mut script = SCRIPTS.presence_add.key(self.keys.presence_data(channel));
        let adding = script
            .key(self.keys.presence_expire(channel))
            .arg(client_id)
            .arg(codec::encode_client_info(info))
            .arg(ttl_ms)
            .arg(ttl_ms.max(self.presence_key_ttl_ms))
            .invoke_async::<Value>(&mut commands);
        shard.run("add presence", adding).await?;
        Ok(())
    }

    async fn remove_presence(
        &self,
        channel: &str,
        client_id: &str,
        _user: &str,
    ) -> Result<(), EngineError> {
        let shard = self.shard(channel);
        let mut commands = shard.commands.clone();
        let mut script = SCRIPTS
            .presence_remove
            .key(self.keys.presence_data(channel));
        let removing = script
            .key(self.keys.presence_expire(channel))
            .arg(client_id)
            .invoke_async::<Value>(&mut commands);
        shard.run("remove presence", removing).await?;
        Ok(())
    }

    async fn presence(&self, channel: &str) -> Result<HashMap<String, ClientInfo>, EngineError> {
        self.live_presence(channel).await
    }

    /// Counts from the full presence, as Centrifugo does without its optional user mapping.
    async fn presence_stats(&self, channel: &str) -> Result<PresenceStats, EngineError> {
        let presence = self.live_presence(channel).await?;
        let users: HashSet<&str> = presence.values().map(|info| info.user.as_str()).collect();
        Ok(PresenceStats {
            num_clients: saturate(presence.len()),
            num_users: saturate(users.len()),
        })
    }

    /// Healthy as the engine is: presence uses the same shards and connections.
    fn is_available(&self) -> bool {
        RedisEngine::is_healthy(self)
    }
}

impl RedisEngine {
    /// Drops expired entries and reads the rest; once more after a connection error (see
    /// `health.rs`).
    async fn live_presence(
        &self,
        channel: &str,
    ) -> Result<HashMap<String, ClientInfo>, EngineError> {
        let shard = self.shard(channel);
        let mut script = SCRIPTS.presence_get.key(self.keys.presence_data(channel));
        script.key(self.keys.presence_expire(channel));
        let script = &script;
        let reply: Value = shard
            .read("presence", |mut c| async move {
                script.invoke_async(&mut c).await
            })
            .await?;
        parse_presence(channel, reply)
    }
}

/// Reads `HGETALL` of the presence hash. An entry that does not decode is skipped and logged:
/// it expires like any other, and one bad entry should not hide a channel's presence.
fn parse_presence(channel: &str, reply: Value) -> Result<HashMap<String, ClientInfo>, EngineError> {
    let Some(items) = into_array(reply.clone()) else {
        return Err(unexpected("presence", &reply));
    };
    let mut presence = HashMap::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(client), Some(info)) = (items.next(), items.next()) {
        let client = into_bytes(client).and_then(|c| String::from_utf8(c).ok());
        let info = into_bytes(info).map(|i| codec::decode_client_info(Bytes::from(i)));
        match (client, info) {
            (Some(client), Some(Ok(info))) => {
                presence.insert(client, info);
            }
            (client, info) => {
                tracing::warn!(
                    channel,
                    ?client,
                    ?info,
                    "skipping undecodable presence entry"
                );
            }
        }
    }
    Ok(presence)
}

fn saturate(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_presence_and_skips_broken_entries() {
        let info = ClientInfo {
            user: "u".into(),
            client: "c".into(),
            ..ClientInfo::default()
        };
        let reply = Value::Array(vec![
            Value::BulkString(b"c".to_vec()),
            Value::BulkString(codec::encode_client_info(&info)),
            Value::BulkString(b"broken".to_vec()),
            Value::BulkString(b"\xff".to_vec()),
        ]);
        assert_eq!(
            parse_presence("ch", reply),
            Ok(HashMap::from([("c".to_owned(), info)]))
        );
        assert!(parse_presence("ch", Value::Nil).is_err());
    }
}
