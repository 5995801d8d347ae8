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
//!
//! While the writer is idle it may lend its socket to the outbox, and a push then writes
//! straight to it instead of queueing and waking anyone ([`direct`]).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use herald_proto::{DisconnectCode, Protocol};

use crate::Disconnect;
use crate::session::Control;

mod direct;

pub use direct::{Direct, DirectSink};

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
    /// `client.queue_max_size`; a `u32` (4 GiB), as every connection carries it.
    max_bytes: u32,
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
    /// Boxed: rare, and every idle connection carries the field (8 bytes instead of 32).
    #[allow(
        clippy::box_collection,
        reason = "the box is the point: 8 bytes while empty"
    )]
    controls: Option<Box<VecDeque<Control>>>,
    /// The writer (the only one draining), waiting for something to write.
    writer: Option<Waker>,
    /// The session, waiting for a close or a control command.
    session: Option<Waker>,
    /// Who is on the other end, for the connections API.
    peer: Peer,
    /// The connection's info (token `info`, proxy or refresh), kept here rather than in the
    /// session so the connections API can read it; the session reads it for client infos.
    /// Boxed: most connections have none, and every idle connection carries the field.
    info: Option<Box<Bytes>>,
    /// The writer's socket while the writer is idle and the queue empty ([`direct`]).
    lent: Option<Arc<dyn DirectSink>>,
    /// The queue's first entry is the unwritten rest of a frame a direct write began: raw
    /// bytes that [`Outbox::reclaim`] hands back, which must leave before anything else.
    unsent_first: bool,
    /// The writer is collecting messages for `client.write_delay` ([`Outbox::poll_batch`]):
    /// a push does not wake it, only a close or an urgent reply does.
    collecting: bool,
    /// A reply that does not wait for `client.write_delay` is queued
    /// ([`Outbox::push_reply`]).
    urgent: bool,
    /// The last fan-out delivery came from a channel whose pace asks for queueing: lending
    /// the socket would only be undone by the next one ([`Outbox::lend`]).
    paced: bool,
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
        let controls = self.controls.as_mut()?;
        let control = controls.pop_front().map(Box::new);
        if controls.is_empty() {
            // Give the allocation back: commands are rare.
            self.controls = None;
        }
        control
    }

    /// Drops the queued messages, but not the rest of a frame already begun on the wire:
    /// cutting a frame short would garble whatever follows it.
    fn clear_queue(&mut self) {
        let unsent = self.unsent_first.then(|| self.queue.pop_front()).flatten();
        self.queue.clear();
        self.bytes = 0;
        if let Some(unsent) = unsent {
            self.bytes = unsent.len();
            self.queue.push_back(unsent);
        }
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

/// What became of [`Outbox::lend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lend {
    /// The outbox holds the socket until [`Outbox::reclaim`].
    Lent,
    /// Not lent: the last delivery's channel asks for queueing (see `registry/pace.rs`), so
    /// the next would only end the loan. The writer waits as before.
    NotNow,
    /// Not lent: messages are queued or the queue is closed; the writer has work first.
    Busy,
}

/// What a writer that delays its writes (`client.write_delay`) does next; see
/// [`Outbox::poll_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    /// Nothing is queued; the next push wakes the writer.
    Empty,
    /// Messages are queued: keep collecting until the delay is over. Only a close or an urgent
    /// reply wakes the writer meanwhile.
    Collect,
    /// Write now: the queue is closed, holds an urgent reply, or holds a full frame.
    Now,
}

/// The queue is closed (overflow or disconnect): the message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl Outbox {
    /// An empty queue for a connection speaking `protocol`.
    pub fn new(protocol: Protocol, max_bytes: usize) -> Self {
        Self {
            protocol,
            max_bytes: u32::try_from(max_bytes).unwrap_or(u32::MAX),
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
        usize::try_from(self.max_bytes).unwrap_or(usize::MAX)
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
        self.lock().info.as_deref().cloned().unwrap_or_default()
    }

    /// Replaces the connection's info.
    pub(crate) fn set_info(&self, info: Bytes) {
        self.lock().info = (!info.is_empty()).then(|| Box::new(info));
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
            info: state.info.as_deref().cloned().unwrap_or_default(),
        }
    }

    /// Queues one encoded message. Past the byte bound the connection is closed with 3008.
    pub fn push(&self, message: Bytes) -> Result<(), Closed> {
        self.push_as(message, false, true)
    }

    /// Queues the reply to a command so that it does not wait for `client.write_delay`
    /// (`client.reply_without_queue`): it leaves at once, after what is queued before it.
    pub fn push_reply(&self, message: Bytes) -> Result<(), Closed> {
        self.push_as(message, true, true)
    }

    /// Queues a fan-out delivery; `direct: false` keeps it off a lent socket even when the
    /// queue is empty (the channel's pace asks for queueing, see `registry/pace.rs`), which
    /// ends the loan.
    pub(crate) fn push_paced(&self, message: Bytes, direct: bool) -> Result<(), Closed> {
        self.push_as(message, false, direct)
    }

    fn push_as(&self, message: Bytes, urgent: bool, direct: bool) -> Result<(), Closed> {
        let message = if self.framing == Framing::BarePushes {
            bare_push(self.protocol, message)
        } else {
            message
        };
        let mut state = self.lock();
        if state.close.is_some() {
            return Err(Closed);
        }
        if !direct {
            // The socket goes back to its task, which writes this message with the rest.
            state.lent = None;
        }
        state.paced = !direct;
        let message = match Self::write_direct(&mut state, self.binary_frames(), message) {
            Ok(()) => return Ok(()),
            Err(message) => message,
        };
        if state.bytes + message.len() > self.max_bytes() && !state.queue.is_empty() {
            crate::metrics::count_overflow(crate::metrics::Queue::ClientQueue);
            state.clear_queue();
            state.close = Some(Box::new(DisconnectCode::SLOW.into()));
            let wakers = state.take_both();
            drop(state);
            wakers.into_iter().flatten().for_each(Waker::wake);
            return Err(Closed);
        }
        state.bytes += message.len();
        state.queue.push_back(message);
        state.urgent |= urgent;
        let writer = match state.collecting && !urgent {
            true => None,
            false => state.take_writer(),
        };
        drop(state);
        if let Some(writer) = writer {
            writer.wake();
        }
        Ok(())
    }

    /// Writes `message` to the lent socket, if there is one ([`direct`]); gives the message
    /// back when it is to be queued. A refused or partial write ends the loan and wakes the
    /// writer; the rest of a partial frame is queued first, marked as such.
    fn write_direct(state: &mut State, binary: bool, message: Bytes) -> Result<(), Bytes> {
        let Some(sink) = &state.lent else {
            return Err(message);
        };
        debug_assert!(state.queue.is_empty(), "only an empty queue is lent");
        let rest = match sink.write_frame(binary, &message) {
            Direct::Written => return Ok(()),
            Direct::Refused => None,
            Direct::Partial(rest) => Some(rest),
        };
        state.lent = None;
        let writer = state.take_writer();
        let queued = match rest {
            Some(rest) => {
                state.bytes += rest.len();
                state.queue.push_back(rest);
                state.unsent_first = true;
                Ok(())
            }
            None => Err(message),
        };
        // Woken under the lock: this is the rare path, and the writer's poll starts by
        // taking this lock anyway.
        if let Some(writer) = writer {
            writer.wake();
        }
        queued
    }

    /// Lends the writer's idle socket to the outbox: until [`Outbox::reclaim`], pushes write
    /// straight to it (see [`DirectSink`]). `sink` is called only when the loan is made.
    pub fn lend(&self, sink: impl FnOnce() -> Arc<dyn DirectSink>) -> Lend {
        let mut state = self.lock();
        if state.close.is_some() || !state.queue.is_empty() {
            return Lend::Busy;
        }
        if state.paced {
            return Lend::NotNow;
        }
        state.lent = Some(sink());
        Lend::Lent
    }

    /// Takes the socket back from the outbox; the writer calls this before it writes or reads
    /// anything itself. Returns the unwritten rest of a frame a direct write began, which the
    /// writer must send before anything else.
    pub fn reclaim(&self) -> Option<Bytes> {
        let mut state = self.lock();
        let lent = state.lent.take();
        let unsent = match std::mem::take(&mut state.unsent_first) {
            true => state.queue.pop_front(),
            false => None,
        };
        if let Some(unsent) = &unsent {
            state.bytes = state.bytes.saturating_sub(unsent.len());
        }
        drop(state);
        drop(lent);
        unsent
    }

    /// Whether direct writes are binary frames (Protobuf) or text frames.
    fn binary_frames(&self) -> bool {
        self.protocol == Protocol::Protobuf && self.framing != Framing::Verbatim
    }

    /// Asks the writer to close the connection with `disconnect` after writing what is queued
    /// (unless the disconnect says otherwise). The first close wins.
    pub fn close(&self, disconnect: Disconnect) {
        let mut state = self.lock();
        if state.close.is_none() {
            if !disconnect.flushes_queue() {
                state.clear_queue();
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
        let controls = state.controls.get_or_insert_default();
        if controls.len() >= CONTROL_CAPACITY {
            return Err(ControlRejected::Full);
        }
        controls.push_back(control);
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

    /// For a writer that delays its writes (`client.write_delay`): whether to write now, keep
    /// collecting, or wait for a first message; registers `cx` in the last two cases. `full`
    /// is the number of messages that fill a frame (`client.max_messages_in_frame`).
    pub fn poll_batch(&self, cx: &mut Context<'_>, full: usize) -> Batch {
        let mut state = self.lock();
        if state.close.is_some() || state.urgent || state.queue.len() >= full {
            return Batch::Now;
        }
        register(&mut state.writer, cx);
        state.collecting = !state.queue.is_empty();
        match state.collecting {
            true => Batch::Collect,
            false => Batch::Empty,
        }
    }

    #[cfg(test)]
    fn try_drain(&self) -> Option<Drained> {
        Self::take_queued(&mut self.lock())
    }

    fn take_queued(state: &mut State) -> Option<Drained> {
        debug_assert!(!state.unsent_first, "the writer reclaims before it drains");
        state.collecting = false;
        state.urgent = false;
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
    fn an_outbox_stays_small() {
        // Every connection has one: 160 bytes (176 with the `Arc`'s counts, a 192-byte
        // allocation). What grows it grows every idle connection.
        assert!(std::mem::size_of::<Outbox>() <= 160);
    }

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

    /// A waker that counts its wake-ups.
    fn counting_waker() -> (Waker, Arc<std::sync::atomic::AtomicUsize>) {
        struct Count(Arc<std::sync::atomic::AtomicUsize>);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        (Waker::from(Arc::new(Count(count.clone()))), count)
    }

    #[test]
    fn a_collecting_writer_is_woken_only_by_an_urgent_reply_a_full_frame_or_a_close() {
        let outbox = Outbox::new(Protocol::Json, 1 << 20);
        let (waker, woken) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let wakes = || woken.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(outbox.poll_batch(&mut cx, 3), Batch::Empty);
        outbox.push(Bytes::from_static(b"1")).expect("open");
        assert_eq!(wakes(), 1, "the first message wakes the writer");
        assert_eq!(outbox.poll_batch(&mut cx, 3), Batch::Collect);
        outbox.push(Bytes::from_static(b"2")).expect("open");
        assert_eq!(wakes(), 1, "collecting: a push does not wake");
        outbox
            .push_reply(Bytes::from_static(b"reply"))
            .expect("open");
        assert_eq!(wakes(), 2, "an urgent reply does");
        assert_eq!(outbox.poll_batch(&mut cx, 10), Batch::Now);
        assert!(matches!(outbox.try_drain(), Some(Drained::Messages(m)) if m.len() == 3));

        outbox.push(Bytes::from_static(b"a")).expect("open");
        outbox.push(Bytes::from_static(b"b")).expect("open");
        assert_eq!(
            outbox.poll_batch(&mut cx, 2),
            Batch::Now,
            "a full frame goes at once"
        );
        assert!(outbox.try_drain().is_some());

        outbox.push(Bytes::from_static(b"c")).expect("open");
        assert_eq!(outbox.poll_batch(&mut cx, 10), Batch::Collect);
        let before = wakes();
        outbox.close(DisconnectCode::SHUTDOWN.into());
        assert_eq!(wakes(), before + 1, "a close wakes a collecting writer");
        assert_eq!(outbox.poll_batch(&mut cx, 10), Batch::Now);
    }
}
