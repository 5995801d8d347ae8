//! [`Broker`] for [`RedisEngine`]: publishing through the publish scripts, and PUB/SUB
//! subscriptions. History reads are in `history.rs`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use herald_engine::{
    Broker, BrokerEventHandler, ClientInfo, DEFAULT_IDEMPOTENT_RESULT_TTL, EngineError,
    HistoryOptions, HistoryResult, Publication, PublishOptions, PublishResult, StreamPosition,
    SuppressReason,
};
use rand::distr::{Alphabetic, SampleString};
use redis::{AsyncCommands, Value};

use crate::codec;
use crate::engine::RedisEngine;
use crate::scripts::{SCRIPTS, as_string, as_u64, into_array, millis, unexpected};

/// Epoch length, as in Centrifugo: 8 random letters.
const EPOCH_LEN: usize = 8;

#[async_trait]
impl Broker for RedisEngine {
    async fn run(&self, handler: Arc<dyn BrokerEventHandler>) -> Result<(), EngineError> {
        self.delivery.set_handler(handler);
        Ok(())
    }

    /// Subscribes this node to the channel's PUB/SUB channel and returns once Redis confirmed,
    /// so everything published afterwards is delivered. Fails with `Unavailable` while the
    /// shard's PUB/SUB connection is being re-established; the caller may retry.
    async fn subscribe(&self, channel: &str) -> Result<(), EngineError> {
        self.delivery.running()?;
        let pubsub_channel = self.keys.client_channel(channel);
        self.shard(channel)
            .subscriber
            .subscribe(&pubsub_channel)
            .await
    }

    async fn unsubscribe(&self, channel: &str) -> Result<(), EngineError> {
        let pubsub_channel = self.keys.client_channel(channel);
        self.shard(channel)
            .subscriber
            .unsubscribe(&pubsub_channel)
            .await
    }

    /// With history, one script assigns the offset, appends to the stream, refreshes TTLs,
    /// checks and stores the idempotency result and publishes, atomically. Without, a plain
    /// PUBLISH (or a small script when an idempotency key must be remembered). Tried a second
    /// time only when the first surely never reached Redis (see `health.rs`).
    async fn publish(
        &self,
        channel: &str,
        publication: Publication,
        opts: &PublishOptions,
    ) -> Result<PublishResult, EngineError> {
        self.delivery.running()?;
        let body = codec::encode_body(&publication);
        let shard = self.shard(channel);
        let pubsub_channel = self.keys.client_channel(channel);
        let result_ttl = match opts.idempotent_result_ttl {
            Duration::ZERO => DEFAULT_IDEMPOTENT_RESULT_TTL,
            ttl => ttl,
        };
        let reply: Value = if opts.keeps_history() {
            let mut script = SCRIPTS.publish.key(self.keys.stream(channel));
            script
                .key(self.keys.stream_meta(channel))
                .arg(body)
                .arg(opts.history_size)
                .arg(millis(opts.history_ttl).max(1))
                .arg(millis(opts.history_meta_ttl))
                .arg(new_epoch())
                .arg(pubsub_channel)
                .arg(opts.version)
                .arg(&opts.version_epoch);
            if let Some(key) = &opts.idempotency_key {
                script
                    .key(self.keys.result(channel, key))
                    .arg(millis(result_ttl).max(1));
            }
            let script = &script;
            shard
                .publish("publish", |mut c| async move {
                    script.invoke_async(&mut c).await
                })
                .await?
        } else {
            let message = codec::encode_unpositioned_publication(&body);
            match &opts.idempotency_key {
                Some(key) => {
                    let mut script = SCRIPTS.publish_unstored.key(self.keys.result(channel, key));
                    script
                        .arg(message)
                        .arg(pubsub_channel)
                        .arg(millis(result_ttl).max(1));
                    let script = &script;
                    shard
                        .publish("publish", |mut c| async move {
                            script.invoke_async(&mut c).await
                        })
                        .await?
                }
                None => {
                    let (pubsub_channel, message) = (&pubsub_channel, &message);
                    let _receivers: i64 = shard
                        .publish("publish", |mut c| async move {
                            c.publish(pubsub_channel, message).await
                        })
                        .await?;
                    return Ok(PublishResult::default());
                }
            }
        };
        publish_result(reply)
    }

    async fn publish_join(&self, channel: &str, info: &ClientInfo) -> Result<(), EngineError> {
        self.publish_raw(channel, codec::encode_join(info)).await
    }

    async fn publish_leave(&self, channel: &str, info: &ClientInfo) -> Result<(), EngineError> {
        self.publish_raw(channel, codec::encode_leave(info)).await
    }

    async fn history(
        &self,
        channel: &str,
        opts: &HistoryOptions,
    ) -> Result<HistoryResult, EngineError> {
        self.read_history(channel, opts).await
    }

    /// PUBLISHes to `{p}.control` on the first shard, to which every node is subscribed.
    async fn publish_control(&self, data: Bytes) -> Result<(), EngineError> {
        self.delivery.running()?;
        let shard = &self.shards[0];
        let (channel, data) = (&self.keys.control_channel(), data.as_ref());
        let _receivers: i64 = shard
            .publish("publish control", |mut c| async move {
                c.publish(channel, data).await
            })
            .await?;
        Ok(())
    }

    /// Whether every shard's PUB/SUB connection is up with all its channels subscribed, and
    /// its command connection known to work.
    fn is_healthy(&self) -> bool {
        RedisEngine::is_healthy(self)
    }

    /// Drops every shard's PUB/SUB connection (its reader reconnects, resubscribes and reports
    /// the gap) and puts every command connection in doubt (its monitor PINGs it).
    fn reconnect(&self) {
        for shard in &self.shards {
            shard.health.doubt();
            shard.subscriber.reconnect();
        }
    }

    /// Deletes the stream; the position (the meta hash) stays, so offsets continue.
    async fn remove_history(&self, channel: &str) -> Result<(), EngineError> {
        let shard = self.shard(channel);
        let mut commands = shard.commands.clone();
        let deleting = commands.del::<_, i64>(self.keys.stream(channel));
        let _deleted = shard.run("remove history", deleting).await?;
        Ok(())
    }
}

impl RedisEngine {
    /// PUBLISHes a join or leave into the channel's PUB/SUB channel.
    async fn publish_raw(&self, channel: &str, message: Vec<u8>) -> Result<(), EngineError> {
        self.delivery.running()?;
        let shard = self.shard(channel);
        let (pubsub_channel, message) = (&self.keys.client_channel(channel), &message);
        let _receivers: i64 = shard
            .publish("publish", |mut c| async move {
                c.publish(pubsub_channel, message).await
            })
            .await?;
        Ok(())
    }
}

/// Reads `{offset, epoch, suppressed}` from a publish script: suppressed 0 is published, 1 an
/// idempotency key seen before, 2 a stale version.
fn publish_result(reply: Value) -> Result<PublishResult, EngineError> {
    let parsed = match into_array(reply.clone()).as_deref() {
        Some([offset, epoch, suppressed]) => {
            as_u64(offset).zip(as_string(epoch)).zip(as_u64(suppressed))
        }
        _ => None,
    };
    let Some(((offset, epoch), suppressed)) = parsed else {
        return Err(unexpected("publish", &reply));
    };
    let suppressed = match suppressed {
        0 => None,
        1 => Some(SuppressReason::Idempotency),
        2 => Some(SuppressReason::Version),
        _ => return Err(unexpected("publish", &reply)),
    };
    Ok(PublishResult {
        position: StreamPosition { offset, epoch },
        suppressed,
    })
}

/// A new random epoch of `[a-zA-Z]`, offered to the scripts for a stream that has none.
pub(crate) fn new_epoch() -> String {
    Alphabetic.sample_string(&mut rand::rng(), EPOCH_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_publish_replies() {
        let fresh = Value::Array(vec![
            Value::Int(3),
            Value::BulkString(b"AbCdEfGh".to_vec()),
            Value::Int(0),
        ]);
        assert_eq!(
            publish_result(fresh),
            Ok(PublishResult {
                position: StreamPosition {
                    offset: 3,
                    epoch: "AbCdEfGh".into()
                },
                suppressed: None,
            })
        );
        let cached = Value::Array(vec![
            Value::BulkString(b"0".to_vec()),
            Value::BulkString(Vec::new()),
            Value::Int(1),
        ]);
        assert_eq!(
            publish_result(cached),
            Ok(PublishResult {
                position: StreamPosition::default(),
                suppressed: Some(SuppressReason::Idempotency),
            })
        );
        let stale = Value::Array(vec![
            Value::Int(7),
            Value::BulkString(b"e".to_vec()),
            Value::Int(2),
        ]);
        assert_eq!(
            publish_result(stale).map(|r| r.suppressed),
            Ok(Some(SuppressReason::Version))
        );
        assert!(publish_result(Value::Nil).is_err());
    }

    #[test]
    fn epochs_are_eight_letters() {
        let epoch = new_epoch();
        assert_eq!(epoch.len(), EPOCH_LEN);
        assert!(epoch.chars().all(|c| c.is_ascii_alphabetic()));
    }
}
