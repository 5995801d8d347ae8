//! From a PUB/SUB message to a [`BrokerEventHandler`] call: the one place that decodes what
//! other nodes published, and counts what it cannot decode.
//!
//! A message that does not decode is skipped, counted, and logged once per channel: whatever
//! writes it (another program on the same prefix, say) usually writes many, and one line per
//! message would flood the log. The channels already logged are remembered in a set of at most
//! [`LOGGED_CHANNELS`]; when it is full it starts over, so memory stays bounded and a channel
//! may be logged again after that many others.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use herald_engine::{BrokerEventHandler, EngineError, lock};

use crate::codec::{self, Message};
use crate::keys::Keys;

/// The most channels remembered as already logged for an undecodable message.
const LOGGED_CHANNELS: usize = 1024;

/// Shared by the engine (which registers the handler) and every shard's PUB/SUB reader.
pub(crate) struct Delivery {
    handler: OnceLock<Arc<dyn BrokerEventHandler>>,
    keys: Keys,
    /// `{p}.control`, compared with every message's channel.
    control_channel: String,
    undecodable: AtomicU64,
    /// Channels whose undecodable messages were logged already, at most `LOGGED_CHANNELS`.
    /// Std mutex: never held across an await.
    logged: Mutex<HashSet<String>>,
}

impl Delivery {
    pub(crate) fn new(keys: Keys) -> Self {
        Self {
            handler: OnceLock::new(),
            control_channel: keys.control_channel(),
            keys,
            undecodable: AtomicU64::new(0),
            logged: Mutex::default(),
        }
    }

    /// Registers the handler; only the first registration counts.
    pub(crate) fn set_handler(&self, handler: Arc<dyn BrokerEventHandler>) {
        if self.handler.set(handler).is_err() {
            tracing::warn!("redis engine run called again; keeping the first handler");
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

    /// Decodes one message of `pubsub_channel` and hands it to the handler. Called by the
    /// shard's reader task, one message at a time, so a channel's events arrive in order and
    /// never overlap. What cannot be decoded is logged, counted and skipped.
    pub(crate) fn deliver(&self, pubsub_channel: &[u8], payload: Bytes) {
        if pubsub_channel == self.control_channel.as_bytes() {
            match self.handler.get() {
                Some(handler) => handler.handle_control(&payload),
                None => tracing::debug!("redis control message before run; dropped"),
            }
            return;
        }
        let Some(channel) = self.keys.channel_of(pubsub_channel) else {
            self.skip(
                &String::from_utf8_lossy(pubsub_channel),
                "not a channel of this prefix",
            );
            return;
        };
        let Some(handler) = self.handler.get() else {
            // Subscribing needs a handler, so this is a leftover of an earlier connection.
            tracing::debug!(channel, "redis message before run; dropped");
            return;
        };
        match codec::decode_message(payload) {
            Ok(Message::Publication {
                publication,
                position,
            }) => handler.handle_publication(channel, &publication, &position),
            Ok(Message::Join(info)) => handler.handle_join(channel, &info),
            Ok(Message::Leave(info)) => handler.handle_leave(channel, &info),
            Err(error) => self.skip(channel, &error.to_string()),
        }
    }

    /// Tells the handler that a PUB/SUB connection was lost and is back with every channel
    /// subscribed again: events published in between never arrived.
    pub(crate) fn gap(&self) {
        if let Some(handler) = self.handler.get() {
            handler.handle_gap();
        }
    }

    /// Counts a message that cannot be decoded, and logs it unless its channel was logged
    /// already (see the module docs).
    fn skip(&self, channel: &str, error: &str) {
        let skipped = self.undecodable.fetch_add(1, Ordering::Relaxed) + 1;
        if self.first_of(channel) {
            tracing::warn!(
                channel,
                error,
                skipped,
                "skipping undecodable redis pub/sub messages (logged once per channel; is \
                 something other than Herald using this prefix?)"
            );
        }
    }

    /// Whether `channel` is not in the logged set; adds it.
    fn first_of(&self, channel: &str) -> bool {
        // A poisoned lock is taken over: insert and clear cannot be left half done.
        let mut logged = lock(&self.logged);
        if logged.contains(channel) {
            return false;
        }
        if logged.len() >= LOGGED_CHANNELS {
            logged.clear();
        }
        logged.insert(channel.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_each_channel_once_in_bounded_memory() {
        let delivery = Delivery::new(Keys::new("p", false));
        assert!(delivery.first_of("a"));
        assert!(!delivery.first_of("a"));
        assert!(delivery.first_of("b"));
        for i in 0..3 * LOGGED_CHANNELS {
            delivery.first_of(&format!("c{i}"));
        }
        let logged = delivery.logged.lock().expect("not poisoned").len();
        assert!(logged <= LOGGED_CHANNELS, "{logged}");
        delivery.skip("x", "bad");
        delivery.skip("x", "bad");
        assert_eq!(delivery.undecodable(), 2);
    }
}
