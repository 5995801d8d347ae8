//! One NATS subscription per channel with local subscribers, each read by its own task that
//! calls the handler directly: a channel's events arrive in order, one at a time, and channels
//! do not wait for each other.
//!
//! Between the socket and a reader sits the client's per-subscription queue, bounded by
//! [`NatsOptions::subscription_capacity`](crate::NatsOptions::subscription_capacity). Overflow
//! policy: when it is full, async-nats drops the message and reports a slow consumer, which
//! `link.rs` turns into a log line, a count and a
//! [`handle_gap`](herald_engine::BrokerEventHandler::handle_gap) call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, Subscriber};
use futures_util::StreamExt;
use herald_engine::EngineError;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::delivery::Delivery;

/// The channels this node is subscribed to.
#[derive(Default)]
pub(crate) struct Subscriptions {
    /// Channel to its reader task. An async mutex, held while a subscription is handed to the
    /// client or a reader stops, so calls take effect in call order and a channel never has two
    /// readers at once. Nothing else waits under it.
    readers: Mutex<HashMap<String, JoinHandle<()>>>,
}

impl Subscriptions {
    /// Subscribes `channel` to `subject` unless it is already; returns whether it was new. The
    /// subscription is only queued to the server: the caller confirms it.
    pub(crate) async fn subscribe(
        &self,
        client: &Client,
        channel: &str,
        subject: String,
        delivery: &Arc<Delivery>,
        limit: Duration,
    ) -> Result<bool, EngineError> {
        let mut readers = self.readers.lock().await;
        if readers.contains_key(channel) {
            return Ok(false);
        }
        let subscriber = match timeout(limit, client.subscribe(subject)).await {
            Ok(Ok(subscriber)) => subscriber,
            Ok(Err(error)) => {
                return Err(EngineError::Unavailable {
                    reason: format!("nats subscribe {channel}: {error}"),
                });
            }
            Err(_) => {
                return Err(EngineError::Unavailable {
                    reason: format!("nats subscribe {channel}: client queue full"),
                });
            }
        };
        let reader = tokio::spawn(read(channel.to_owned(), subscriber, Arc::clone(delivery)));
        readers.insert(channel.to_owned(), reader);
        Ok(true)
    }

    /// Stops delivering `channel`: its reader ends (which unsubscribes from the server) before
    /// this returns, so no event of it is delivered afterwards.
    pub(crate) async fn unsubscribe(&self, channel: &str) {
        let mut readers = self.readers.lock().await;
        if let Some(reader) = readers.remove(channel) {
            reader.abort();
            // Err(cancelled) is the expected outcome; a panic in the handler is the handler's.
            let _ = reader.await;
        }
    }

    /// Stops every reader now (the broker is being dropped).
    pub(crate) fn abort_all(&mut self) {
        for (_, reader) in self.readers.get_mut().drain() {
            reader.abort();
        }
    }
}

/// Delivers one channel's messages until the subscription ends (the client closed) or the task
/// is aborted (dropping the subscriber unsubscribes).
async fn read(channel: String, mut subscriber: Subscriber, delivery: Arc<Delivery>) {
    while let Some(message) = subscriber.next().await {
        delivery.deliver(&channel, message.payload);
    }
    tracing::debug!(channel, "nats subscription ended");
}
