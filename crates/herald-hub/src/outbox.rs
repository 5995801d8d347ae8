//! The per-connection queues: encoded messages waiting for the connection's writer, and
//! control commands waiting for its session.
//!
//! Messages are bounded in bytes by `client.queue_max_size`. Overflow policy: the connection is
//! closed with 3008 "slow" and the queue is dropped — a client that cannot keep up recovers from
//! history on reconnect, nothing is lost silently and nothing grows without bound.
//!
//! Control commands (API subscribe/unsubscribe/refresh, dropped subscriptions) are bounded by
//! [`CONTROL_CAPACITY`]; the sender decides what a full queue means (see `cluster.rs`). They
//! share the outbox's lock and wake-up instead of a channel of their own: a tokio channel costs
//! every idle connection close to a kilobyte, this costs it nothing until a command arrives.
//!
//! Wake-ups are two waker slots under the same lock rather than `Notify`s: a slot costs 16
//! bytes, and a poll-based wait (`poll_drain`, `poll_attention`) keeps no future in the
//! connection task's state. A waker is taken when it is woken, so a burst of pushes before
//! the writer runs wakes it once.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::net::IpAddr;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use herald_proto::{DisconnectCode, Protocol};

use crate::Disconnect;
use crate::session::Control;

/// Most control commands queued for one session.
pub(crate) const CONTROL_CAPACITY: usize = 64;

/// What a connection's queued messages are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Encoded `Reply`s, as the SDKs read them.
    Replies,
    /// Pushes without the `Reply` around them (unidirectional transports, whose clients have
    /// no SDK to unwrap them): JSON `{"push":X}` → `X`; Protobuf loses the reply's length
    /// prefix and key too, so each message is one bare `Push` (uni_grpc sends each as one
    /// gRPC message).
    BarePushes,
    /// Another protocol family's frames (the Pusher endpoint): the registry queues a
    /// publication's data as it is, one message per frame (see `verbatim.rs`).
    Verbatim,
}

/// Encoded messages for one connection, drained by its writer into frames.
#[derive(Debug)]
pub struct Outbox {
    protocol: Protocol,
    max_bytes: usize,
    /// What the queued messages are (see [`Framing`]).
    framing: Framing,
    // std Mutex: held only to push or swap the queue, never across an await.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Bytes>,
    bytes: usize,
    /// Boxed: set once, at the end, and every idle connection carries the field.
    close: Option<Box<Disconnect>>,
    controls: VecDeque<Box<Control>>,
    /// The writer (the only one draining), waiting for something to write.
    writer: Option<Waker>,
    /// The session, waiting for a close or a control command.
    session: Option<Waker>,
    /// Who is on the other end, for the connections API.
    peer: Peer,
    /// The connection's info (token `info`, proxy or refresh), kept here rather than in the
    /// session so the connections API can read it; the session reads it for client infos.
    info: Bytes,
}

/// What the connections API shows about a connection that only the transport knows. Kept to
/// a few bytes (an address, a `u32` of seconds and a transport index) because every idle
/// connection carries it.
#[derive(Debug, Default, Clone, Copy)]
struct Peer {
    /// The remote address of the socket (a reverse proxy's, behind one).
    ip: Option<IpAddr>,
    /// Unix seconds of the successful connect; 0 before. A `u32` lasts until 2106.
    connected_at: u32,
    /// Index into [`TRANSPORT_NAMES`].
    transport: u8,
}

/// Transport names as Centrifugo spells them; a connection stores an index into this table.
pub(crate) const TRANSPORT_NAMES: [&str; 8] = [
    "websocket",
    "http_stream",
    "sse",
    "uni_websocket",
    "uni_http_stream",
    "uni_sse",
    "uni_grpc",
    "unknown",
];

/// A copy of what the connections API reads from a connection's outbox.
#[derive(Debug, Clone)]
pub(crate) struct PeerSnapshot {
    pub(crate) protocol: Protocol,
    pub(crate) transport: &'static str,
    pub(crate) ip: Option<IpAddr>,
    pub(crate) connected_at: u32,
    pub(crate) info: Bytes,
}

impl State {
    fn take_writer(&mut self) -> Option<Waker> {
        self.writer.take()
    }

    fn pop_control(&mut self) -> Option<Box<Control>> {
        let control = self.controls.pop_front();
        if self.controls.is_empty() {
            // Give the allocation back: commands are rare.
            self.controls = VecDeque::new();
        }
        control
    }

    /// Both waiters: a close concerns the writer and the session.
    fn take_both(&mut self) -> [Option<Waker>; 2] {
        [self.writer.take(), self.session.take()]
    }
}

/// Why the session is woken (see [`Outbox::attention`]).
#[derive(Debug)]
pub(crate) enum Attention {
    /// The queue is closed.
    Closed(Disconnect),
    /// A control command for the session.
    Control(Box<Control>),
}

/// A control command that was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ControlRejected {
    /// [`CONTROL_CAPACITY`] commands are already waiting: the session is not keeping up.
    Full,
    /// The connection is closing.
    Closed,
}

/// What the writer should do next.
#[derive(Debug)]
pub enum Drained {
    /// Write these messages as one frame.
    Messages(Vec<Bytes>),
    /// Write these messages (possibly none), then close with this code.
    Close(Vec<Bytes>, Disconnect),
}

/// The queue is closed (overflow or disconnect): the message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl Outbox {
    /// An empty queue for a connection speaking `protocol`.
    pub fn new(protocol: Protocol, max_bytes: usize) -> Self {
        Self {
            protocol,
            max_bytes,
            framing: Framing::Replies,
            state: Mutex::new(State::default()),
        }
    }

    /// An empty queue for a unidirectional connection: every push is queued bare
    /// (`{"pub":...}` rather than `{"push":{"pub":...}}`), sharing the bytes the registry
    /// encoded once for every subscriber.
    pub fn unidirectional(protocol: Protocol, max_bytes: usize) -> Self {
        Self {
            framing: Framing::BarePushes,
            ..Self::new(protocol, max_bytes)
        }
    }

    /// An empty queue for a connection of another protocol family: publications of verbatim
    /// channels are queued as their data, exactly as published (see [`crate::VerbatimClient`]).
    pub fn verbatim(max_bytes: usize) -> Self {
        Self {
            framing: Framing::Verbatim,
            ..Self::new(Protocol::Json, max_bytes)
        }
    }

    /// Whether this queue takes publications' data verbatim.
    pub fn is_verbatim(&self) -> bool {
        self.framing == Framing::Verbatim
    }

    /// The encoding this connection speaks.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The byte bound of the queue.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Records the connection's remote address (shown by the connections API).
    pub fn set_remote_ip(&self, ip: IpAddr) {
        self.lock().peer.ip = Some(ip);
    }

    /// Records the transport's name; a name outside [`TRANSPORT_NAMES`] shows as `unknown`.
    pub(crate) fn set_transport(&self, name: &str) {
        let index = TRANSPORT_NAMES
            .iter()
            .position(|known| *known == name)
            .unwrap_or(TRANSPORT_NAMES.len() - 1);
        // The table has fewer than 256 entries.
        self.lock().peer.transport = u8::try_from(index).unwrap_or(u8::MAX);
    }

    /// Records the time of the successful connect (Unix seconds).
    pub(crate) fn set_connected_at(&self, unix_secs: i64) {
        self.lock().peer.connected_at = u32::try_from(unix_secs).unwrap_or(0);
    }

    /// The connection's info.
    pub(crate) fn info(&self) -> Bytes {
        self.lock().info.clone()
    }

    /// Replaces the connection's info.
    pub(crate) fn set_info(&self, info: Bytes) {
        self.lock().info = info;
    }

    /// What the connections API shows about this connection.
    pub(crate) fn peer(&self) -> PeerSnapshot {
        let state = self.lock();
        PeerSnapshot {
            protocol: self.protocol,
            transport: TRANSPORT_NAMES
                .get(usize::from(state.peer.transport))
                .copied()
                .unwrap_or("unknown"),
            ip: state.peer.ip,
            connected_at: state.peer.connected_at,
            info: state.info.clone(),
        }
    }

    /// Queues one encoded message. Past the byte bound the connection is closed with 3008.
    pub fn push(&self, message: Bytes) -> Result<(), Closed> {
        let message = if self.framing == Framing::BarePushes {
            bare_push(self.protocol, message)
        } else {
            message
        };
        let mut state = self.lock();
        if state.close.is_some() {
            return Err(Closed);
        }
        if state.bytes + message.len() > self.max_bytes && !state.queue.is_empty() {
            crate::metrics::count_overflow(crate::metrics::Queue::ClientQueue);
            state.queue.clear();
            state.bytes = 0;
            state.close = Some(Box::new(DisconnectCode::SLOW.into()));
            let wakers = state.take_both();
            drop(state);
            wakers.into_iter().flatten().for_each(Waker::wake);
            return Err(Closed);
        }
        state.bytes += message.len();
        state.queue.push_back(message);
        let writer = state.take_writer();
        drop(state);
        if let Some(writer) = writer {
            writer.wake();
        }
        Ok(())
    }

    /// Asks the writer to close the connection with `disconnect` after writing what is queued
    /// (unless the disconnect says otherwise). The first close wins.
    pub fn close(&self, disconnect: Disconnect) {
        let mut state = self.lock();
        if state.close.is_none() {
            if !disconnect.flushes_queue() {
                state.queue.clear();
                state.bytes = 0;
            }
            state.close = Some(Box::new(disconnect));
        }
        let wakers = state.take_both();
        drop(state);
        wakers.into_iter().flatten().for_each(Waker::wake);
    }

    /// Queues a control command for the session.
    pub(crate) fn push_control(&self, control: Control) -> Result<(), ControlRejected> {
        let mut state = self.lock();
        if state.close.is_some() {
            return Err(ControlRejected::Closed);
        }
        if state.controls.len() >= CONTROL_CAPACITY {
            return Err(ControlRejected::Full);
        }
        state.controls.push_back(Box::new(control));
        let session = state.session.take();
        drop(state);
        if let Some(session) = session {
            session.wake();
        }
        Ok(())
    }

    /// The oldest queued control command, if any.
    pub(crate) fn take_control(&self) -> Option<Box<Control>> {
        self.lock().pop_control()
    }

    /// Ready when the queue is closed (that first) or a control command is queued, taking the
    /// command; otherwise `cx` is woken when one of those happens. Only the session polls this.
    pub(crate) fn poll_attention(&self, cx: &mut Context<'_>) -> Poll<Attention> {
        let mut state = self.lock();
        if let Some(reason) = &state.close {
            return Poll::Ready(Attention::Closed(Disconnect::clone(reason)));
        }
        if let Some(control) = state.pop_control() {
            return Poll::Ready(Attention::Control(control));
        }
        register(&mut state.session, cx);
        Poll::Pending
    }

    /// The close reason, once the queue is closed.
    pub fn close_reason(&self) -> Option<Disconnect> {
        self.lock().close.as_deref().cloned()
    }

    /// Waits until there is something to write, then takes all of it. Only one task (the
    /// connection's writer) may drain: there is one writer waker.
    pub async fn drain(&self) -> Drained {
        poll_fn(|cx| self.poll_drain(cx)).await
    }

    /// Takes everything queued, or registers `cx` to be woken when there is something.
    pub fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<Drained> {
        let mut state = self.lock();
        match Self::take_queued(&mut state) {
            Some(drained) => Poll::Ready(drained),
            None => {
                register(&mut state.writer, cx);
                Poll::Pending
            }
        }
    }

    #[cfg(test)]
    fn try_drain(&self) -> Option<Drained> {
        Self::take_queued(&mut self.lock())
    }

    fn take_queued(state: &mut State) -> Option<Drained> {
        // Taking the queue (not draining it) leaves no allocation behind on an idle connection.
        let messages = Vec::from(std::mem::take(&mut state.queue));
        state.bytes = 0;
        match &state.close {
            Some(close) => Some(Drained::Close(messages, Disconnect::clone(close))),
            None if messages.is_empty() => None,
            None => Some(Drained::Messages(messages)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue inconsistent (every critical
        // section is a push or a swap), so a poisoned lock is still safe to use.
        herald_engine::lock(&self.state)
    }
}

/// The push inside an encoded `Reply { push }`, as a slice of the same bytes; any other message
/// (a ping `{}`) as it is. Only JSON is unwrapped: unidirectional transports speak JSON.
fn bare_push(protocol: Protocol, message: Bytes) -> Bytes {
    match herald_proto::bare_push_range(protocol, &message) {
        Some(push) => message.slice(push),
        None => message,
    }
}

/// Stores the waker of `cx` in `slot`, keeping the one there when it wakes the same task.
fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_closes_with_slow_and_drops_the_queue() {
        let outbox = Outbox::new(Protocol::Json, 10);
        outbox.push(Bytes::from_static(b"123456")).expect("fits");
        assert_eq!(outbox.push(Bytes::from_static(b"123456")), Err(Closed));
        match outbox.try_drain() {
            Some(Drained::Close(messages, reason)) => {
                assert!(messages.is_empty());
                assert_eq!(reason.code, 3008);
            }
            other => panic!("expected close, got {other:?}"),
        }
    }

    #[test]
    fn a_single_message_larger_than_the_bound_still_goes_out() {
        // One reply bigger than the queue bound (a large history) is not "slow"; only a backlog is.
        let outbox = Outbox::new(Protocol::Json, 4);
        outbox
            .push(Bytes::from_static(b"123456"))
            .expect("empty queue accepts");
        assert!(matches!(outbox.try_drain(), Some(Drained::Messages(m)) if m.len() == 1));
    }

    #[test]
    fn a_unidirectional_queue_holds_bare_pushes() {
        let outbox = Outbox::unidirectional(Protocol::Json, 100);
        let push = herald_proto::Push {
            channel: "news".into(),
            ..Default::default()
        };
        let encoded = herald_proto::encode_push(Protocol::Json, &push).expect("encodes");
        outbox.push(encoded).expect("fits");
        outbox.push(Bytes::from_static(b"{}")).expect("fits");
        let Some(Drained::Messages(messages)) = outbox.try_drain() else {
            panic!("expected messages");
        };
        assert_eq!(messages[0], Bytes::from_static(br#"{"channel":"news"}"#));
        assert_eq!(messages[1], Bytes::from_static(b"{}"));
    }

    #[test]
    fn a_protobuf_unidirectional_queue_holds_bare_pushes() {
        let outbox = Outbox::unidirectional(Protocol::Protobuf, 100);
        let push = herald_proto::Push {
            channel: "news".into(),
            ..Default::default()
        };
        let encoded = herald_proto::encode_push(Protocol::Protobuf, &push).expect("encodes");
        outbox.push(encoded).expect("fits");
        // The ping: an empty reply becomes the empty push.
        outbox.push(Bytes::from_static(&[0])).expect("fits");
        let Some(Drained::Messages(messages)) = outbox.try_drain() else {
            panic!("expected messages");
        };
        let bare = herald_proto::encode_message(Protocol::Protobuf, &push).expect("encodes");
        assert_eq!(messages[0], bare);
        assert!(messages[1].is_empty());
    }

    #[test]
    fn close_flushes_queued_messages_first() {
        let outbox = Outbox::new(Protocol::Json, 100);
        outbox.push(Bytes::from_static(b"a")).expect("fits");
        outbox.close(DisconnectCode::SHUTDOWN.into());
        assert_eq!(outbox.push(Bytes::from_static(b"b")), Err(Closed));
        match outbox.try_drain() {
            Some(Drained::Close(messages, reason)) => {
                assert_eq!(messages, vec![Bytes::from_static(b"a")]);
                assert_eq!(reason.code, 3001);
            }
            other => panic!("expected close, got {other:?}"),
        }
    }
}
