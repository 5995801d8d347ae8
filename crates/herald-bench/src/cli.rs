//! The command line: one subcommand per workload plus helpers for `bench/run`. Parsed here,
//! turned into a checked plan by each workload ("parse, don't validate").

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::adapter::Flavor;

/// herald-bench: load generator for Herald and peer servers (Socket.IO).
#[derive(Debug, Clone, Parser)]
#[command(name = "herald-bench", version, about, long_about = None)]
pub struct Cli {
    /// The workload or helper to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Open N connections (JWT connect + subscribe), measure connects/s and server memory per
    /// connection, hold them, then check every one still receives a publication.
    Connect(ConnectArgs),
    /// N subscribers on one channel, publications through the HTTP API at a fixed rate (open
    /// loop); deliveries/s, loss, order, latency, server CPU. `--step` searches the highest
    /// sustainable rate.
    Fanout(FanoutArgs),
    /// Rooms of K clients with chat-like traffic: every client publishes (client-side
    /// `publish`) to its room at a fixed rate; deliveries/s, latency, loss, server CPU.
    ///
    /// Herald config: the room channels (`<channel>-<room>`) must allow client publishing, e.g.
    /// `{"channel":{"without_namespace":{"allow_subscribe_for_client":true,
    /// "allow_publish_for_subscriber":true}}}`.
    Rooms(RoomsArgs),
    /// N clients on one recoverable channel while publishing runs; every socket is dropped at
    /// once, each client reconnects after a jittered backoff and resubscribes with recovery;
    /// time until all are back, recovered or not, lost/duplicated/out-of-order messages.
    ///
    /// Herald config: the channel needs history and recovery, e.g.
    /// `{"channel":{"without_namespace":{"allow_subscribe_for_client":true,
    /// "history_size":1000,"history_ttl":"300s","force_recovery":true}}}`. `history_size`,
    /// and `client.recovery_max_publication_limit` when set (300 by default, as in Centrifugo),
    /// must hold at least rate x (longest time a client is away) publications, else the
    /// late clients get `recovered: false` and the run fails.
    Storm(StormArgs),
    /// The kernel's floor under a delivery: CPU of one thread writing a WebSocket-sized frame
    /// to each of N loopback TCP connections in turn (no server involved). A server that writes
    /// once per delivery cannot beat this many deliveries per CPU-second on this machine.
    Floor(FloorArgs),
    /// Render result files (`--json` output) as BENCHMARKS.md.
    Markdown(MarkdownArgs),
    /// Wait until a TCP address accepts connections (for scripts).
    Wait(WaitArgs),
    /// Internal: a worker process holding a share of the connections.
    #[command(hide = true)]
    Worker(WorkerArgs),
}

/// Options of `floor`.
#[derive(Debug, Clone, Args)]
pub struct FloorArgs {
    /// Loopback connections written to in turn.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Frames written to each connection.
    #[arg(long, default_value_t = 1000)]
    pub rounds: usize,
    /// Payload bytes per frame (the frame adds a 2- or 4-byte header).
    #[arg(long, default_value_t = 128)]
    pub payload: usize,
    /// How the receiving ends read: `spinning` (one thread polls every socket, so a write
    /// never has a reader to wake) or `waiting` (one task per socket on a tokio runtime, as a
    /// real client and herald-bench's own clients read: a write wakes the reader's epoll).
    #[arg(long, value_enum, default_value = "spinning")]
    pub readers: FloorReaders,
    /// Rounds per second: the writes of a round go back to back, then the writer sleeps until
    /// the next round is due, as a fan-out of `rate` publications a second does. `0`
    /// (default): every round back to back, the kernel's best case (hot caches).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
}

/// How the floor's receiving ends read (see [`FloorArgs::readers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FloorReaders {
    /// A thread polls every socket without ever sleeping.
    Spinning,
    /// One task per socket, waiting in epoll between reads.
    Waiting,
}

/// Options every workload shares.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Server address; its WebSocket endpoint and HTTP API share it.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8000")]
    pub server: SocketAddr,
    /// Protocol the server speaks. `herald-http-stream` and `herald-sse` need Herald's
    /// `http_stream` / `sse` transports enabled and work with `connect` and `fanout` only.
    #[arg(long, value_enum, default_value = "herald-json")]
    pub protocol: Flavor,
    /// HMAC secret for connection tokens (Herald's client.token.hmac_secret_key); without it
    /// clients connect without a token.
    #[arg(long, value_name = "SECRET")]
    pub token_secret: Option<String>,
    /// HTTP API key (Herald's http_api.key), sent as X-API-Key.
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// The app of `--protocol pusher` (`pusher.apps[]` in Herald's configuration): its id,
    /// key and secret.
    #[arg(long, value_name = "ID:KEY:SECRET")]
    pub pusher_app: Option<crate::adapter::PusherApp>,
    /// Pid of the server process, for its CPU time, memory and liveness (from /proc).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// Channel (Socket.IO: room) to subscribe to.
    #[arg(long, default_value = "bench")]
    pub channel: String,
    /// Source addresses 127.0.0.1 ..= 127.0.0.N for client sockets; default: one per 2,000
    /// connections (the kernel's search for a free port slows as an address's ports fill).
    #[arg(long, value_name = "N")]
    pub source_addrs: Option<usize>,
    /// Worker processes holding the connections; default: one per 18,000 connections (the
    /// open-file limit is 20,000 per process), in this process when 1.
    #[arg(long, value_name = "K")]
    pub workers: Option<usize>,
    /// Connections being opened at once.
    #[arg(long, value_name = "C", default_value_t = 256)]
    pub concurrency: usize,
    /// Deadline of each step of opening a connection, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub connect_timeout: f64,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// `connect`.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Connections to open.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub connections: usize,
    /// Seconds to hold them open before the liveness check.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub hold: f64,
    /// Seconds to wait after opening before reading the server's memory, so it settles.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub settle: f64,
    /// Seconds the liveness check waits for every connection to receive its publication.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub drain_timeout: f64,
    /// Offer permessage-deflate and fail a connection the server does not grant it, to measure
    /// memory per idle connection with deflate negotiated. The client cannot inflate: run
    /// the server with `websocket.compression: true` and `websocket.compression_min_size`
    /// above every message these clients receive (1024 is), so nothing is compressed.
    #[arg(long)]
    pub deflate: bool,
}

/// `fanout`.
#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Offer permessage-deflate on every subscriber (see `connect --deflate`: the client cannot
    /// inflate, so the server's `websocket.compression_min_size` must exceed the messages).
    #[arg(long)]
    pub deflate: bool,
    /// Subscribers on the channel.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub subscribers: usize,
    /// Publications per second (the first rate with --step).
    #[arg(long, value_name = "R", default_value_t = 100.0)]
    pub rate: f64,
    /// Seconds of publishing (per step with --step).
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub duration: f64,
    /// Size of each publication's data in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 128)]
    pub payload: usize,
    /// Raise the rate after each sustainable round until p99 passes --p99-bound-ms or a
    /// message is lost; report the highest sustainable rate.
    #[arg(long)]
    pub step: bool,
    /// Rate multiplier between steps.
    #[arg(long, value_name = "F", default_value_t = 1.5)]
    pub step_factor: f64,
    /// Most steps to run.
    #[arg(long, value_name = "N", default_value_t = 12)]
    pub max_steps: usize,
    /// A round is sustainable while its p99 latency stays at or below this.
    #[arg(long, value_name = "MS", default_value_t = 50.0)]
    pub p99_bound_ms: f64,
    /// Seconds to wait for deliveries after the last publication.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub drain_timeout: f64,
    /// Publish through this server's HTTP API instead of `--server` (another node of the same
    /// cluster: every delivery then crosses the broker between nodes).
    #[arg(long, value_name = "ADDR")]
    pub publish_server: Option<std::net::SocketAddr>,
}

/// `storm`.
#[derive(Debug, Clone, Args)]
pub struct StormArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Clients on the channel.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub clients: usize,
    /// Publications per second through the HTTP API, for the whole run.
    #[arg(long, value_name = "R", default_value_t = 100.0)]
    pub rate: f64,
    /// Seconds of publishing.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of publishing before every connection is dropped.
    #[arg(long, value_name = "SECONDS", default_value_t = 3.0)]
    pub warmup: f64,
    /// Each client waits a uniform 0..=MS before reconnecting (and between failed attempts).
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub max_backoff_ms: u64,
    /// Size of each publication's data in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 128)]
    pub payload: usize,
    /// Seconds to wait for every client to be back after the drop.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub recover_timeout: f64,
    /// Seconds to wait for deliveries after the last publication.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub drain_timeout: f64,
}

/// `rooms`.
#[derive(Debug, Clone, Args)]
pub struct RoomsArgs {
    /// Shared options (`--channel` is the prefix of the room channels).
    #[command(flatten)]
    pub common: CommonArgs,
    /// Clients in all.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub clients: usize,
    /// Clients per room (the last room may be smaller).
    #[arg(long, value_name = "K", default_value_t = 10)]
    pub room_size: usize,
    /// Messages per second each client publishes.
    #[arg(long, value_name = "R", default_value_t = 1.0)]
    pub rate: f64,
    /// Seconds of publishing.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub duration: f64,
    /// Size of each message's data in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 128)]
    pub payload: usize,
    /// Seconds to wait for deliveries after the last publication.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub drain_timeout: f64,
}

/// `markdown`.
#[derive(Debug, Clone, Args)]
pub struct MarkdownArgs {
    /// Where to write; `-` for stdout.
    #[arg(long, value_name = "FILE", default_value = "BENCHMARKS.md")]
    pub out: PathBuf,
    /// Say at the top that these are quick-mode numbers.
    #[arg(long)]
    pub quick: bool,
    /// An extra line for the header (versions, date); repeatable.
    #[arg(long, value_name = "TEXT")]
    pub note: Vec<String>,
    /// Result files written by `--json`, in the order they should appear.
    #[arg(required = true)]
    pub results: Vec<PathBuf>,
}

/// `wait`.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Address to probe.
    #[arg(long, value_name = "ADDR")]
    pub addr: SocketAddr,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 15.0)]
    pub timeout: f64,
}

/// `worker` (internal).
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// The group to open, as JSON.
    #[arg(long)]
    pub spec: String,
}
