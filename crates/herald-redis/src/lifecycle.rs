//! [`LifecycleStore`] for [`RedisEngine`]: occupancy per channel in the channel's shard (a set
//! of holding nodes and the current period, changed by one script each, so nodes agree on who
//! emits), and per node, in the first shard, the channels and presence entries it holds plus
//! the heartbeat hash that tells live nodes who died.
//!
//! A node's index of channels is updated outside the channel's script (they may live on other
//! shards or slots): added before the channel's set, removed after it, so it always covers
//! the sets the node is in, which is what its cleanup needs.

use std::time::Duration;

use async_trait::async_trait;
use herald_engine::{DeadNodeRemains, EngineError, HeldPresence, LifecycleStore};
use redis::Value;

use crate::engine::{RedisEngine, Shard};
use crate::scripts::{SCRIPTS, as_string, as_u64, into_array, into_bytes, millis, unexpected};

#[async_trait]
impl LifecycleStore for RedisEngine {
    async fn occupy(&self, node: &str, channel: &str) -> Result<Option<u64>, EngineError> {
        self.node_command(
            "occupancy index",
            redis::cmd("SADD")
                .arg(self.keys.node_channels(node))
                .arg(channel),
        )
        .await?;

        let shard = self.shard(channel);
        let mut commands = shard.commands.clone();
        let mut script = SCRIPTS.occupy.key(self.keys.occupancy_nodes(channel));
        let occupying = script
            .key(self.keys.occupancy_state(channel))
            .arg(node)
            .invoke_async::<Value>(&mut commands);
        let reply = shard.run("occupy", occupying).await?;
        period("occupy", &reply)
    }

    async fn release(&self, node: &str, channel: &str) -> Result<bool, EngineError> {
        let empty = self.release_channel(node, channel).await?;
        self.node_command(
            "occupancy index",
            redis::cmd("SREM")
                .arg(self.keys.node_channels(node))
                .arg(channel),
        )
        .await?;
        Ok(empty)
    }

    async fn check_vacated(&self, channel: &str) -> Result<Option<u64>, EngineError> {
        let shard = self.shard(channel);
        let mut commands = shard.commands.clone();
        let mut script = SCRIPTS.vacate.key(self.keys.occupancy_nodes(channel));
        let checking = script
            .key(self.keys.occupancy_state(channel))
            .invoke_async::<Value>(&mut commands);
        let reply = shard.run("vacate", checking).await?;
        period("vacate", &reply)
    }

    async fn hold_presence(&self, node: &str, entry: &HeldPresence) -> Result<(), EngineError> {
        self.node_command(
            "hold presence",
            redis::cmd("HSET")
                .arg(self.keys.node_presence(node))
                .arg(presence_field(&entry.channel, &entry.client))
                .arg(&entry.user),
        )
        .await?;
        Ok(())
    }

    async fn drop_presence(
        &self,
        node: &str,
        channel: &str,
        client: &str,
    ) -> Result<(), EngineError> {
        self.node_command(
            "drop presence",
            redis::cmd("HDEL")
                .arg(self.keys.node_presence(node))
                .arg(presence_field(channel, client)),
        )
        .await?;
        Ok(())
    }

    async fn heartbeat(&self, node: &str, ttl: Duration) -> Result<Vec<String>, EngineError> {
        let home = self.node_shard();
        let mut commands = home.commands.clone();
        let mut script = SCRIPTS.heartbeat.key(self.keys.lifecycle_nodes());
        let beating = script
            .arg(node)
            .arg(millis(ttl))
            .invoke_async::<Value>(&mut commands);
        let reply = home.run("heartbeat", beating).await?;
        let Some(items) = into_array(reply.clone()) else {
            return Err(unexpected("heartbeat", &reply));
        };
        Ok(items.iter().filter_map(as_string).collect())
    }

    async fn claim_cleanup(
        &self,
        dead: &str,
        claimer: &str,
        ttl: Duration,
    ) -> Result<bool, EngineError> {
        let reply = self
            .node_command(
                "claim cleanup",
                redis::cmd("SET")
                    .arg(self.keys.cleanup_claim(dead))
                    .arg(claimer)
                    .arg("NX")
                    .arg("PX")
                    .arg(millis(ttl).max(1)),
            )
            .await?;
        Ok(!matches!(reply, Value::Nil))
    }

    async fn take_node(&self, dead: &str) -> Result<DeadNodeRemains, EngineError> {
        let channels_key = self.keys.node_channels(dead);
        let presence_key = self.keys.node_presence(dead);
        let reply = self
            .node_command(
                "dead node channels",
                redis::cmd("SMEMBERS").arg(&channels_key),
            )
            .await?;
        let Some(channels) = into_array(reply.clone()) else {
            return Err(unexpected("dead node channels", &reply));
        };
        let mut remains = DeadNodeRemains::default();
        for channel in channels.iter().filter_map(as_string) {
            if self.release_channel(dead, &channel).await? {
                remains.released.push(channel);
            }
        }
        remains.released.sort_unstable();

        let reply = self
            .node_command(
                "dead node presence",
                redis::cmd("HGETALL").arg(&presence_key),
            )
            .await?;
        let Some(items) = into_array(reply.clone()) else {
            return Err(unexpected("dead node presence", &reply));
        };
        let mut items = items.into_iter();
        while let (Some(field), Some(user)) = (items.next(), items.next()) {
            let field = into_bytes(field).and_then(|f| String::from_utf8(f).ok());
            let user = into_bytes(user).and_then(|u| String::from_utf8(u).ok());
            match (field.as_deref().and_then(parse_presence_field), user) {
                (Some((channel, client)), Some(user)) => remains.presence.push(HeldPresence {
                    channel: channel.to_owned(),
                    client: client.to_owned(),
                    user,
                }),
                _ => tracing::warn!(node = dead, ?field, "skipping undecodable held presence"),
            }
        }
        remains.presence.sort_unstable();

        // Separate commands: with Redis Cluster the node list is in another slot.
        self.node_command(
            "dead node keys",
            redis::cmd("DEL").arg(&channels_key).arg(&presence_key),
        )
        .await?;
        self.node_command(
            "dead node",
            redis::cmd("HDEL")
                .arg(self.keys.lifecycle_nodes())
                .arg(dead),
        )
        .await?;
        Ok(remains)
    }
}

impl RedisEngine {
    /// Where per-node keys live: the first shard, as the control channel.
    fn node_shard(&self) -> &Shard {
        &self.shards[0]
    }

    /// Runs `command` on the first shard.
    async fn node_command(&self, what: &str, command: &redis::Cmd) -> Result<Value, EngineError> {
        let home = self.node_shard();
        let mut commands = home.commands.clone();
        home.run(what, command.query_async::<Value>(&mut commands))
            .await
    }

    async fn release_channel(&self, node: &str, channel: &str) -> Result<bool, EngineError> {
        let shard = self.shard(channel);
        let mut commands = shard.commands.clone();
        let mut script = SCRIPTS.release.key(self.keys.occupancy_nodes(channel));
        let releasing = script.arg(node).invoke_async::<Value>(&mut commands);
        let reply = shard.run("release", releasing).await?;
        match as_u64(&reply) {
            Some(empty) => Ok(empty == 1),
            None => Err(unexpected("release", &reply)),
        }
    }
}

/// A period id, or nil.
fn period(what: &str, reply: &Value) -> Result<Option<u64>, EngineError> {
    match reply {
        Value::Nil => Ok(None),
        other => as_u64(other)
            .map(Some)
            .ok_or_else(|| unexpected(what, other)),
    }
}

/// `<channel length>:<channel><client>`: unambiguous whatever the names contain.
fn presence_field(channel: &str, client: &str) -> String {
    format!("{}:{channel}{client}", channel.len())
}

fn parse_presence_field(field: &str) -> Option<(&str, &str)> {
    let (len, rest) = field.split_once(':')?;
    let len: usize = len.parse().ok()?;
    rest.split_at_checked(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_fields_round_trip_and_reject_garbage() {
        let field = presence_field("chat:1", "c:2");
        assert_eq!(parse_presence_field(&field), Some(("chat:1", "c:2")));
        assert_eq!(parse_presence_field("99:x"), None);
        assert_eq!(parse_presence_field("x:y"), None);
        assert_eq!(parse_presence_field("nocolon"), None);
        assert_eq!(parse_presence_field("1:éa"), None);
    }
}
