//! A [`BrokerEventHandler`] that records what it receives, so the suite can check what a broker
//! delivered, in which order, and that calls for one channel never overlapped.

use std::collections::HashSet;
use std::pin::pin;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::{BrokerEventHandler, ClientInfo, Publication, StreamPosition};

/// How long the suite waits for a delivery. Generous because a networked broker delivers
/// asynchronously; under paused time it elapses instantly once nothing else can run.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// One event delivered to the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// [`BrokerEventHandler::handle_publication`].
    Publication {
        /// Channel.
        channel: String,
        /// The publication as delivered.
        publication: Publication,
        /// The position delivered with it.
        position: StreamPosition,
    },
    /// [`BrokerEventHandler::handle_join`].
    Join {
        /// Channel.
        channel: String,
        /// Who joined.
        info: ClientInfo,
    },
    /// [`BrokerEventHandler::handle_leave`].
    Leave {
        /// Channel.
        channel: String,
        /// Who left.
        info: ClientInfo,
    },
}

impl Event {
    fn channel(&self) -> &str {
        match self {
            Self::Publication { channel, .. }
            | Self::Join { channel, .. }
            | Self::Leave { channel, .. } => channel,
        }
    }
}

/// Records every event, in arrival order.
#[derive(Debug, Default)]
pub struct RecordingHandler {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    events: Vec<Event>,
    /// Channels with a handler call in progress.
    in_call: HashSet<String>,
    /// Channels that saw two overlapping calls.
    overlapped: HashSet<String>,
}

impl RecordingHandler {
    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.state().events.clone()
    }

    /// The events of `channel` so far.
    pub fn events_in(&self, channel: &str) -> Vec<Event> {
        events_in(&self.state().events, channel)
    }

    /// Whether two handler calls for `channel` ever overlapped (a broker must never do that).
    pub fn overlapped(&self, channel: &str) -> bool {
        self.state().overlapped.contains(channel)
    }

    /// Waits until `channel` has at least `count` events and returns them all.
    ///
    /// # Panics
    ///
    /// After [`DELIVERY_TIMEOUT`] without enough events.
    pub async fn wait_events(&self, channel: &str, count: usize) -> Vec<Event> {
        let deadline = Instant::now() + DELIVERY_TIMEOUT;
        loop {
            // Registered before checking, so an event arriving in between still wakes us.
            let mut changed = pin!(self.changed.notified());
            changed.as_mut().enable();
            let events = self.events_in(channel);
            if events.len() >= count {
                return events;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!(
                    "channel {channel}: expected at least {count} events within {DELIVERY_TIMEOUT:?}, got {events:#?}",
                );
            }
        }
    }

    /// Waits until `channel` has at least `count` publications and returns them all with their
    /// positions.
    ///
    /// # Panics
    ///
    /// After [`DELIVERY_TIMEOUT`] without enough events, or if an event of `channel` is not a
    /// publication.
    pub async fn wait_publications(
        &self,
        channel: &str,
        count: usize,
    ) -> Vec<(Publication, StreamPosition)> {
        self.wait_events(channel, count)
            .await
            .into_iter()
            .map(|event| match event {
                Event::Publication {
                    publication,
                    position,
                    ..
                } => (publication, position),
                other => panic!("channel {channel}: expected only publications, got {other:?}"),
            })
            .collect()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking test thread may poison it; the recorded events are still what they were.
        crate::lock(&self.state)
    }

    fn record(&self, event: Event) {
        let channel = event.channel().to_owned();
        {
            let mut state = self.state();
            if !state.in_call.insert(channel.clone()) {
                state.overlapped.insert(channel.clone());
            }
        }
        // Widen the window in which an overlapping call from another thread would be seen.
        std::thread::yield_now();
        {
            let mut state = self.state();
            state.in_call.remove(&channel);
            state.events.push(event);
        }
        self.changed.notify_waiters();
    }
}

impl BrokerEventHandler for RecordingHandler {
    fn handle_publication(
        &self,
        channel: &str,
        publication: &Publication,
        position: &StreamPosition,
    ) {
        self.record(Event::Publication {
            channel: channel.to_owned(),
            publication: publication.clone(),
            position: position.clone(),
        });
    }

    fn handle_join(&self, channel: &str, info: &ClientInfo) {
        self.record(Event::Join {
            channel: channel.to_owned(),
            info: info.clone(),
        });
    }

    fn handle_leave(&self, channel: &str, info: &ClientInfo) {
        self.record(Event::Leave {
            channel: channel.to_owned(),
            info: info.clone(),
        });
    }
}

fn events_in(events: &[Event], channel: &str) -> Vec<Event> {
    events
        .iter()
        .filter(|event| event.channel() == channel)
        .cloned()
        .collect()
}
