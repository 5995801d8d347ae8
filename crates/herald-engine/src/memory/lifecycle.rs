//! [`LifecycleStore`] in process memory: one node's view, under one lock (the memory engine is
//! single-node, but the store keeps per-node state so the conformance suite can simulate
//! several nodes sharing it).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::MemoryEngine;
use crate::{DeadNodeRemains, EngineError, HeldPresence, LifecycleStore, lock};

/// Occupancy and node state; every method is one critical section with no await inside.
#[derive(Debug, Default)]
pub(super) struct Lifecycle {
    /// Channel -> nodes holding local subscribers.
    holders: HashMap<String, HashSet<String>>,
    /// Channel -> id of its current occupancy period.
    occupied: HashMap<String, u64>,
    last_period: u64,
    /// Node -> channels it holds.
    node_channels: HashMap<String, HashSet<String>>,
    /// Node -> presence entries it holds, by (channel, client).
    node_presence: HashMap<String, HashMap<(String, String), String>>,
    /// Node -> last heartbeat.
    seen: HashMap<String, Instant>,
    /// Dead node -> cleanup claim expiry.
    claims: HashMap<String, Instant>,
}

impl Lifecycle {
    fn release(&mut self, node: &str, channel: &str) -> bool {
        if let Some(channels) = self.node_channels.get_mut(node) {
            channels.remove(channel);
            if channels.is_empty() {
                self.node_channels.remove(node);
            }
        }
        let Some(holders) = self.holders.get_mut(channel) else {
            return true;
        };
        holders.remove(node);
        if holders.is_empty() {
            self.holders.remove(channel);
            return true;
        }
        false
    }
}

#[async_trait]
impl LifecycleStore for MemoryEngine {
    async fn occupy(&self, node: &str, channel: &str) -> Result<Option<u64>, EngineError> {
        let mut state = lock(&self.lifecycle);
        state
            .node_channels
            .entry(node.to_owned())
            .or_default()
            .insert(channel.to_owned());
        state
            .holders
            .entry(channel.to_owned())
            .or_default()
            .insert(node.to_owned());
        if state.occupied.contains_key(channel) {
            return Ok(None);
        }
        state.last_period += 1;
        let period = state.last_period;
        state.occupied.insert(channel.to_owned(), period);
        Ok(Some(period))
    }

    async fn release(&self, node: &str, channel: &str) -> Result<bool, EngineError> {
        Ok(lock(&self.lifecycle).release(node, channel))
    }

    async fn check_vacated(&self, channel: &str) -> Result<Option<u64>, EngineError> {
        let mut state = lock(&self.lifecycle);
        if state.holders.contains_key(channel) {
            return Ok(None);
        }
        Ok(state.occupied.remove(channel))
    }

    async fn hold_presence(&self, node: &str, entry: &HeldPresence) -> Result<(), EngineError> {
        lock(&self.lifecycle)
            .node_presence
            .entry(node.to_owned())
            .or_default()
            .insert(
                (entry.channel.clone(), entry.client.clone()),
                entry.user.clone(),
            );
        Ok(())
    }

    async fn drop_presence(
        &self,
        node: &str,
        channel: &str,
        client: &str,
    ) -> Result<(), EngineError> {
        let mut state = lock(&self.lifecycle);
        if let Some(entries) = state.node_presence.get_mut(node) {
            entries.remove(&(channel.to_owned(), client.to_owned()));
            if entries.is_empty() {
                state.node_presence.remove(node);
            }
        }
        Ok(())
    }

    async fn heartbeat(&self, node: &str, ttl: Duration) -> Result<Vec<String>, EngineError> {
        let now = Instant::now();
        let mut state = lock(&self.lifecycle);
        state.seen.insert(node.to_owned(), now);
        let mut dead: Vec<String> = state
            .seen
            .iter()
            .filter(|(_, at)| now.duration_since(**at) > ttl)
            .map(|(id, _)| id.clone())
            .collect();
        dead.sort_unstable();
        Ok(dead)
    }

    async fn claim_cleanup(
        &self,
        dead: &str,
        _claimer: &str,
        ttl: Duration,
    ) -> Result<bool, EngineError> {
        let now = Instant::now();
        let mut state = lock(&self.lifecycle);
        if state.claims.get(dead).is_some_and(|until| *until > now) {
            return Ok(false);
        }
        state.claims.retain(|_, until| *until > now);
        state.claims.insert(dead.to_owned(), now + ttl);
        Ok(true)
    }

    async fn take_node(&self, dead: &str) -> Result<DeadNodeRemains, EngineError> {
        let mut state = lock(&self.lifecycle);
        state.seen.remove(dead);
        let mut remains = DeadNodeRemains::default();
        let channels = state.node_channels.remove(dead).unwrap_or_default();
        for channel in channels {
            if state.release(dead, &channel) {
                remains.released.push(channel);
            }
        }
        remains.released.sort_unstable();
        remains.presence = state
            .node_presence
            .remove(dead)
            .unwrap_or_default()
            .into_iter()
            .map(|((channel, client), user)| HeldPresence {
                channel,
                client,
                user,
            })
            .collect();
        remains.presence.sort_unstable();
        Ok(remains)
    }
}
