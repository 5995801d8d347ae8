//! Deadlines of a session: stale connection, ping and pong, connection and subscription expiry,
//! presence refresh. Time comes from tokio's clock so tests can pause it.

use std::future::Future;
use std::num::NonZeroU64;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use herald_proto::{DisconnectCode, Reply, UnsubscribeCode};
use tokio::time::{Instant, Sleep};

use super::{Flow, Session};
use crate::node::now_unix_secs;

#[derive(Debug, Default)]
pub(super) struct Timers {
    /// Close with 3502 if no connect arrives by then.
    pub(super) stale: Option<Deadline>,
    /// Send the next ping.
    pub(super) ping: Option<Deadline>,
    /// Close with 3012 if no pong arrives by then.
    pub(super) pong: Option<Deadline>,
    /// Check the connection expiry.
    pub(super) expire: Option<Deadline>,
    /// Refresh presence entries.
    pub(super) presence: Option<Deadline>,
    /// Check subscription expiries.
    pub(super) sub_expire: Option<Deadline>,
    /// The one timer entry that waits for the earliest deadline, reset as they change. Boxed
    /// because a timer entry must not move once polled, and a session moves.
    sleep: Option<Pin<Box<Sleep>>>,
}

/// A point in time in 8 bytes, `Option` included (a tokio `Instant` takes 16): microseconds
/// past a base instant of the process, plus one. Six live in every idle session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Deadline(NonZeroU64);

impl Deadline {
    /// `delay` from now.
    pub(super) fn after(delay: Duration) -> Self {
        Self::at(Instant::now() + delay)
    }

    /// `instant`, to the microsecond below.
    pub(super) fn at(instant: Instant) -> Self {
        let micros = instant.saturating_duration_since(base()).as_micros();
        let micros = u64::try_from(micros).unwrap_or(u64::MAX - 1);
        Self(NonZeroU64::MIN.saturating_add(micros))
    }

    pub(super) fn instant(self) -> Instant {
        base() + Duration::from_micros(self.0.get() - 1)
    }
}

/// The instant deadlines count from: an hour before their first use, so that it precedes
/// every instant a deadline is made of, also those of a test runtime whose paused clock started
/// a little before that first use (a production clock never runs behind it).
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(|| {
        let now = Instant::now();
        [3600, 60, 1]
            .into_iter()
            .find_map(|secs| now.checked_sub(Duration::from_secs(secs)))
            .unwrap_or(now)
    })
}

impl Timers {
    pub(super) fn connecting(stale_close_delay: Duration) -> Self {
        Self {
            stale: Some(Deadline::after(stale_close_delay)),
            ..Default::default()
        }
    }

    pub(super) fn next(&self) -> Option<Instant> {
        [
            self.stale,
            self.ping,
            self.pong,
            self.expire,
            self.presence,
            self.sub_expire,
        ]
        .into_iter()
        .flatten()
        .min()
        .map(Deadline::instant)
    }

    /// Ready when the earliest deadline has passed; otherwise `cx` is woken when it does.
    pub(super) fn poll_due(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.next() else {
            return Poll::Pending;
        };
        let sleep = match &mut self.sleep {
            Some(sleep) => {
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                sleep
            }
            None => self
                .sleep
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        sleep.as_mut().poll(cx)
    }
}

/// The deadline `delay` after the Unix time `at` (seconds).
pub(super) fn deadline_after_unix(at: i64, delay: Duration) -> Deadline {
    let from_now = (at - now_unix_secs()).max(0) as u64;
    Deadline::after(Duration::from_secs(from_now) + delay)
}

impl Session {
    pub(super) async fn on_timer(&mut self) -> Flow {
        let now = Instant::now();
        let due = |t: Option<Deadline>| t.is_some_and(|t| t.instant() <= now);
        if due(self.timers.stale) {
            tracing::info!(client = %self.client, "no connect command in time");
            return self.disconnect(DisconnectCode::STALE);
        }
        if due(self.timers.pong) {
            tracing::info!(client = %self.client, user = %self.user, "no pong in time");
            return self.disconnect(DisconnectCode::NO_PONG);
        }
        if due(self.timers.ping) && self.send_ping() == Flow::Close {
            return Flow::Close;
        }
        if due(self.timers.expire) {
            let refresh_proxy = self.hub.shared.options.client.refresh_proxy.clone();
            let flow = match refresh_proxy {
                Some(proxy) if self.expire_at.is_some_and(|at| at <= now_unix_secs()) => {
                    self.timers.expire = None;
                    self.refresh_via_proxy(proxy).await
                }
                _ => self.check_expiry(),
            };
            if flow == Flow::Close {
                return Flow::Close;
            }
        }
        if due(self.timers.presence) {
            self.refresh_presence().await;
        }
        if due(self.timers.sub_expire) {
            return self.expire_subscriptions().await;
        }
        Flow::Continue
    }

    pub(super) fn on_pong(&mut self) -> Flow {
        if self.state != super::State::Connected || self.timers.pong.take().is_none() {
            tracing::info!(client = %self.client, "unexpected pong");
            return self.disconnect(DisconnectCode::BAD_REQUEST);
        }
        Flow::Continue
    }

    /// Starts pings after connect. The first ping comes at a random moment between half the
    /// interval and the interval, so reconnect storms do not ping in lockstep.
    pub(super) fn start_connected_timers(&mut self) {
        let options = &self.hub.shared.options.client;
        self.timers.stale = None;
        // Registered with the node now, so its shutdown reaches this session through the outbox.
        self.shutdown = None;
        if let Some(interval) = options.ping_interval {
            let half = interval / 2;
            let jitter = half.mul_f64(rand::random::<f64>());
            self.timers.ping = Some(Deadline::after(half + jitter));
        }
        self.timers.presence = Some(Deadline::after(options.presence_update_interval));
        self.schedule_expiry();
    }

    /// The client refreshing its own token gets `expired_close_delay` of grace; a refresh
    /// proxy is asked at the expiry itself.
    pub(super) fn schedule_expiry(&mut self) {
        let options = &self.hub.shared.options.client;
        let delay = if options.refresh_proxy.is_some() {
            Duration::ZERO
        } else {
            options.expired_close_delay
        };
        self.timers.expire = self.expire_at.map(|at| deadline_after_unix(at, delay));
    }

    /// The earliest subscription deadline: its expiry plus `expired_sub_close_delay` when the
    /// client refreshes it, the expiry itself when a sub_refresh proxy does.
    pub(super) fn schedule_sub_expiry(&mut self) {
        let delay = self.hub.shared.options.client.expired_sub_close_delay;
        self.timers.sub_expire = self
            .subs
            .values()
            .filter_map(|s| {
                let grace = if s.refresh_by_proxy {
                    Duration::ZERO
                } else {
                    delay
                };
                s.expire_at.map(|at| deadline_after_unix(at, grace))
            })
            .min();
    }

    fn send_ping(&mut self) -> Flow {
        let options = &self.hub.shared.options.client;
        let now = Instant::now();
        self.timers.ping = options
            .ping_interval
            .map(|interval| Deadline::at(now + interval));
        // A unidirectional client cannot answer: its ping only keeps the stream alive.
        if let Some(timeout) = options.pong_timeout
            && self.kind != super::TransportKind::Unidirectional
            && self.timers.pong.is_none()
        {
            self.timers.pong = Some(Deadline::at(now + timeout));
        }
        self.send_reply(&Reply::default())
    }

    fn check_expiry(&mut self) -> Flow {
        match self.expire_at {
            Some(at) if at <= now_unix_secs() => {
                tracing::info!(client = %self.client, user = %self.user, "connection expired");
                self.disconnect(DisconnectCode::EXPIRED)
            }
            _ => {
                self.schedule_expiry();
                Flow::Continue
            }
        }
    }

    async fn refresh_presence(&mut self) {
        let options = &self.hub.shared.options.client;
        self.timers.presence = Some(Deadline::after(options.presence_update_interval));
        let ttl = options.presence_ttl;
        self.refresh_user_connection().await;
        for (channel, sub) in self.subs.iter() {
            if sub.presence {
                let info = self.client_info(sub.chan_info.clone());
                let result = self
                    .hub
                    .shared
                    .presence
                    .add_presence(channel, &self.client, &info, ttl)
                    .await;
                if let Err(err) = result {
                    tracing::warn!(client = %self.client, %channel, %err, "presence refresh failed");
                }
            }
        }
    }

    /// Unsubscribes (2501, the SDK resubscribes with a fresh token) every subscription whose
    /// token expired more than `expired_sub_close_delay` ago without a `sub_refresh`.
    async fn expire_subscriptions(&mut self) -> Flow {
        let now = now_unix_secs();
        let delay = self
            .hub
            .shared
            .options
            .client
            .expired_sub_close_delay
            .as_secs() as i64;
        let by_proxy: Vec<String> = self
            .subs
            .iter()
            .filter(|(_, s)| s.refresh_by_proxy && s.expire_at.is_some_and(|at| at <= now))
            .map(|(channel, _)| channel.clone())
            .collect();
        for channel in by_proxy {
            let proxy = self
                .hub
                .shared
                .rules
                .resolve(&channel)
                .ok()
                .and_then(|resolved| resolved.options.sub_refresh_proxy.clone());
            let flow = match proxy {
                Some(proxy) => self.sub_refresh_via_proxy(proxy, &channel).await,
                None => {
                    self.unsubscribe_with_push(&channel, UnsubscribeCode::EXPIRED)
                        .await
                }
            };
            if flow == Flow::Close {
                return Flow::Close;
            }
        }
        let expired: Vec<String> = self
            .subs
            .iter()
            .filter(|(_, s)| !s.refresh_by_proxy && s.expire_at.is_some_and(|at| at + delay <= now))
            .map(|(channel, _)| channel.clone())
            .collect();
        for channel in expired {
            tracing::info!(client = %self.client, %channel, "subscription expired");
            if self
                .unsubscribe_with_push(&channel, UnsubscribeCode::EXPIRED)
                .await
                == Flow::Close
            {
                return Flow::Close;
            }
        }
        self.schedule_sub_expiry();
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_keeps_its_instant_to_the_microsecond_and_its_order() {
        let now = Instant::now();
        let soon = Deadline::at(now + Duration::from_millis(1));
        let later = Deadline::after(Duration::from_secs(25));
        assert!(soon < later);
        let back = soon.instant();
        assert!(back <= now + Duration::from_millis(1));
        assert!(now + Duration::from_millis(1) - back < Duration::from_micros(1));
        assert_eq!(std::mem::size_of::<Option<Deadline>>(), 8);
    }
}
