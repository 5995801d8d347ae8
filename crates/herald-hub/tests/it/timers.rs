//! Pings, pongs, stale connections and expiry under paused time.

use std::time::Duration;

use herald_hub::Flow;
use herald_proto::Protocol;

use crate::support::{connected, hub, options, send, take};

async fn next(session: &mut herald_hub::Session) -> Flow {
    let event = session.next_event().await;
    session.handle_event(event).await
}

#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_closed_as_stale_with_3502() {
    let hub = hub(options()).await;
    let mut session = hub.session(Protocol::Json);
    let started = tokio::time::Instant::now();
    assert_eq!(next(&mut session).await, Flow::Close);
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(take(&session).await.1, Some(3502));
}

#[tokio::test(start_paused = true)]
async fn pings_come_within_the_interval_and_a_missing_pong_closes_with_3012() {
    let mut opts = options();
    // Keep presence refreshes out of the way: only ping and pong timers fire here.
    opts.client.presence_update_interval = Duration::from_secs(3600);
    let hub = hub(opts).await;
    let mut session = connected(&hub, "alice").await;
    let started = tokio::time::Instant::now();
    assert_eq!(next(&mut session).await, Flow::Continue);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(12_500) && elapsed <= Duration::from_secs(25),
        "{elapsed:?}"
    );
    let (replies, _) = take(&session).await;
    assert_eq!(
        replies,
        vec![herald_proto::Reply::default()],
        "a ping is an empty reply"
    );

    // Answer this ping; the next one goes unanswered.
    assert_eq!(send(&mut session, "{}").await, Flow::Continue);
    assert_eq!(next(&mut session).await, Flow::Continue);
    let ping_at = tokio::time::Instant::now();
    assert_eq!(next(&mut session).await, Flow::Close);
    assert_eq!(ping_at.elapsed(), Duration::from_secs(8));
    assert_eq!(take(&session).await.1, Some(3012));
}

#[tokio::test(start_paused = true)]
async fn an_unexpected_pong_closes_with_3501() {
    let hub = hub(options()).await;
    let mut session = connected(&hub, "alice").await;
    assert_eq!(send(&mut session, "{}").await, Flow::Close);
    assert_eq!(take(&session).await.1, Some(3501));
}

#[tokio::test]
async fn a_connection_past_its_expiry_and_grace_is_closed_with_3005() {
    let mut opts = options();
    opts.client.expired_close_delay = Duration::ZERO;
    opts.client.ping_interval = None;
    let hub = hub(opts).await;
    let expire_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        + 1;
    let mut session = hub.session(Protocol::Json);
    let _ = send(
        &mut session,
        &format!(r#"{{"id":1,"connect":{{"token":"alice@{expire_at}"}}}}"#),
    )
    .await;
    let (replies, _) = take(&session).await;
    let connect = replies[0].connect.as_ref().expect("connect result");
    assert!(connect.expires);
    let flow = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if next(&mut session).await == Flow::Close {
                return Flow::Close;
            }
        }
    })
    .await
    .expect("closed within the expiry");
    assert_eq!(flow, Flow::Close);
    assert_eq!(take(&session).await.1, Some(3005));
}
