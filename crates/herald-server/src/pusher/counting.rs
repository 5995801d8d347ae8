//! Subscription counting (`pusher.apps[].subscription_count`): the subscribers of a public or
//! private channel learn how many connections are subscribed across the cluster
//! (`pusher_internal:subscription_count`, pusher-js's `channel.subscriptionCount`), and the
//! `subscription_count` webhook goes out.
//!
//! The count lives in the engine's presence store: each counted subscription adds an entry
//! under the channel's [`count_key`] (refreshed with the connection's presence entries, held
//! by its node so a dead node's entries are removed by the node that cleans up after it), and
//! the count is the number of entries. A node whose subscriber joined or left publishes the
//! new count to the channel, at most once per [`INTERVAL`] per channel: the changes inside a
//! window are sent once it ends, with the count read then, so the last word is always a fresh
//! count. Bounded: one entry per channel that changed within the last window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_hub::{Hub, VerbatimPublish};
use herald_pusher::webhook::WebhookEvent;
use herald_pusher::{Channel, server};

use super::apps::App;

/// Shortest time between two counts of one channel from one node.
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);

/// What follows a channel's hub key in the key of its count entries. A channel name cannot
/// hold `#` past its start, so no channel's key ends like this.
const COUNT_SUFFIX: &str = "#subscriptions";

/// The presence key counting `key`'s subscriptions.
pub(crate) fn count_key(key: &str) -> String {
    format!("{key}{COUNT_SUFFIX}")
}

/// The channel key a count key counts for, if it is one.
pub(crate) fn counted_key(count_key: &str) -> Option<&str> {
    count_key.strip_suffix(COUNT_SUFFIX)
}

/// Channels whose count was sent within the last [`INTERVAL`] (per app).
#[derive(Debug, Default)]
pub(crate) struct Counting {
    /// Channel name -> whether it changed again since its last count was sent.
    // std Mutex: map updates only.
    windows: Mutex<HashMap<String, bool>>,
}

impl Counting {
    /// `channel`'s count changed on this node: sends the new count now, or when the current
    /// window ends.
    pub(crate) fn changed(self: &Arc<Self>, hub: &Hub, app: &Arc<App>, channel: &Channel) {
        {
            let mut windows = herald_engine::lock(&self.windows);
            if let Some(again) = windows.get_mut(channel.as_str()) {
                *again = true;
                return;
            }
            windows.insert(channel.to_string(), false);
        }
        let (counting, hub, app, channel) =
            (self.clone(), hub.clone(), app.clone(), channel.clone());
        tokio::spawn(async move {
            loop {
                send_count(&hub, &app, &channel).await;
                tokio::time::sleep(INTERVAL).await;
                let mut windows = herald_engine::lock(&counting.windows);
                match windows.get_mut(channel.as_str()) {
                    Some(again) if *again => *again = false,
                    _ => {
                        windows.remove(channel.as_str());
                        return;
                    }
                }
            }
        });
    }
}

/// Reads the channel's count and sends it to its subscribers and the webhooks.
async fn send_count(hub: &Hub, app: &App, channel: &Channel) {
    let key = app.channel_key(channel);
    let count = match hub.verbatim_presence_count(&count_key(&key)).await {
        Ok(count) => u64::from(count),
        Err(err) => {
            tracing::warn!(%channel, %err, "subscription count not read");
            return;
        }
    };
    let frame = server::subscription_count(channel, count);
    if let Err(err) = hub
        .publish_verbatim(&key, frame.into(), VerbatimPublish::default())
        .await
    {
        tracing::warn!(%channel, %err, "subscription count not sent");
    }
    app.webhooks.send(WebhookEvent::SubscriptionCount {
        channel: channel.to_string(),
        subscription_count: count,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_keys_never_name_a_channel() {
        let key = "__herald.verbatim/pusher/1:news";
        assert_eq!(counted_key(&count_key(key)), Some(key));
        assert!(Channel::parse("news#subscriptions").is_err());
        assert_eq!(counted_key(key), None);
    }
}
