//! `floor`: what the kernel alone charges for one fan-out delivery on this machine.
//!
//! One thread writes a server-sized WebSocket frame (2-byte header + payload) to each of N
//! loopback TCP connections in turn with plain blocking `write`s (TCP_NODELAY, as Herald sets);
//! another thread drains them. Only the writing thread's CPU time is counted.
//!
//! How the draining side reads changes what a write costs. A reader that spins over every
//! socket (`--readers spinning`) is never asleep, so a write wakes nobody: the strictest
//! floor. A reader that waits in epoll between reads (`--readers waiting`), as every real
//! client and herald-bench's own do, makes each write also wake it, and the kernel charges
//! that wake-up to the writer.
//!
//! So does when the writes come. Back to back (`--rate 0`), every write finds the kernel's
//! caches hot; at a fan-out's pace (`--rate 20`: a round of writes every 50 ms, the machine
//! idle in between) each round starts cold, as a server's fan-out does. On loopback the
//! kernel processes the receiving side of each segment in the sender's context as well, just
//! as it does for a server's writes to local clients, so this is the floor under a server's
//! "deliveries per server CPU-second" when every delivery is its own write: no server that
//! writes once per delivery can do better on the same machine, whatever its user-space cost.
//!
//! Paced rounds to waiting readers also give the floor under fan-out latency: each read is
//! timed from the start of its round, so the k-th reader's figure is k writes plus one read,
//! on a writer and a reader that do nothing else.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;

use crate::cli::{FloorArgs, FloorReaders};
use crate::procfs::{self, Pid};
use crate::stats::{Latency, LatencySummary};

/// What one floor run measured.
#[derive(Debug, Clone, Copy)]
pub struct FloorReport {
    /// Writes done (one frame each).
    pub writes: u64,
    /// CPU seconds (user + system) of the writing thread.
    pub writer_cpu_seconds: f64,
    /// Wall-clock seconds of the writing loop.
    pub wall_seconds: f64,
    /// Bytes the draining thread received (every frame, when nothing went wrong).
    pub bytes_received: u64,
    /// Paced rounds to waiting readers only: each read's delay after the start of its round.
    pub latency: Option<LatencySummary>,
}

impl FloorReport {
    /// Writes (deliveries) per CPU-second of the writing thread.
    pub fn writes_per_cpu_second(&self) -> f64 {
        self.writes as f64 / self.writer_cpu_seconds.max(f64::EPSILON)
    }
}

/// Runs the measurement (blocking; call from a blocking thread).
pub fn run(args: &FloorArgs) -> anyhow::Result<FloorReport> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a loopback listener")?;
    let address = listener.local_addr()?;
    let mut readers = Vec::with_capacity(args.connections);
    let mut writers = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let reader = TcpStream::connect(address).context("connecting on loopback")?;
        let (writer, _) = listener.accept().context("accepting on loopback")?;
        writer.set_nodelay(true)?;
        reader.set_nonblocking(true)?;
        readers.push(reader);
        writers.push(writer);
    }
    let frame = websocket_frame(args.payload);
    let done = Arc::new(AtomicBool::new(false));
    let drain_done = done.clone();
    let round_gap = (args.rate > 0.0).then(|| std::time::Duration::from_secs_f64(1.0 / args.rate));
    let base = Instant::now();
    // Latency means something only when a round is over before the next begins.
    let timing = (round_gap.is_some() && args.readers == FloorReaders::Waiting).then(|| {
        Arc::new(RoundTiming {
            base,
            round_start_us: AtomicU64::new(0),
            latency: Mutex::new(Latency::default()),
        })
    });
    let drain_timing = timing.clone();
    let drainer = match args.readers {
        FloorReaders::Spinning => std::thread::spawn(move || drain(readers, &drain_done)),
        FloorReaders::Waiting => std::thread::spawn(move || drain_waiting(readers, drain_timing)),
    };

    let cpu_before = procfs::cpu_seconds(Pid::Thread).context("reading this thread's CPU time")?;
    let started = Instant::now();
    for round in 0..args.rounds {
        if let Some(gap) = round_gap {
            let due = started + gap * u32::try_from(round).unwrap_or(u32::MAX);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        if let Some(timing) = &timing {
            timing.start_round();
        }
        for writer in &mut writers {
            writer.write_all(&frame).context("writing on loopback")?;
        }
    }
    let wall_seconds = started.elapsed().as_secs_f64();
    let cpu_after = procfs::cpu_seconds(Pid::Thread).context("reading this thread's CPU time")?;
    done.store(true, Ordering::Relaxed);
    drop(writers);
    let bytes_received = drainer
        .join()
        .map_err(|_| anyhow::anyhow!("the draining thread panicked"))?;
    Ok(FloorReport {
        writes: (args.rounds * args.connections) as u64,
        writer_cpu_seconds: cpu_after - cpu_before,
        wall_seconds,
        bytes_received,
        latency: timing.map(|timing| herald_engine::lock(&timing.latency).summary()),
    })
}

/// When the current round began, and how long after it each read came.
struct RoundTiming {
    base: Instant,
    /// µs after `base`; written by the writer before a round's first write.
    round_start_us: AtomicU64,
    latency: Mutex<Latency>,
}

impl RoundTiming {
    fn now_us(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn start_round(&self) {
        self.round_start_us.store(self.now_us(), Ordering::Release);
    }

    /// A reader got its frame of the current round.
    fn record_read(&self) {
        let delay = self
            .now_us()
            .saturating_sub(self.round_start_us.load(Ordering::Acquire));
        herald_engine::lock(&self.latency).record(i64::try_from(delay).unwrap_or(i64::MAX));
    }
}

/// An unmasked server text frame with a payload of `payload` bytes.
fn websocket_frame(payload: usize) -> Vec<u8> {
    let mut frame = vec![0x81];
    if payload < 126 {
        frame.push(payload as u8);
    } else {
        frame.push(126);
        frame.extend_from_slice(&(payload.min(usize::from(u16::MAX)) as u16).to_be_bytes());
    }
    frame.resize(frame.len() + payload.min(usize::from(u16::MAX)), b'x');
    frame
}

/// Reads every socket until the writer is done and every socket is closed; returns the bytes
/// read.
fn drain(mut readers: Vec<TcpStream>, done: &AtomicBool) -> u64 {
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0u64;
    loop {
        let mut open = 0;
        for reader in &mut readers {
            match reader.read(&mut buf) {
                Ok(0) => {}
                Ok(read) => {
                    received += read as u64;
                    open += 1;
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => open += 1,
                Err(_) => {}
            }
        }
        if open == 0 && done.load(Ordering::Relaxed) {
            return received;
        }
    }
}

/// Reads every socket to its end with one task each on a current-thread tokio runtime, the
/// way herald-bench's clients wait for frames; returns the bytes read. With `timing`, every
/// read is timed from the start of its round.
fn drain_waiting(readers: Vec<TcpStream>, timing: Option<Arc<RoundTiming>>) -> u64 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("floor: no runtime for the waiting readers: {err}");
            return 0;
        }
    };
    runtime.block_on(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for reader in readers {
            let timing = timing.clone();
            tasks.spawn(async move {
                use tokio::io::AsyncReadExt;
                let Ok(mut reader) = tokio::net::TcpStream::from_std(reader) else {
                    return 0;
                };
                let mut buf = vec![0u8; 4096];
                let mut received = 0u64;
                while let Ok(read @ 1..) = reader.read(&mut buf).await {
                    received += read as u64;
                    if let Some(timing) = &timing {
                        timing.record_read();
                    }
                }
                received
            });
        }
        let mut received = 0;
        while let Some(task) = tasks.join_next().await {
            received += task.unwrap_or(0);
        }
        received
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_server_header() {
        assert_eq!(&websocket_frame(5)[..2], &[0x81, 5]);
        let frame = websocket_frame(200);
        assert_eq!(&frame[..4], &[0x81, 126, 0, 200]);
        assert_eq!(frame.len(), 204);
    }

    #[test]
    fn paced_rounds_to_waiting_readers_time_every_read() {
        let report = run(&FloorArgs {
            connections: 3,
            rounds: 4,
            payload: 128,
            readers: FloorReaders::Waiting,
            rate: 50.0,
        })
        .expect("loopback run");
        let latency = report.latency.expect("paced waiting rounds are timed");
        // One read per frame, unless a reader fell a whole round behind and read two at once.
        assert!(
            (3..=12).contains(&latency.count),
            "{} reads of 12 frames",
            latency.count
        );
        let spinning = run(&FloorArgs {
            connections: 3,
            rounds: 4,
            payload: 128,
            readers: FloorReaders::Spinning,
            rate: 200.0,
        })
        .expect("loopback run");
        assert!(spinning.latency.is_none(), "a spinning reader is not timed");
    }

    #[test]
    fn a_small_run_counts_every_write() {
        for readers in [FloorReaders::Spinning, FloorReaders::Waiting] {
            let report = run(&FloorArgs {
                connections: 4,
                rounds: 10,
                payload: 128,
                readers,
                rate: 0.0,
            })
            .expect("loopback run");
            assert_eq!(report.writes, 40);
            assert_eq!(
                report.bytes_received,
                40 * websocket_frame(128).len() as u64,
                "{readers:?}"
            );
        }
    }
}
