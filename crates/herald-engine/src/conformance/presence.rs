//! [`PresenceManager`] cases. Each takes a fresh presence manager and panics on a deviation.
//!
//! TTL margins are at least a second because the Redis engine, like Centrifugo's, stores
//! presence expiry as whole Unix seconds, so an entry may expire up to a second early.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::sleep;

use super::unique_channel;
use crate::{ClientInfo, PresenceManager, PresenceStats};

const SECOND: Duration = Duration::from_secs(1);
/// A TTL no case waits out.
const LONG: Duration = Duration::from_secs(300);

/// A channel nobody joined has no presence and zero counters.
pub async fn presence_of_unknown_channel_is_empty<P: PresenceManager + ?Sized>(presence: Arc<P>) {
    let ch = unique_channel("presence-unknown");
    assert!(presence.presence(&ch).await.expect("presence").is_empty());
    assert_eq!(
        presence.presence_stats(&ch).await.expect("stats"),
        PresenceStats::default()
    );
}

/// Added entries come back keyed by client id with their full info.
pub async fn presence_add_and_get<P: PresenceManager + ?Sized>(presence: Arc<P>) {
    let ch = unique_channel("presence-add");
    let a = info("user-a", "client-a", "a");
    let b = info("user-b", "client-b", "b");
    add(&*presence, &ch, &a, LONG).await;
    add(&*presence, &ch, &b, LONG).await;
    let expected = HashMap::from([(a.client.clone(), a), (b.client.clone(), b)]);
    assert_eq!(presence.presence(&ch).await.expect("presence"), expected);
    assert_eq!(stats(&*presence, &ch).await, (2, 2));
}

/// Presence in one channel does not show in another.
pub async fn presence_is_per_channel<P: PresenceManager + ?Sized>(presence: Arc<P>) {
    let ch = unique_channel("presence-one");
    let other = unique_channel("presence-other");
    add(&*presence, &ch, &info("user-a", "client-a", "a"), LONG).await;
    assert!(
        presence
            .presence(&other)
            .await
            .expect("presence")
            .is_empty()
    );
    assert_eq!(stats(&*presence, &other).await, (0, 0));
}

/// A removed entry is gone; removing what is not there is fine.
pub async fn presence_remove<P: PresenceManager + ?Sized>(presence: Arc<P>) {
    let ch = unique_channel("presence-remove");
    let a = info("user-a", "client-a", "a");
    let b = info("user-b", "client-b", "b");
    add(&*presence, &ch, &a, LONG).await;
    add(&*presence, &ch, &b, LONG).await;
    presence
        .remove_presence(&ch, &a.client, &a.user)
        .await
        .expect("remove");
    let expected = HashMap::from([(b.client.clone(), b.clone())]);
    assert_eq!(presence.presence(&ch).await.expect("presence"), expected);
    assert_eq!(stats(&*presence, &ch).await, (1, 1));

    presence
        .remove_presence(&ch, "nobody", "")
        .await
        .expect("remove unknown client");
    let unknown = unique_channel("presence-remove-unknown");
    presence
        .remove_presence(&unknown, "nobody", "")
        .await
        .expect("remove unknown channel");
    presence
        .remove_presence(&ch, &b.client, &b.user)
        .await
        .expect("remove");
    assert!(presence.presence(&ch).await.expect("presence").is_empty());
    assert_eq!(stats(&*presence, &ch).await, (0, 0));
}

/// Adding a client again replaces its info rather than adding a second entry.
pub async fn presence_add_again_updates_info<P: PresenceManager + ?Sized>(presence: Arc<P>) {
    let ch = unique_channel("presence-update");
    add(&*presence, &ch, &info("user-a", "client-a", "old"), LONG).await;
    let updated = info("user-a", "client-a", "new");
    add(&*presence, &ch, &updated, LONG).await;
    let expected = HashMap::from([(updated.client.clone(), updated)]);
    assert_eq!(presence.presence(&ch).await.expect("presence"), expected);
    assert_eq!(stats(&*presence, &ch).await, (1, 1));
}

/// An entry not refreshed within its TTL disappears; others stay.
pub async fn presence_expires_after_ttl<P: PresenceManager + ?Sized>(presence: Arc<P>) {
    let ch = unique_channel("presence-ttl");
    let short = info("user-a", "client-a", "a");
    let long = info("user-b", "client-b", "b");
    add(&*presence, &ch, &short, SECOND).await;
    add(&*presence, &ch, &long, LONG).await;
    sleep(2 * SECOND + SECOND / 2).await;
    let expected = HashMap::from([(long.client.clone(), long)]);
    assert_eq!(presence.presence(&ch).await.expect("presence"), expected);
}

/// Adding an entry again restarts its TTL.
pub async fn presence_refresh_extends_ttl<P: PresenceManager + ?Sized>(presence: Arc<P>) {
    let ch = unique_channel("presence-refresh");
    let a = info("user-a", "client-a", "a");
    let ttl = 4 * SECOND;
    add(&*presence, &ch, &a, ttl).await;
    sleep(3 * SECOND).await;
    add(&*presence, &ch, &a, ttl).await;
    sleep(2 * SECOND).await;
    // 5 s after the first add, past its TTL; 2 s after the refresh.
    assert_eq!(
        presence.presence(&ch).await.expect("presence").len(),
        1,
        "refresh did not extend the TTL"
    );
    assert_eq!(stats(&*presence, &ch).await, (1, 1));
    sleep(3 * SECOND).await;
    assert!(presence.presence(&ch).await.expect("presence").is_empty());
    assert_eq!(stats(&*presence, &ch).await, (0, 0));
}

/// `num_users` counts distinct user ids, the anonymous user `""` once.
pub async fn presence_stats_counts_distinct_users_with_anonymous<P: PresenceManager + ?Sized>(
    presence: Arc<P>,
) {
    let ch = unique_channel("presence-stats");
    for (user, client) in [
        ("u1", "c1"),
        ("u1", "c2"),
        ("u2", "c3"),
        ("", "c4"),
        ("", "c5"),
    ] {
        add(&*presence, &ch, &info(user, client, client), LONG).await;
    }
    assert_eq!(stats(&*presence, &ch).await, (5, 3));
}

/// Stats ignore expired entries.
pub async fn presence_stats_skip_expired<P: PresenceManager + ?Sized>(presence: Arc<P>) {
    let ch = unique_channel("presence-stats-ttl");
    add(&*presence, &ch, &info("u1", "c1", "1"), SECOND).await;
    add(&*presence, &ch, &info("u2", "c2", "2"), LONG).await;
    add(&*presence, &ch, &info("u2", "c3", "3"), SECOND).await;
    assert_eq!(stats(&*presence, &ch).await, (3, 2));
    sleep(2 * SECOND + SECOND / 2).await;
    assert_eq!(stats(&*presence, &ch).await, (1, 1));
}

async fn add<P: PresenceManager + ?Sized>(
    presence: &P,
    ch: &str,
    info: &ClientInfo,
    ttl: Duration,
) {
    presence
        .add_presence(ch, &info.client, info, ttl)
        .await
        .expect("add_presence");
}

async fn stats<P: PresenceManager + ?Sized>(presence: &P, ch: &str) -> (u32, u32) {
    let stats = presence.presence_stats(ch).await.expect("presence_stats");
    (stats.num_clients, stats.num_users)
}

fn info(user: &str, client: &str, tag: &str) -> ClientInfo {
    ClientInfo {
        user: user.to_owned(),
        client: client.to_owned(),
        conn_info: Bytes::from(format!("{{\"tag\":\"{tag}\"}}")),
        chan_info: Bytes::from_static(b"\x00\x01binary"),
    }
}
