//! Commands the server API sends to a connection's session.

use bytes::Bytes;
use herald_proto::UnsubscribeCode;

use super::{Flow, Session};
use crate::SubscribeOverride;
use crate::node::now_unix_secs;

/// A server-side subscription requested through the API.
#[derive(Debug, Clone, Default)]
pub struct ServerSubscription {
    /// Channel to subscribe to.
    pub channel: String,
    /// Channel info shown in presence and join/leave.
    pub info: Bytes,
    /// Data for the client's subscribe push.
    pub data: Bytes,
    /// Subscription expiry (Unix seconds), `None` for none.
    pub expire_at: Option<i64>,
    /// Overrides of namespace options.
    pub overrides: SubscribeOverride,
}

/// A command for one session, from the API.
#[derive(Debug)]
pub enum Control {
    /// Subscribe the connection to a channel.
    Subscribe(ServerSubscription),
    /// Unsubscribe the connection from a channel (unsubscribe push 2000).
    Unsubscribe(String),
    /// The subscription lost its place in the stream; the client was already told to
    /// resubscribe (2500). Forget it.
    Dropped(String),
    /// Change the connection's expiry, or expire it now.
    Refresh {
        /// Expire the connection now (3005).
        expired: bool,
        /// New expiry (Unix seconds); `None` keeps no expiry.
        expire_at: Option<i64>,
        /// New connection info.
        info: Option<Bytes>,
    },
}

impl Session {
    pub(super) async fn on_control(&mut self, control: Control) -> Flow {
        match control {
            Control::Subscribe(sub) => {
                self.subscribe_server_side(
                    sub.channel,
                    sub.overrides,
                    sub.info,
                    sub.data,
                    sub.expire_at,
                )
                .await
            }
            Control::Dropped(channel) => {
                self.remove_subscription(&channel).await;
                Flow::Continue
            }
            Control::Unsubscribe(channel) => {
                self.unsubscribe_with_push(&channel, UnsubscribeCode::SERVER)
                    .await
            }
            Control::Refresh {
                expired,
                expire_at,
                info,
            } => {
                if expired || expire_at.is_some_and(|at| at <= now_unix_secs()) {
                    return self.disconnect(herald_proto::DisconnectCode::EXPIRED);
                }
                self.expire_at = expire_at;
                if let Some(info) = info {
                    self.outbox.set_info(info);
                }
                self.schedule_expiry();
                Flow::Continue
            }
        }
    }
}
