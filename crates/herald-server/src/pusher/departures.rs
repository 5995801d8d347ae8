//! Members of a node that died: the live node that claims the dead node's cleanup (once
//! across the cluster, `herald_hub`'s liveness) hands over each presence entry the dead node
//! held in a Pusher channel; this removes the entry at once (rather than when it expires) and,
//! when it was the user's last connection in the channel, sends `member_removed` to the
//! channel's subscribers on every node.
//!
//! A dead node's counted subscriptions (`counting.rs`) are removed the same way, and the
//! channels' new counts sent.
//!
//! The entries are handled one at a time, in order, by one task: two connections of one user
//! on the dead node then give one `member_removed` (after the second), never two or none.
//! Bounded: past [`QUEUE`] waiting entries the rest are dropped with a warning (their members
//! then stay listed until the entries expire after `client.presence_ttl`).

use herald_engine::HeldPresence;
use herald_hub::{Hub, VerbatimPublish};
use herald_pusher::webhook::WebhookEvent;
use herald_pusher::{Channel, server};
use tokio::sync::mpsc;

use super::apps::Apps;
use super::counting::counted_key;
use super::members;

/// Most dead-node entries waiting to be handled.
const QUEUE: usize = 16 * 1024;

/// Turns on node liveness in `hub` (unless lifecycle webhooks already did) and starts the
/// task that says goodbye for dead nodes' members. Call before `Hub::start`.
pub(crate) fn start(
    hub: &Hub,
    store: std::sync::Arc<dyn herald_engine::LifecycleStore>,
    apps: std::sync::Arc<Apps>,
) {
    // With webhooks on, lifecycle is enabled already and does the same bookkeeping.
    let _ = hub.enable_liveness(store);
    let (queue, mut entries) = mpsc::channel::<HeldPresence>(QUEUE);
    hub.on_verbatim_departure(move |_hub, entry| {
        if let Err(mpsc::error::TrySendError::Full(entry)) = queue.try_send(entry) {
            tracing::warn!(channel = %entry.channel, user = %entry.user, "dead node's member not removed at once (queue full): it stays until its presence entry expires");
        }
    });
    let hub = hub.clone();
    tokio::spawn(async move {
        while let Some(entry) = entries.recv().await {
            depart(&hub, &apps, entry).await;
        }
    });
}

async fn depart(hub: &Hub, apps: &Apps, entry: HeldPresence) {
    let HeldPresence {
        channel: key,
        client,
        user,
    } = entry;
    if let Some(counted) = counted_key(&key) {
        // A counted subscription of the dead node: one fewer.
        if let Err(err) = hub.remove_verbatim_presence(&key, &client, &user).await {
            tracing::warn!(channel = %counted, %err, "dead node's count entry not removed; it expires");
        }
        if let Some((app, name)) = apps.by_channel_key(counted)
            && let Ok(channel) = Channel::parse(name)
        {
            app.counting.changed(hub, app, &channel);
        }
        return;
    }
    let Some((app, name)) = apps.by_channel_key(&key) else {
        return;
    };
    let Ok(channel) = Channel::parse(name) else {
        return;
    };
    if let Err(err) = hub.remove_verbatim_presence(&key, &client, &user).await {
        tracing::warn!(%channel, %user, %err, "dead node's presence entry not removed; it expires");
    }
    let present = match hub.verbatim_presence(&key).await {
        Ok(present) => present,
        Err(err) => {
            tracing::warn!(%channel, %user, %err, "dead node's member_removed not sent");
            return;
        }
    };
    if members::present_elsewhere(&present, &user, &client) {
        return;
    }
    let frame = server::member_removed(&channel, &user);
    match hub
        .publish_verbatim(&key, frame.into(), VerbatimPublish::default())
        .await
    {
        Ok(_) => {
            tracing::info!(%channel, %user, "member of a dead node removed");
            app.webhooks.send(WebhookEvent::MemberRemoved {
                channel: channel.to_string(),
                user_id: user,
            });
        }
        Err(err) => tracing::warn!(%channel, %user, %err, "dead node's member_removed not sent"),
    }
}
