//! The per-connection command rate (`client.rate_limit.client_command`, `limits/commands.rs`):
//! consulted for every command of a connected session before it is handled.

use herald_proto::{Command, DisconnectCode};
use tokio::time::Instant;

use super::{Flow, Session};
use crate::HubError;
use crate::limits::{CommandBuckets, CommandKind, LimitCounters, Verdict};

impl Session {
    /// `Some`: the command is past its rate and this is what became of the connection (error
    /// 111 sent, or closed with 3013); `None`: handle it.
    pub(super) fn over_rate(&mut self, command: &Command) -> Option<Flow> {
        let limits = self
            .hub
            .shared
            .options
            .client
            .command_rate_limits
            .as_ref()?;
        let kind = kind_of(command)?;
        let now = Instant::now();
        let buckets = self
            .command_buckets
            .get_or_insert_with(|| Box::new(CommandBuckets::new(limits, now)));
        let counters = &self.hub.shared.limit_counters;
        match buckets.check(limits, kind, now) {
            Verdict::Allow => None,
            Verdict::Refuse => {
                LimitCounters::bump(&counters.command_rate);
                tracing::debug!(client = %self.client, command = kind.key(), "command rate limit");
                Some(self.send_error(command.id, HubError::TooManyRequests))
            }
            Verdict::Disconnect => {
                LimitCounters::bump(&counters.command_rate_disconnects);
                tracing::info!(client = %self.client, user = %self.user, command = kind.key(), "too many requests: disconnecting");
                Some(self.disconnect(DisconnectCode::TOO_MANY_REQUESTS))
            }
        }
    }
}

/// The kind of a command that may be limited; `None` for connect and the unknown.
fn kind_of(command: &Command) -> Option<CommandKind> {
    Some(if command.subscribe.is_some() {
        CommandKind::Subscribe
    } else if command.unsubscribe.is_some() {
        CommandKind::Unsubscribe
    } else if command.publish.is_some() {
        CommandKind::Publish
    } else if command.history.is_some() {
        CommandKind::History
    } else if command.presence.is_some() {
        CommandKind::Presence
    } else if command.presence_stats.is_some() {
        CommandKind::PresenceStats
    } else if command.refresh.is_some() {
        CommandKind::Refresh
    } else if command.sub_refresh.is_some() {
        CommandKind::SubRefresh
    } else if command.rpc.is_some() {
        CommandKind::Rpc
    } else {
        return None;
    })
}
