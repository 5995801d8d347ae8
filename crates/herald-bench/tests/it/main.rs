//! herald-bench against the workspace's real `herald` binary: tiny `fanout`, `connect`,
//! `storm` and `rooms` runs in-process must count every delivery exactly once, over WebSocket
//! and (`stream.rs`) over HTTP-streaming and SSE. No timing is asserted: the machine running
//! the tests may be slow or busy.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use herald_bench::Report;
use herald_bench::cli::Cli;

mod stream;

const SECRET: &str = "it-secret";
const API_KEY: &str = "it-key";

/// Builds the debug `herald` binary (a no-op when it is fresh) and returns its path, next to
/// this test's own target directory.
fn herald_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut build = Command::new(cargo)
        .args(["build", "-p", "herald-server", "--bin", "herald", "--quiet"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .spawn()
        .expect("cargo runs");
    let deadline = Instant::now() + Duration::from_secs(900);
    let status = loop {
        if let Some(status) = build.try_wait().expect("waiting for cargo") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = build.kill();
            panic!("building herald took more than 15 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "cargo build -p herald-server failed");
    // This test runs as <target>/debug/deps/it-<hash>; the binary is <target>/debug/herald.
    let exe = std::env::current_exe().expect("test executable");
    let debug_dir = exe.parent().and_then(Path::parent).expect("target/debug");
    let herald = debug_dir.join("herald");
    assert!(herald.exists(), "{} was not built", herald.display());
    herald
}

/// A running `herald serve`, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_herald() -> Server {
    let json = serde_json::json!({
        "client": {"token": {"hmac_secret_key": SECRET}},
        "http_api": {"key": API_KEY},
        "channel": {"without_namespace": {
            "allow_subscribe_for_client": true,
            "history_size": 100,
            "history_ttl": "300s",
            "force_recovery": true,
            "allow_publish_for_subscriber": true
        }}
    });
    start_herald_with("ws", &json)
}

/// Starts `herald serve` with `json` as its config file, in a temporary directory named
/// after `tag` (tests of this binary run at the same time, each with its own server).
fn start_herald_with(tag: &str, json: &serde_json::Value) -> Server {
    let binary = herald_binary();
    let dir = std::env::temp_dir().join(format!("herald-bench-it-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("config.json");
    std::fs::write(&config, json.to_string()).expect("config written");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(binary)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--port", &port.to_string(), "--address", "127.0.0.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("herald starts");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let server = Server {
        child,
        addr,
        _dir: TempDir(dir),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "herald did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

fn cli(args: &[&str], server: &Server) -> Cli {
    let addr = server.addr.to_string();
    let pid = server.child.id().to_string();
    let mut full = vec!["herald-bench"];
    full.extend_from_slice(args);
    full.extend_from_slice(&[
        "--server",
        &addr,
        "--token-secret",
        SECRET,
        "--api-key",
        API_KEY,
        "--server-pid",
        &pid,
        "--json",
    ]);
    Cli::try_parse_from(full).expect("valid command line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_counts_every_delivery_once() {
    let server = start_herald();
    // Workers are not used at these sizes; the binary path is never run.
    let exe = PathBuf::from("herald-bench");

    let fanout = cli(
        &[
            "fanout",
            "--subscribers",
            "20",
            "--rate",
            "200",
            "--duration",
            "2",
            "--payload",
            "128",
        ],
        &server,
    );
    let report = herald_bench::run_workload(&fanout.command, &exe, "it".into())
        .await
        .expect("fanout runs");
    let Report::Fanout(fanout) = report else {
        panic!("fanout report expected");
    };
    let step = &fanout.steps[0];
    assert_eq!(fanout.open.opened, 20);
    assert_eq!(step.published, 400);
    assert_eq!(step.publish_failed, 0, "{:?}", step.first_publish_error);
    assert_eq!(step.subscribers, 20);
    assert_eq!(step.expected_deliveries, 400 * 20);
    assert_eq!(step.received, step.expected_deliveries);
    assert_eq!((step.lost, step.duplicates, step.out_of_order), (0, 0, 0));
    assert_eq!(step.latency.count, step.received);
    assert!(
        step.server_cpu_seconds.is_some(),
        "server CPU is read from /proc"
    );

    let connect = cli(
        &["connect", "--connections", "50", "--hold", "0.5"],
        &server,
    );
    let report = herald_bench::run_workload(&connect.command, &exe, "it".into())
        .await
        .expect("connect runs");
    let Report::Connect(connect) = report else {
        panic!("connect report expected");
    };
    assert_eq!((connect.open.opened, connect.open.failed), (50, 0));
    assert_eq!(connect.alive_verified, 50);
    assert_eq!(connect.closed, 0);
    assert!(connect.server_rss_after.is_some());
    assert!(connect.ok());

    // Storm: every socket dropped at once, reconnect with recovery; nothing lost or doubled.
    let storm = cli(
        &[
            "storm",
            "--clients",
            "30",
            "--rate",
            "100",
            "--duration",
            "3",
            "--warmup",
            "1",
            "--max-backoff-ms",
            "300",
            "--channel",
            "storm",
        ],
        &server,
    );
    let report = herald_bench::run_workload(&storm.command, &exe, "it".into())
        .await
        .expect("storm runs");
    let Report::Storm(storm) = report else {
        panic!("storm report expected");
    };
    assert_eq!(storm.open.opened, 30);
    assert_eq!(storm.published, 300);
    assert_eq!(storm.publish_failed, 0, "{:?}", storm.first_publish_error);
    assert_eq!(
        (storm.back, storm.not_back),
        (30, 0),
        "{:?}",
        storm.failures
    );
    assert_eq!(storm.not_recovered, 0);
    assert_eq!(storm.expected_deliveries, 300 * 30);
    assert_eq!(storm.received, storm.expected_deliveries);
    assert_eq!(
        (storm.lost, storm.duplicates, storm.out_of_order),
        (0, 0, 0)
    );
    assert_eq!(storm.complete_clients, 30);
    assert!(storm.ok());

    // Rooms: 12 clients in rooms of 3 publishing from the client side.
    let rooms = cli(
        &[
            "rooms",
            "--clients",
            "12",
            "--room-size",
            "3",
            "--rate",
            "5",
            "--duration",
            "2",
            "--channel",
            "room",
        ],
        &server,
    );
    let report = herald_bench::run_workload(&rooms.command, &exe, "it".into())
        .await
        .expect("rooms runs");
    let Report::Rooms(rooms) = report else {
        panic!("rooms report expected");
    };
    assert_eq!((rooms.open.opened, rooms.rooms), (12, 4));
    assert_eq!(rooms.sent, 12 * 10);
    assert_eq!(rooms.publish_failed, 0, "{:?}", rooms.first_publish_error);
    assert_eq!(rooms.expected_deliveries, 12 * 10 * 3);
    assert_eq!(rooms.received, rooms.expected_deliveries);
    assert_eq!(
        (rooms.lost, rooms.duplicates, rooms.out_of_order),
        (0, 0, 0)
    );
    assert_eq!(rooms.latency.count, rooms.received);
    assert!(rooms.ok());

    // A server that is gone is a clear error, not a hang.
    let addr = server.addr.to_string();
    drop(server);
    let gone = Cli::try_parse_from([
        "herald-bench",
        "fanout",
        "--server",
        &addr,
        "--subscribers",
        "1",
    ])
    .expect("valid command line");
    let err = herald_bench::run_workload(&gone.command, &exe, "it".into())
        .await
        .expect_err("nothing listens");
    assert!(err.to_string().contains("cannot reach"), "{err}");
}
