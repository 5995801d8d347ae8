//! Watching a channel from the server side (the admin UI's live view): a subscriber without a
//! connection, registered in the registry like any other, so it sees publications from every
//! node (the node takes the channel's broker subscription while someone watches).
//!
//! Bounded like a connection: its queue holds `client.queue_max_size` bytes of encoded pushes,
//! and a watcher that does not keep up is cut off (3008 "slow", the stream ends) rather than
//! buffering. Dropping the [`Watch`] removes the subscriber and, when it was the channel's last
//! local one, releases the broker subscription. A watcher is not a connection: it is not in
//! the connections API, but it counts as a subscriber in `channels` and `info`.

use std::sync::Arc;

use bytes::Bytes;
use herald_proto::Protocol;

use crate::HubError;
use crate::node::Hub;
use crate::outbox::{Drained, Outbox};
use crate::registry::NewSubscriber;
use crate::session::random_uuid;

/// A live server-side subscription to one channel.
#[derive(Debug)]
pub struct Watch {
    hub: Hub,
    channel: String,
    id: Arc<str>,
    outbox: Arc<Outbox>,
}

impl Hub {
    /// Starts watching `channel`: 107 for an invalid name, 102 for an unknown namespace, 100
    /// when the broker refuses the subscription.
    pub async fn watch(&self, channel: &str) -> Result<Watch, HubError> {
        self.resolve_api(channel)?;
        let max_bytes = self.shared.options.client.queue_max_size;
        let outbox = Arc::new(Outbox::unidirectional(Protocol::Json, max_bytes));
        let id: Arc<str> = Arc::from(format!("watch-{}", random_uuid()));
        let spec = NewSubscriber {
            outbox: outbox.clone(),
            push_join_leave: false,
            positioned: false,
            server_side: true,
            delta: false,
        };
        let registry = &self.shared.registry;
        let first = registry
            .add_pending(channel, &id, spec)
            .map_err(|_| HubError::AlreadySubscribed)?;
        let watch = Watch {
            hub: self.clone(),
            channel: channel.to_owned(),
            id,
            outbox,
        };
        if first {
            // On failure the drop releases what was taken.
            self.shared.broker.subscribe(channel).await?;
        }
        registry.activate(channel, &watch.id, None, None);
        Ok(watch)
    }
}

impl Watch {
    /// The next pushes (JSON, `{"channel":..,"pub":{..}}` each), or `None` once the watch is
    /// over: cut off as slow, or the node is shutting down.
    pub async fn next(&self) -> Option<Vec<Bytes>> {
        let shutdown = self.hub.shared.shutdown.clone();
        tokio::select! {
            drained = self.outbox.drain() => match drained {
                Drained::Messages(messages) => Some(messages),
                Drained::Close(..) => None,
            },
            () = shutdown.cancelled() => None,
        }
    }

    /// The watched channel.
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let shared = &self.hub.shared;
        let last = shared.registry.remove(&self.channel, &self.id);
        if last {
            let (broker, channel) = (shared.broker.clone(), std::mem::take(&mut self.channel));
            // Drop cannot wait; the unsubscribe runs on its own, as a session's would.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Err(err) = broker.unsubscribe(&channel).await {
                        tracing::warn!(%channel, %err, "broker unsubscribe failed");
                    }
                });
            }
        }
    }
}
