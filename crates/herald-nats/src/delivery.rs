//! From a NATS message to a [`BrokerEventHandler`] call: the one place that decodes what other
//! nodes published, and counts what it cannot decode or what NATS dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use herald_engine::{BrokerEventHandler, EngineError, StreamPosition};

use crate::codec::{self, Message};

/// Shared by the broker (which registers the handler), the readers of every subscription and
/// the connection monitor.
#[derive(Default)]
pub(crate) struct Delivery {
    handler: OnceLock<Arc<dyn BrokerEventHandler>>,
    undecodable: AtomicU64,
    slow_consumer: AtomicU64,
}

impl Delivery {
    /// Registers the handler; only the first registration counts.
    pub(crate) fn set_handler(&self, handler: Arc<dyn BrokerEventHandler>) {
        if self.handler.set(handler).is_err() {
            tracing::warn!("nats broker run called again; keeping the first handler");
        }
    }

    /// `NotRunning` until a handler is registered.
    pub(crate) fn running(&self) -> Result<(), EngineError> {
        match self.handler.get() {
            Some(_) => Ok(()),
            None => Err(EngineError::NotRunning),
        }
    }

    /// How many messages were skipped because they could not be decoded.
    pub(crate) fn undecodable(&self) -> u64 {
        self.undecodable.load(Ordering::Relaxed)
    }

    /// How many slow-consumer events NATS reported (about one per dropped message).
    pub(crate) fn slow_consumer_events(&self) -> u64 {
        self.slow_consumer.load(Ordering::Relaxed)
    }

    /// Counts one slow-consumer event.
    pub(crate) fn count_slow_consumer(&self) {
        self.slow_consumer.fetch_add(1, Ordering::Relaxed);
    }

    /// Decodes one message of `channel` and hands it to the handler. Called by the channel's
    /// reader task, one message at a time, so a channel's events arrive in order and never
    /// overlap. What cannot be decoded is logged, counted and skipped.
    pub(crate) fn deliver(&self, channel: &str, payload: Bytes) {
        let Some(handler) = self.handler.get() else {
            // Subscribing needs a handler, so this cannot happen; drop it all the same.
            tracing::debug!(channel, "nats message before run; dropped");
            return;
        };
        match codec::decode(payload) {
            Ok(Message::Publication(publication)) => {
                handler.handle_publication(channel, &publication, &StreamPosition::default())
            }
            Ok(Message::Join(info)) => handler.handle_join(channel, &info),
            Ok(Message::Leave(info)) => handler.handle_leave(channel, &info),
            Err(error) => {
                self.undecodable.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(channel, %error, "skipping undecodable nats message");
            }
        }
    }

    /// Hands a `{prefix}.control` message to the handler.
    pub(crate) fn control(&self, payload: &[u8]) {
        match self.handler.get() {
            Some(handler) => handler.handle_control(payload),
            None => tracing::debug!("nats control message before run; dropped"),
        }
    }

    /// Tells the handler that messages of any channel may have been missed.
    pub(crate) fn gap(&self) {
        if let Some(handler) = self.handler.get() {
            handler.handle_gap();
        }
    }
}
