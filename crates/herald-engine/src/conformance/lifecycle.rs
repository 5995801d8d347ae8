//! [`LifecycleStore`] cases: occupancy periods counted once whoever holds the channel, and a
//! dead node's remains taken by exactly one cleaner. Nodes are simulated by ids sharing one
//! store. Each case takes a fresh store and panics on a deviation.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::sleep;

use super::unique_channel;
use crate::{HeldPresence, LifecycleStore};

const SECOND: Duration = Duration::from_secs(1);

/// A node id no other case uses.
fn node(name: &str) -> String {
    unique_channel(&format!("node-{name}"))
}

/// The first holder opens a period, the last one leaving lets exactly one check close it.
pub async fn occupancy_period_is_emitted_once<S: LifecycleStore + ?Sized>(store: Arc<S>) {
    let ch = unique_channel("occupancy-once");
    let (a, b) = (node("a"), node("b"));
    let period = store.occupy(&a, &ch).await.expect("occupy");
    assert!(period.is_some(), "the first holder opens a period");
    assert_eq!(store.occupy(&b, &ch).await.expect("occupy"), None);
    assert!(
        !store.release(&a, &ch).await.expect("release"),
        "b still holds it"
    );
    assert_eq!(store.check_vacated(&ch).await.expect("check"), None);
    assert!(
        store.release(&b, &ch).await.expect("release"),
        "nobody holds it"
    );
    assert_eq!(store.check_vacated(&ch).await.expect("check"), period);
    assert_eq!(store.check_vacated(&ch).await.expect("check"), None);
}

/// A holder arriving between the last release and the check continues the same period.
pub async fn occupy_before_check_continues_the_period<S: LifecycleStore + ?Sized>(store: Arc<S>) {
    let ch = unique_channel("occupancy-continue");
    let (a, b) = (node("a"), node("b"));
    let period = store.occupy(&a, &ch).await.expect("occupy");
    assert!(store.release(&a, &ch).await.expect("release"));
    assert_eq!(store.occupy(&b, &ch).await.expect("occupy"), None);
    assert_eq!(store.check_vacated(&ch).await.expect("check"), None);
    assert!(store.release(&b, &ch).await.expect("release"));
    assert_eq!(store.check_vacated(&ch).await.expect("check"), period);
}

/// After a period closes, the next one has a larger id.
pub async fn periods_increase<S: LifecycleStore + ?Sized>(store: Arc<S>) {
    let ch = unique_channel("occupancy-periods");
    let a = node("a");
    let mut last = 0;
    for _ in 0..3 {
        let period = store
            .occupy(&a, &ch)
            .await
            .expect("occupy")
            .expect("a new period");
        assert!(period > last, "{period} after {last}");
        last = period;
        assert!(store.release(&a, &ch).await.expect("release"));
        assert_eq!(store.check_vacated(&ch).await.expect("check"), Some(period));
    }
}

/// Several nodes joining and leaving one channel at once: every period that opens closes
/// exactly once, and none is reported twice.
pub async fn concurrent_holders_open_and_close_each_period_once<S: LifecycleStore + ?Sized>(
    store: Arc<S>,
) {
    let ch = unique_channel("occupancy-concurrent");
    let mut tasks = Vec::new();
    for n in 0..8 {
        let store = store.clone();
        let ch = ch.clone();
        let id = node(&n.to_string());
        tasks.push(tokio::spawn(async move {
            let (mut opened, mut closed) = (Vec::new(), Vec::new());
            for _ in 0..25 {
                if let Some(p) = store.occupy(&id, &ch).await.expect("occupy") {
                    opened.push(p);
                }
                tokio::task::yield_now().await;
                if store.release(&id, &ch).await.expect("release")
                    && let Some(p) = store.check_vacated(&ch).await.expect("check")
                {
                    closed.push(p);
                }
            }
            (opened, closed)
        }));
    }
    let (mut opened, mut closed) = (Vec::new(), Vec::new());
    for task in tasks {
        let (o, c) = task.await.expect("task");
        opened.extend(o);
        closed.extend(c);
    }
    // Whoever released last may have lost the race to a check that found a holder; one more
    // check settles the channel, as a vacated delay does.
    if let Some(p) = store.check_vacated(&ch).await.expect("check") {
        closed.push(p);
    }
    let opened_set: BTreeSet<u64> = opened.iter().copied().collect();
    let closed_set: BTreeSet<u64> = closed.iter().copied().collect();
    assert_eq!(opened_set.len(), opened.len(), "a period opened twice");
    assert_eq!(closed_set.len(), closed.len(), "a period closed twice");
    assert_eq!(opened_set, closed_set, "every period opened closes");
    assert!(!opened.is_empty());
}

/// A node that stops heartbeating is reported dead; one claimer wins its cleanup and takes its
/// presence entries and the channels it alone held.
pub async fn dead_node_cleanup_is_claimed_once<S: LifecycleStore + ?Sized>(store: Arc<S>) {
    let (dead, alive) = (node("dead"), node("alive"));
    let (only_dead, shared) = (
        unique_channel("cleanup-only"),
        unique_channel("cleanup-shared"),
    );
    assert!(
        store
            .occupy(&dead, &only_dead)
            .await
            .expect("occupy")
            .is_some()
    );
    assert!(
        store
            .occupy(&dead, &shared)
            .await
            .expect("occupy")
            .is_some()
    );
    assert!(
        store
            .occupy(&alive, &shared)
            .await
            .expect("occupy")
            .is_none()
    );
    let entries: Vec<HeldPresence> = (0..3)
        .map(|i| HeldPresence {
            channel: if i == 0 {
                shared.clone()
            } else {
                only_dead.clone()
            },
            client: format!("client-{i}"),
            user: format!("user-{i}"),
        })
        .collect();
    for entry in &entries {
        store.hold_presence(&dead, entry).await.expect("hold");
    }
    let gone = HeldPresence {
        channel: shared.clone(),
        client: "client-gone".into(),
        user: String::new(),
    };
    store.hold_presence(&dead, &gone).await.expect("hold");
    store
        .drop_presence(&dead, &gone.channel, &gone.client)
        .await
        .expect("drop");

    let ttl = SECOND;
    assert!(
        !store
            .heartbeat(&dead, ttl)
            .await
            .expect("hb")
            .contains(&dead)
    );
    sleep(2 * SECOND + SECOND / 2).await;
    let reported = store.heartbeat(&alive, ttl).await.expect("heartbeat");
    assert!(reported.contains(&dead), "{reported:?} lacks {dead}");
    assert!(!reported.contains(&alive));

    let mut claims = Vec::new();
    for n in 0..5 {
        let store = store.clone();
        let dead = dead.clone();
        claims.push(tokio::spawn(async move {
            store
                .claim_cleanup(&dead, &format!("claimer-{n}"), 30 * SECOND)
                .await
                .expect("claim")
        }));
    }
    let mut won = 0;
    for claim in claims {
        won += usize::from(claim.await.expect("task"));
    }
    assert_eq!(won, 1, "exactly one claimer wins");

    let remains = store.take_node(&dead).await.expect("take");
    let mut got = remains.presence.clone();
    got.sort();
    let mut expected = entries.clone();
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(remains.released, vec![only_dead.clone()]);
    assert!(
        store
            .check_vacated(&only_dead)
            .await
            .expect("check")
            .is_some()
    );
    assert_eq!(store.check_vacated(&shared).await.expect("check"), None);
    assert!(store.release(&alive, &shared).await.expect("release"));
    assert!(store.check_vacated(&shared).await.expect("check").is_some());

    let again = store.heartbeat(&alive, ttl).await.expect("heartbeat");
    assert!(!again.contains(&dead), "taken nodes are not reported again");
    assert_eq!(
        store.take_node(&dead).await.expect("take again"),
        crate::DeadNodeRemains::default()
    );
}
