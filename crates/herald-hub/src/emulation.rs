//! Emulated bidirectional connections (HTTP-streaming and SSE): replies go down a long-lived
//! response, and the client's commands arrive as separate POSTs to the emulation endpoint,
//! addressed with the `session` and `node` of the connect reply.
//!
//! Behind a round-robin balancer a POST often lands on a node that does not hold the session.
//! That node forwards the frame through the control plane ([`ControlMessage::Emulation`]) and
//! the node that holds the session queues it; so a cluster needs no sticky sessions.
//!
//! Each session's frames wait in a queue of [`INBOX_CAPACITY`] frames that its transport
//! drains in order. Overflow policy: a client that posts faster than its session handles
//! commands is closed with 3008 "slow" (it reconnects and resubscribes with recovery), and the
//! POST that did not fit is answered with an error, so nothing is dropped unseen.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::Bytes;
use herald_engine::EngineError;
use herald_proto::DisconnectCode;
use tokio::sync::mpsc;

use crate::cluster::ControlMessage;
use crate::node::{Hub, Shared};
use crate::outbox::Outbox;
use crate::session::Session;

/// Most command frames waiting for one emulated session.
pub const INBOX_CAPACITY: usize = 32;

/// Why an emulation request was not taken.
#[derive(Debug, thiserror::Error)]
pub enum EmulationError {
    /// No live node has this id (it left, or the id is made up).
    #[error("unknown node")]
    UnknownNode,
    /// This node holds no session with this id (it ended, or the id is made up).
    #[error("unknown session")]
    UnknownSession,
    /// The session's command queue is full; the session was closed with 3008.
    #[error("too many commands waiting: the session was closed")]
    Overloaded,
    /// The frame could not be forwarded to the node that holds the session.
    #[error("forwarding to the session's node failed: {0}")]
    Forward(#[from] EngineError),
}

/// The commands of one emulated session, in the order they were posted. Dropping it forgets
/// the session: later POSTs for it get [`EmulationError::UnknownSession`].
#[derive(Debug)]
pub struct EmulationInbox {
    frames: mpsc::Receiver<Bytes>,
    session: Arc<str>,
    shared: Weak<Shared>,
}

impl EmulationInbox {
    /// The next command frame, or `None` once the node forgot the session.
    pub async fn recv(&mut self) -> Option<Bytes> {
        self.frames.recv().await
    }

    /// The poll form of [`EmulationInbox::recv`].
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        self.frames.poll_recv(cx)
    }
}

impl Drop for EmulationInbox {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            herald_engine::lock(&shared.emulations.sessions).remove(&self.session);
        }
    }
}

/// The emulated sessions this node holds, by session id.
#[derive(Debug, Default)]
pub(crate) struct Emulations {
    // std Mutex: map operations only, nothing awaits under it.
    sessions: Mutex<HashMap<Arc<str>, Entry>>,
}

#[derive(Debug)]
struct Entry {
    frames: mpsc::Sender<Bytes>,
    /// To close the session when its queue overflows.
    outbox: Weak<Outbox>,
}

impl Hub {
    /// Makes `session` reachable through [`Hub::emulate`] for as long as the returned inbox
    /// lives. `None` when the session has no session id (it was not made for emulation).
    pub fn open_emulation(&self, session: &Session) -> Option<EmulationInbox> {
        let id: Arc<str> = Arc::from(session.session_id()?);
        let (sender, frames) = mpsc::channel(INBOX_CAPACITY);
        let entry = Entry {
            frames: sender,
            outbox: Arc::downgrade(&session.outbox()),
        };
        herald_engine::lock(&self.shared.emulations.sessions).insert(id.clone(), entry);
        Some(EmulationInbox {
            frames,
            session: id,
            shared: Arc::downgrade(&self.shared),
        })
    }

    /// Number of emulated sessions this node holds.
    pub fn num_emulated_sessions(&self) -> usize {
        self.shared.emulations.len()
    }

    /// Hands one command frame to emulated session `session` on node `node`: queued here when
    /// this node holds it, otherwise forwarded to that node through the control plane.
    pub async fn emulate(
        &self,
        node: &str,
        session: &str,
        frame: Bytes,
    ) -> Result<(), EmulationError> {
        if node == self.shared.node_id {
            return self.shared.emulations.deliver(session, frame);
        }
        if !self.shared.nodes.contains(node) {
            return Err(EmulationError::UnknownNode);
        }
        let message = ControlMessage::Emulation {
            node: node.to_owned(),
            session: session.to_owned(),
            data: base64::engine::general_purpose::STANDARD.encode(&frame),
        };
        self.shared.broker.publish_control(message.encode()).await?;
        Ok(())
    }
}

impl Emulations {
    /// Queues a frame for a session of this node without waiting (the control plane calls this
    /// from the broker's delivery path).
    pub(crate) fn deliver(&self, session: &str, frame: Bytes) -> Result<(), EmulationError> {
        let sessions = herald_engine::lock(&self.sessions);
        let entry = sessions
            .get(session)
            .ok_or(EmulationError::UnknownSession)?;
        match entry.frames.try_send(frame) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                crate::metrics::count_overflow(crate::metrics::Queue::EmulationInbox);
                if let Some(outbox) = entry.outbox.upgrade() {
                    outbox.close(DisconnectCode::SLOW.into());
                }
                tracing::warn!(
                    session,
                    "emulation queue full: closing the session with 3008"
                );
                Err(EmulationError::Overloaded)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(EmulationError::UnknownSession),
        }
    }

    /// Number of emulated sessions held.
    pub(crate) fn len(&self) -> usize {
        herald_engine::lock(&self.sessions).len()
    }
}
