//! One shard's PUB/SUB connection: SUBSCRIBE / UNSUBSCRIBE of `{prefix}.client.{channel}`, and
//! a reader task that hands every message to the [`Delivery`] as it is read.
//!
//! Herald drives this connection itself (a TCP stream and [`resp`]) rather than through the
//! `redis` crate's PUB/SUB types, because those queue messages between the socket and the reader
//! in an unbounded channel. Here nothing is queued: the reader task parses a frame and calls the
//! handler right away, so a slow node stops reading and TCP pushes back. Redis then applies its
//! own overflow policy for slow subscribers (`client-output-buffer-limit pubsub`, 32 MiB hard by
//! default): it closes the connection, which the reader treats like any other loss.
//!
//! When the connection is lost, the reader reconnects with backoff and subscribes every channel
//! again. What was published in between never reaches this node: the loss is logged,
//! [`Subscriber::is_healthy`] is false until the channels are subscribed again, and then the
//! handler hears of the gap (`BrokerEventHandler::handle_gap`) so positioned subscribers can
//! recover from history.
//!
//! With Redis Cluster, the connection is given every configured address: PUBLISH is broadcast
//! to all nodes of a cluster, so a connection to any one node hears everything. It connects to
//! the first address that answers, and whenever connecting to the current address fails it
//! moves on to the next one, round robin.
//!
//! With Redis Sentinel, the address is asked of the sentinels before every connect (see
//! `sentinel.rs`), so a reconnect after a failover lands on the new master.

pub(crate) mod resp;

use std::collections::{HashSet, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use herald_engine::EngineError;
// A poisoned lock is taken over: every critical section here is a single collection operation,
// which a panic cannot leave half done.
use herald_engine::lock;
use rand::RngExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
/// The read half of the connection: a TCP stream, or TLS over one.
type OwnedReadHalf = Box<dyn tokio::io::AsyncRead + Send + Unpin>;
/// The write half of the connection.
type OwnedWriteHalf = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;
use tokio::sync::{Notify, oneshot};
use tokio::task::AbortHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use crate::delivery::Delivery;
use crate::health::CommandHealth;
use crate::options::ShardAddress;
use resp::Frame;

/// Channels per SUBSCRIBE when resubscribing after a reconnect.
const RESUBSCRIBE_BATCH: usize = 512;
/// First pause before reconnecting after a failed attempt; it doubles up to the configured cap.
const FIRST_RECONNECT_DELAY: Duration = Duration::from_millis(50);
/// Read buffer growth step.
const READ_CHUNK: usize = 16 * 1024;

/// What the connection needs from [`RedisOptions`](crate::RedisOptions).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
    pub(crate) ping_interval: Duration,
    pub(crate) max_message_size: usize,
    pub(crate) reconnect_max_delay: Duration,
}

/// A shard's subscriptions. Dropping it stops the reader task and closes the connection.
pub(crate) struct Subscriber {
    shared: Arc<Shared>,
    task: AbortHandle,
}

/// A command the connection has not fully answered yet. Redis confirms each channel of a
/// SUBSCRIBE or UNSUBSCRIBE separately and in order, or rejects the whole command with one error.
struct Pending {
    /// Confirmations still owed.
    remaining: usize,
    /// Told the outcome once the command is answered.
    waiter: oneshot::Sender<Result<(), String>>,
}

struct Shared {
    /// Where the connection may go: one address, or the nodes of a Redis Cluster.
    addresses: Vec<ShardAddress>,
    /// Index in `addresses` of the one connected to, or tried next.
    current: AtomicUsize,
    settings: Settings,
    delivery: Arc<Delivery>,
    /// The shard's command connection, put in doubt whenever this connection is lost: its
    /// server probably went away for every connection.
    health: Arc<CommandHealth>,
    /// Every PUB/SUB channel this node wants, resubscribed after a reconnect. Std mutex:
    /// never held across an await.
    channels: Mutex<HashSet<String>>,
    /// Write half of the live connection, `None` while it is down. Async mutex, held while a
    /// command is written so commands never interleave; every write is bounded by
    /// `command_timeout`.
    writer: tokio::sync::Mutex<Option<OwnedWriteHalf>>,
    /// Commands the live connection still owes answers for, in the order they were written
    /// (pushed under `writer`, before the write). Bounded by the callers waiting plus the
    /// resubscription batches in flight. Std mutex: never held across an await.
    pending: Mutex<VecDeque<Pending>>,
    /// Connected with every wanted channel subscribed.
    healthy: AtomicBool,
    /// Tells the reader to drop the live connection ([`Subscriber::reconnect`]). Only
    /// `notify_waiters`: no permit is stored, so a request made while no connection is up
    /// does not drop the next one.
    drop_connection: Notify,
}

/// Why a subscribe or unsubscribe did not complete.
#[derive(Debug)]
enum RequestError {
    /// No connection right now.
    Down,
    /// Writing failed, or the connection was lost before confirming.
    Lost(String),
    /// Redis answered with an error.
    Refused(String),
    /// No confirmation within `command_timeout`.
    Timeout,
}

impl Subscriber {
    /// Opens the first connection (failing if it cannot) and starts the reader task, which
    /// keeps a connection open from then on.
    ///
    /// `addresses` must not be empty; with several, they are tried in order.
    pub(crate) async fn start(
        addresses: Vec<ShardAddress>,
        settings: Settings,
        delivery: Arc<Delivery>,
        health: Arc<CommandHealth>,
    ) -> Result<Self, EngineError> {
        assert!(!addresses.is_empty(), "a subscriber needs an address");
        let shared = Arc::new(Shared {
            addresses,
            current: AtomicUsize::new(0),
            settings,
            delivery,
            health,
            channels: Mutex::default(),
            writer: tokio::sync::Mutex::new(None),
            pending: Mutex::default(),
            healthy: AtomicBool::new(false),
            drop_connection: Notify::new(),
        });
        let mut failures = Vec::new();
        let mut connection = None;
        for _ in 0..shared.addresses.len() {
            match shared.establish().await {
                Ok(established) => {
                    connection = Some(established);
                    break;
                }
                Err(error) => {
                    failures.push(format!("{}: {error}", shared.address()));
                    shared.next_address();
                }
            }
        }
        let Some(connection) = connection else {
            return Err(EngineError::Unavailable {
                reason: format!("redis pub/sub {}", failures.join("; ")),
            });
        };
        // No channel is wanted yet, so the first connection is complete as it is.
        shared.healthy.store(true, Ordering::Relaxed);
        let task = tokio::spawn(Arc::clone(&shared).run(connection)).abort_handle();
        Ok(Self { shared, task })
    }

    /// Connected, with every wanted channel subscribed.
    pub(crate) fn is_healthy(&self) -> bool {
        self.shared.healthy.load(Ordering::Relaxed)
    }

    /// Drops the live connection as if it were lost: the reader reconnects, subscribes every
    /// channel again and reports the gap. For a connection that answers PINGs but no longer
    /// delivers (the hub's end-to-end probe found it wedged). Does nothing while no connection
    /// is up: the reader is reconnecting already.
    pub(crate) fn reconnect(&self) {
        self.shared.drop_connection.notify_waiters();
    }

    /// Subscribes `pubsub_channel`; returns once Redis confirmed it, so every message published
    /// after that reaches the handler.
    pub(crate) async fn subscribe(&self, pubsub_channel: &str) -> Result<(), EngineError> {
        let shared = &self.shared;
        lock(&shared.channels).insert(pubsub_channel.to_owned());
        let result = shared.request(b"SUBSCRIBE", pubsub_channel).await;
        if let Err(error) = result {
            // Not wanted after all. If a reconnect subscribed it meanwhile, its messages reach a
            // handler that has no subscriber for them until the next reconnect drops it.
            lock(&shared.channels).remove(pubsub_channel);
            return Err(shared.failure("subscribe", pubsub_channel, error));
        }
        Ok(())
    }

    /// Unsubscribes `pubsub_channel`. With the connection down there is nothing to do: the
    /// next connection only subscribes wanted channels.
    pub(crate) async fn unsubscribe(&self, pubsub_channel: &str) -> Result<(), EngineError> {
        let shared = &self.shared;
        lock(&shared.channels).remove(pubsub_channel);
        match shared.request(b"UNSUBSCRIBE", pubsub_channel).await {
            Ok(()) | Err(RequestError::Down | RequestError::Lost(_)) => Ok(()),
            Err(error) => Err(shared.failure("unsubscribe", pubsub_channel, error)),
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Shared {
    /// The address connected to, or tried next.
    fn address(&self) -> &ShardAddress {
        &self.addresses[self.current.load(Ordering::Relaxed) % self.addresses.len()]
    }

    /// Moves on to the next address, after failing to connect to the current one.
    fn next_address(&self) {
        if self.addresses.len() > 1 {
            let next = (self.current.load(Ordering::Relaxed) + 1) % self.addresses.len();
            self.current.store(next, Ordering::Relaxed);
            tracing::info!(shard = %self.address(), "redis pub/sub trying the next address");
        }
    }

    /// The reader task: reads until the connection breaks, then reconnects with backoff.
    async fn run(self: Arc<Self>, first: (OwnedReadHalf, BytesMut)) {
        let mut connection = Some(first);
        let mut reconnected = false;
        let mut delay = FIRST_RECONNECT_DELAY;
        loop {
            let (read, buf) = match connection.take() {
                Some(connection) => connection,
                None => match self.establish().await {
                    Ok(connection) => {
                        delay = FIRST_RECONNECT_DELAY;
                        reconnected = true;
                        connection
                    }
                    Err(error) => {
                        tracing::warn!(shard = %self.address(), %error, "redis pub/sub reconnect failed");
                        self.next_address();
                        sleep(jittered(delay)).await;
                        delay = (delay * 2).min(self.settings.reconnect_max_delay);
                        continue;
                    }
                },
            };
            let error = self.read(read, buf, reconnected).await;
            self.lost().await;
            tracing::warn!(
                shard = %self.address(),
                %error,
                channels = lock(&self.channels).len(),
                "redis pub/sub connection lost; publications until it is back do not reach this node",
            );
        }
    }

    /// Connects, authenticates and installs the write half. Subscribing the wanted channels is
    /// left to `read`, which must run meanwhile to take the confirmations off the socket.
    async fn establish(&self) -> io::Result<(OwnedReadHalf, BytesMut)> {
        let limit = self.settings.connect_timeout;
        // In Sentinel mode, the master is asked for before every connect.
        let address = self.address().resolve().await.map_err(io::Error::other)?;
        let (read, write, buf) = timeout(limit, self.handshake(&address))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        let mut writer = self.writer.lock().await;
        lock(&self.pending).clear();
        *writer = Some(write);
        if address.sentinels.is_some() {
            tracing::info!(master = %address, "redis pub/sub connected to the master sentinel names");
        }
        self.health.set_node(&address.host, address.port);
        Ok((read, buf))
    }

    async fn handshake(
        &self,
        address: &ShardAddress,
    ) -> io::Result<(OwnedReadHalf, OwnedWriteHalf, BytesMut)> {
        let stream = TcpStream::connect((address.host.as_str(), address.port)).await?;
        stream.set_nodelay(true)?;
        let (mut read, mut write): (OwnedReadHalf, OwnedWriteHalf) = match &address.tls {
            None => {
                let (read, write) = stream.into_split();
                (Box::new(read), Box::new(write))
            }
            Some(tls) => {
                let (read, write) = tokio::io::split(tls.connect(&address.host, stream).await?);
                (Box::new(read), Box::new(write))
            }
        };
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        if let Some(password) = &address.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(username) = &address.username {
                args.push(username.as_bytes());
            }
            args.push(password.as_bytes());
            write.write_all(&resp::command(&args)).await?;
            expect_ok(self.read_frame(&mut read, &mut buf).await?, "AUTH")?;
        }
        write
            .write_all(&resp::command(&[b"CLIENT", b"SETNAME", b"herald-pubsub"]))
            .await?;
        expect_ok(
            self.read_frame(&mut read, &mut buf).await?,
            "CLIENT SETNAME",
        )?;
        if address.sentinels.is_some() {
            // A sentinel may still name a master that was just demoted: its PUB/SUB would
            // still hear replicated publications, but the next demotion step closes it.
            write.write_all(&resp::command(&[b"ROLE"])).await?;
            expect_master(self.read_frame(&mut read, &mut buf).await?)?;
        }
        Ok((read, write, buf))
    }

    /// Reads one frame during the handshake.
    async fn read_frame(&self, read: &mut OwnedReadHalf, buf: &mut BytesMut) -> io::Result<Frame> {
        loop {
            if let Some(frame) =
                resp::next_frame(buf, self.settings.max_message_size).map_err(invalid_data)?
            {
                return Ok(frame);
            }
            buf.reserve(READ_CHUNK);
            if read.read_buf(buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Subscribes the wanted channels (then reports the gap if this connection replaces a lost
    /// one), and reads and delivers until the connection fails, pinging it when quiet. Returns
    /// why it stopped.
    async fn read(
        &self,
        mut read: OwnedReadHalf,
        mut buf: BytesMut,
        reconnected: bool,
    ) -> io::Error {
        let wanted: Vec<String> = lock(&self.channels).iter().cloned().collect();
        let resubscribe = self.resubscribe(wanted);
        tokio::pin!(resubscribe);
        let mut resubscribing = true;
        let interval = self.settings.ping_interval;
        let mut heard = Instant::now();
        let mut pinged = false;
        // Registered now, so a request made while frames are being handled is not missed.
        let dropped = self.drop_connection.notified();
        tokio::pin!(dropped);
        dropped.as_mut().enable();
        loop {
            loop {
                match resp::next_frame(&mut buf, self.settings.max_message_size) {
                    Ok(Some(frame)) => self.handle(frame),
                    Ok(None) => break,
                    Err(error) => return invalid_data(error),
                }
            }
            if buf.capacity() - buf.len() < READ_CHUNK / 4 {
                buf.reserve(READ_CHUNK);
            }
            let deadline = heard + if pinged { interval * 2 } else { interval };
            tokio::select! {
                done = &mut resubscribe, if resubscribing => {
                    resubscribing = false;
                    if let Err(error) = done {
                        return error;
                    }
                    self.healthy.store(true, Ordering::Relaxed);
                    if reconnected {
                        self.delivery.gap();
                    }
                }
                received = read.read_buf(&mut buf) => match received {
                    Ok(0) => return io::ErrorKind::UnexpectedEof.into(),
                    Ok(_) => {
                        heard = Instant::now();
                        pinged = false;
                    }
                    Err(error) => return error,
                },
                () = &mut dropped => {
                    return io::Error::other("dropped on request: the end-to-end probe did not come back");
                }
                () = sleep_until(deadline) => {
                    if pinged {
                        return io::Error::new(io::ErrorKind::TimedOut, "no answer to ping");
                    }
                    self.ping().await;
                    pinged = true;
                }
            }
        }
    }

    /// Subscribes `channels` again on a new connection, in batches, skipping any unsubscribed
    /// meanwhile; returns once Redis confirmed them all, so that from then on nothing published
    /// is missed.
    async fn resubscribe(&self, channels: Vec<String>) -> io::Result<()> {
        let mut subscribed = 0;
        let mut answers = Vec::new();
        for batch in channels.chunks(RESUBSCRIBE_BATCH) {
            let mut writer = self.writer.lock().await;
            let Some(write) = writer.as_mut() else {
                return Err(io::ErrorKind::NotConnected.into());
            };
            let command = {
                let wanted = lock(&self.channels);
                let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
                args.extend(
                    batch
                        .iter()
                        .filter(|c| wanted.contains(*c))
                        .map(String::as_bytes),
                );
                if args.len() == 1 {
                    continue;
                }
                let (waiter, answer) = oneshot::channel();
                lock(&self.pending).push_back(Pending {
                    remaining: args.len() - 1,
                    waiter,
                });
                answers.push(answer);
                subscribed += args.len() - 1;
                resp::command(&args)
            };
            timeout(self.settings.command_timeout, write.write_all(&command))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "resubscribe timed out"))??;
        }
        for answer in answers {
            match timeout(self.settings.command_timeout, answer).await {
                Ok(Ok(Ok(()))) => {}
                // Refused (an ACL, say): nothing a reconnect would change, so carry on.
                Ok(Ok(Err(error))) => {
                    tracing::error!(shard = %self.address(), %error, "redis refused to resubscribe channels");
                }
                Ok(Err(_)) => return Err(io::ErrorKind::ConnectionAborted.into()),
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "resubscribe not confirmed",
                    ));
                }
            }
        }
        if subscribed > 0 {
            tracing::info!(shard = %self.address(), channels = subscribed, "redis pub/sub resubscribed");
        }
        Ok(())
    }

    /// Handles one frame from Redis.
    fn handle(&self, frame: Frame) {
        match frame {
            Frame::Array(items) => match items.as_slice() {
                [
                    Frame::Bulk(kind),
                    Frame::Bulk(channel),
                    Frame::Bulk(payload),
                ] if kind.as_ref() == b"message" => {
                    self.delivery.deliver(channel, payload.clone());
                }
                [Frame::Bulk(kind), _, Frame::Integer(_)]
                    if kind.as_ref() == b"subscribe" || kind.as_ref() == b"unsubscribe" =>
                {
                    self.confirm(Ok(()));
                }
                [Frame::Bulk(kind), ..] if kind.as_ref() == b"pong" => {}
                other => {
                    tracing::warn!(shard = %self.address(), frame = ?other, "unexpected redis pub/sub frame")
                }
            },
            Frame::Error(error) => {
                let error = String::from_utf8_lossy(&error).into_owned();
                tracing::warn!(shard = %self.address(), %error, "redis pub/sub error");
                self.confirm(Err(error));
            }
            Frame::Simple(reply) if reply.as_ref() == b"PONG" => {}
            other => {
                tracing::warn!(shard = %self.address(), frame = ?other, "unexpected redis pub/sub frame");
            }
        }
    }

    /// Counts one answer towards the oldest unanswered command: a confirmation of one of its
    /// channels, or an error rejecting it whole.
    fn confirm(&self, result: Result<(), String>) {
        let answered = {
            let mut pending = lock(&self.pending);
            match pending.front_mut() {
                Some(front) if result.is_ok() && front.remaining > 1 => {
                    front.remaining -= 1;
                    None
                }
                Some(_) => pending.pop_front(),
                None => {
                    tracing::warn!(shard = %self.address(), "redis pub/sub answer to no command");
                    None
                }
            }
        };
        if let Some(command) = answered {
            // The waiter may have timed out and gone; then nobody needs to know.
            let _ = command.waiter.send(result);
        }
    }

    /// Sends PING unless a command is being written (which Redis will answer anyway).
    async fn ping(&self) {
        let Ok(mut writer) = self.writer.try_lock() else {
            return;
        };
        if let Some(write) = writer.as_mut() {
            let ping = resp::command(&[b"PING"]);
            // A failure shows up as a read error or as the missing answer.
            let _ = timeout(self.settings.command_timeout, write.write_all(&ping)).await;
        }
    }

    /// Forgets the broken connection: no writer, no owed confirmations (their waiters fail).
    /// The command connection to the same server is in doubt from now on.
    async fn lost(&self) {
        self.healthy.store(false, Ordering::Relaxed);
        self.health.doubt();
        let mut writer = self.writer.lock().await;
        *writer = None;
        lock(&self.pending).clear();
    }

    /// Writes `command channel` and waits for its confirmation.
    async fn request(&self, command: &[u8], channel: &str) -> Result<(), RequestError> {
        let limit = self.settings.command_timeout;
        let bytes = resp::command(&[command, channel.as_bytes()]);
        let confirmed = {
            let mut writer = timeout(limit, self.writer.lock())
                .await
                .map_err(|_| RequestError::Timeout)?;
            let Some(write) = writer.as_mut() else {
                return Err(RequestError::Down);
            };
            let (waiter, receiver) = oneshot::channel();
            lock(&self.pending).push_back(Pending {
                remaining: 1,
                waiter,
            });
            match timeout(limit, write.write_all(&bytes)).await {
                Ok(Ok(())) => receiver,
                failed => {
                    // A partly written command leaves the connection unusable. Dropping the
                    // write half shuts it down, so Redis closes the connection and the reader
                    // reconnects.
                    *writer = None;
                    let reason = match failed {
                        Ok(Err(error)) => error.to_string(),
                        _ => "write timed out".to_owned(),
                    };
                    return Err(RequestError::Lost(reason));
                }
            }
        };
        match timeout(limit, confirmed).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(error))) => Err(RequestError::Refused(error)),
            Ok(Err(_)) => Err(RequestError::Lost("connection lost".to_owned())),
            Err(_) => Err(RequestError::Timeout),
        }
    }

    fn failure(&self, what: &str, channel: &str, error: RequestError) -> EngineError {
        let why = match error {
            RequestError::Down => "connection is down".to_owned(),
            RequestError::Lost(reason) => reason,
            RequestError::Refused(reason) => reason,
            RequestError::Timeout => "timed out".to_owned(),
        };
        EngineError::Unavailable {
            reason: format!("redis {what} {channel} on {}: {why}", self.address()),
        }
    }
}

fn expect_ok(frame: Frame, command: &str) -> io::Result<()> {
    match frame {
        Frame::Simple(_) => Ok(()),
        Frame::Error(error) => Err(io::Error::other(format!(
            "{command}: {}",
            String::from_utf8_lossy(&error)
        ))),
        other => Err(io::Error::other(format!("{command}: unexpected {other:?}"))),
    }
}

/// Checks a `ROLE` reply: its first element must be `master`.
fn expect_master(frame: Frame) -> io::Result<()> {
    match frame {
        Frame::Array(items) if matches!(items.first(), Some(Frame::Bulk(role)) if role.as_ref() == b"master") => {
            Ok(())
        }
        other => Err(io::Error::other(format!(
            "ROLE: not a master ({other:?}); asking the sentinels again"
        ))),
    }
}

fn invalid_data(error: resp::RespError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

/// A pause between half of `delay` and `delay`, so nodes do not reconnect in lockstep.
fn jittered(delay: Duration) -> Duration {
    let half = delay / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}
