//! Surveys: a question to every node over the control plane, answered by each, gathered by the
//! asker with a timeout.
//!
//! The control plane (`cluster.rs`) only broadcasts. A survey rides on it: the asking node
//! publishes [`ControlMessage::SurveyRequest`](crate::cluster::ControlMessage) with an id of
//! its own and its node id; every node (the asker included) computes its answer from local
//! state and publishes a `SurveyReply` addressed to the asker, which the other nodes ignore.
//! The asker expects one answer from each node it currently knows ([`Nodes`](crate::cluster))
//! and waits at most [`SURVEY_TIMEOUT`]; a node that does not answer in time fails the survey
//! (a partial answer would look complete to the caller).
//!
//! Bounds: at most [`MAX_SURVEYS`] surveys of one node are open at once (past it the call is
//! refused with 106 "limit exceeded"); each gathers into a channel with room for one answer per
//! expected node, and an answer that finds it full or closed (a late or duplicate answer) is
//! dropped with a debug log. The pending entry is removed when the survey ends, also when the
//! caller gives up (drop guard).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::HubError;
use crate::cluster::ControlMessage;
use crate::connections::{ConnectionsQuery, NodeConnections};
use crate::node::{Hub, Shared};

/// How long the asker waits for every node's answer.
pub(crate) const SURVEY_TIMEOUT: Duration = Duration::from_secs(5);
/// Most surveys one node has open at once.
pub(crate) const MAX_SURVEYS: usize = 64;

/// The question.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum SurveyQuery {
    /// A page of the node's connections.
    Connections(ConnectionsQuery),
    /// The node's channels with their local subscriber counts.
    Channels,
}

/// One node's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum SurveyAnswer {
    /// The node's connections that match.
    Connections(NodeConnections),
    /// The node's channels and local subscriber counts. A struct variant: serde's internally
    /// tagged enums cannot hold a bare sequence.
    Channels { channels: Vec<(String, usize)> },
}

/// This node's open surveys.
#[derive(Debug, Default)]
pub(crate) struct Surveys {
    next_id: AtomicU64,
    // std Mutex: map updates only, nothing awaits.
    pending: Mutex<HashMap<u64, mpsc::Sender<SurveyAnswer>>>,
}

/// Removes a survey's pending entry when the survey ends, however it ends.
struct Open<'a> {
    surveys: &'a Surveys,
    id: u64,
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.surveys.lock().remove(&self.id);
    }
}

impl Surveys {
    /// Opens a survey expecting `answers` answers: its id, where they arrive, and the guard
    /// that closes it.
    fn open(
        &self,
        answers: usize,
    ) -> Result<(u64, mpsc::Receiver<SurveyAnswer>, Open<'_>), HubError> {
        let mut pending = self.lock();
        if pending.len() >= MAX_SURVEYS {
            return Err(HubError::LimitExceeded);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(answers.max(1));
        pending.insert(id, tx);
        Ok((id, rx, Open { surveys: self, id }))
    }

    /// Hands an answer to the survey waiting for it. Never waits: this runs on the broker's
    /// delivery path. Overflow policy: an answer that does not fit (more answers than nodes
    /// were expected) or arrives after the survey ended is dropped.
    pub(crate) fn deliver(&self, id: u64, from: &str, answer: SurveyAnswer) {
        let sender = self.lock().get(&id).cloned();
        let delivered = sender.is_some_and(|sender| sender.try_send(answer).is_ok());
        if !delivered {
            tracing::debug!(
                survey = id,
                node = from,
                "survey answer dropped: late or extra"
            );
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, mpsc::Sender<SurveyAnswer>>> {
        // Each critical section is one map operation; a poisoned lock is still consistent.
        herald_engine::lock(&self.pending)
    }
}

impl Hub {
    /// Channels with subscribers on any node of the cluster and their subscriber counts summed
    /// over the nodes (a survey, as Centrifugo's `channels`). Every node sends its whole list.
    pub async fn cluster_channels(&self) -> Result<Vec<(String, usize)>, HubError> {
        let mut merged: HashMap<String, usize> = HashMap::new();
        for answer in self.survey(SurveyQuery::Channels).await? {
            if let SurveyAnswer::Channels { channels } = answer {
                for (channel, count) in channels {
                    *merged.entry(channel).or_default() += count;
                }
            }
        }
        Ok(merged.into_iter().collect())
    }

    /// Asks every live node `query` and gathers their answers (this node's included), or fails
    /// with 100 when some node has not answered within [`SURVEY_TIMEOUT`].
    pub(crate) async fn survey(&self, query: SurveyQuery) -> Result<Vec<SurveyAnswer>, HubError> {
        let shared = &self.shared;
        let expected = self.nodes().len().max(1);
        let (id, mut answers, _open) = shared.surveys.open(expected)?;
        let request = ControlMessage::SurveyRequest {
            id,
            from: shared.node_id.clone(),
            query,
        };
        shared.broker.publish_control(request.encode()).await?;
        let deadline = tokio::time::Instant::now() + SURVEY_TIMEOUT;
        let mut gathered = Vec::with_capacity(expected);
        while gathered.len() < expected {
            match tokio::time::timeout_at(deadline, answers.recv()).await {
                Ok(Some(answer)) => gathered.push(answer),
                // The sender lives in the pending map until `_open` drops: not reached.
                Ok(None) => break,
                Err(_elapsed) => {
                    tracing::warn!(
                        survey = id,
                        expected,
                        answered = gathered.len(),
                        "survey timed out: some node did not answer"
                    );
                    return Err(HubError::Internal);
                }
            }
        }
        Ok(gathered)
    }
}

/// Answers a survey from another node (or this one): computes the answer from local state and
/// sends it back. This node's own answer is handed over directly; others go through the
/// broker from a task of their own, since the broker's delivery path must not wait.
pub(crate) fn answer(shared: Arc<Shared>, id: u64, from: String, query: SurveyQuery) {
    let answer = match query {
        SurveyQuery::Connections(query) => {
            SurveyAnswer::Connections(shared.local_connections(&query))
        }
        SurveyQuery::Channels => SurveyAnswer::Channels {
            channels: shared.registry.channels(),
        },
    };
    if from == shared.node_id {
        shared.surveys.deliver(id, &from, answer);
        return;
    }
    let reply = ControlMessage::SurveyReply {
        id,
        to: from,
        from: shared.node_id.clone(),
        answer,
    };
    tokio::spawn(async move {
        if let Err(err) = shared.broker.publish_control(reply.encode()).await {
            tracing::warn!(survey = id, %err, "survey answer not sent");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> SurveyAnswer {
        SurveyAnswer::Connections(NodeConnections::default())
    }

    #[test]
    fn answers_beyond_the_expected_or_after_the_end_are_dropped() {
        let surveys = Surveys::default();
        let (id, mut rx, open) = surveys.open(1).expect("room");
        surveys.deliver(id, "a", empty());
        surveys.deliver(id, "b", empty());
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_err());
        drop(open);
        assert!(surveys.lock().is_empty());
        surveys.deliver(id, "late", empty());
    }

    #[test]
    fn every_answer_survives_the_control_plane_encoding() {
        let answers = [
            empty(),
            SurveyAnswer::Channels {
                channels: vec![("a".into(), 2)],
            },
        ];
        for answer in answers {
            let message = ControlMessage::SurveyReply {
                id: 1,
                to: "n".into(),
                from: "m".into(),
                answer,
            };
            let encoded = message.encode();
            assert!(
                serde_json::from_slice::<ControlMessage>(&encoded).is_ok(),
                "{encoded:?}"
            );
        }
        let request = ControlMessage::SurveyRequest {
            id: 1,
            from: "n".into(),
            query: SurveyQuery::Channels,
        };
        assert!(serde_json::from_slice::<ControlMessage>(&request.encode()).is_ok());
    }

    #[test]
    fn open_surveys_are_bounded() {
        let surveys = Surveys::default();
        let open: Vec<_> = (0..MAX_SURVEYS)
            .map(|_| surveys.open(1).expect("room"))
            .collect();
        assert!(matches!(surveys.open(1), Err(HubError::LimitExceeded)));
        drop(open);
        assert!(surveys.open(1).is_ok());
    }
}
