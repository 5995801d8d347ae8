//! Starts `redis-server` processes for the tests: each on a free port of 127.0.0.1, without
//! persistence, stopped when dropped, and in any case when the test process exits.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::LazyLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long a server may take to answer PING after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs redis-server ("$@") in the background and kills it as soon as its stdin reaches EOF,
/// which happens when the `RedisServer` is dropped or the test process exits (statics are never
/// dropped). Exits when redis-server exits, so a failed start is seen at once.
/// (An asynchronous list reads /dev/null unless redirected, hence fd 3.) Then removes
/// `$HERALD_CLEANUP_DIR`, if set: the private directory of a cluster node.
const SUPERVISOR: &str = r#"exec 3<&0
"$@" </dev/null &
pid=$!
(read -r _ <&3; kill "$pid" 2>/dev/null) &
wait "$pid"
status=$?
if [ -n "$HERALD_CLEANUP_DIR" ]; then rm -rf "$HERALD_CLEANUP_DIR"; fi
exit "$status""#;

static SHARED: LazyLock<RedisServer> = LazyLock::new(RedisServer::start);
static SECOND: LazyLock<RedisServer> = LazyLock::new(RedisServer::start);

/// The server most tests share; they use distinct channel names.
pub(crate) fn shared() -> &'static RedisServer {
    &SHARED
}

/// A second shared server, for sharding tests.
pub(crate) fn second() -> &'static RedisServer {
    &SECOND
}

/// A running redis-server of the test process.
#[derive(Debug)]
pub(crate) struct RedisServer {
    port: u16,
    supervisor: Child,
    /// Closing it stops the server.
    stdin: Option<ChildStdin>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers PING.
    ///
    /// # Panics
    ///
    /// When redis-server is not installed, or does not come up.
    pub(crate) fn start() -> Self {
        Self::start_with(false)
    }

    /// Starts a server, as [`RedisServer::start`], with Redis Cluster enabled when `cluster`
    /// (its `nodes.conf` in a directory of its own, removed when the server stops). The node
    /// knows no other yet; see `cluster.rs`.
    pub(crate) fn start_with(cluster: bool) -> Self {
        let binary = binary();
        let mut last_error = String::new();
        for _ in 0..5 {
            let mut port = free_port();
            // A cluster node also listens on port + 10000, its cluster bus.
            while cluster && port > 55_000 {
                port = free_port();
            }
            let mut command = Command::new("sh");
            command
                .arg("-c")
                .arg(SUPERVISOR)
                .arg("sh")
                .arg(&binary)
                .args(["--port", &port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"]);
            if cluster {
                let dir = std::env::temp_dir().join(format!(
                    "herald-redis-cluster-{}-{port}",
                    std::process::id()
                ));
                std::fs::create_dir_all(&dir).expect("create a cluster node directory");
                command
                    .args(["--cluster-enabled", "yes"])
                    .args(["--cluster-config-file", "nodes.conf"])
                    .args(["--cluster-node-timeout", "2000"])
                    .args(["--cluster-require-full-coverage", "no"])
                    .arg("--dir")
                    .arg(&dir)
                    .env("HERALD_CLEANUP_DIR", &dir);
            } else {
                command
                    .arg("--dir")
                    .arg(std::env::temp_dir())
                    .env_remove("HERALD_CLEANUP_DIR");
            }
            let mut supervisor = command
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn sh to supervise redis-server");
            let stdin = supervisor.stdin.take();
            let mut server = Self {
                port,
                supervisor,
                stdin,
            };
            match server.wait_ready() {
                Ok(()) => return server,
                // Most likely someone took the port in between: try another.
                Err(error) => last_error = error,
            }
        }
        panic!("redis-server did not start: {last_error}");
    }

    /// The port it listens on, on 127.0.0.1.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.supervisor.try_wait() {
                return Err(format!(
                    "redis-server on port {} exited: {status}",
                    self.port
                ));
            }
            if ping(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "redis-server on port {} did not answer PING within {READY_TIMEOUT:?}",
                    self.port
                ));
            }
            sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.supervisor.wait();
    }
}

/// A program installed with redis-server (`redis-cli`): next to it, or in PATH.
pub(crate) fn sibling_binary(name: &str) -> PathBuf {
    let next_to = binary().with_file_name(name);
    if next_to.exists() {
        return next_to;
    }
    PathBuf::from(name)
}

/// The redis-server binary; the tests fail, never pass silently, without one.
fn binary() -> PathBuf {
    let default = Path::new("/usr/bin/redis-server");
    if default.exists() {
        return default.to_owned();
    }
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("redis-server"))
            .find(|candidate| candidate.exists())
    });
    found.unwrap_or_else(|| {
        panic!(
            "redis-server not found (looked for /usr/bin/redis-server and in PATH): \
             the herald-redis tests need it, install it with `apt-get install redis-server`"
        )
    })
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0 to find a free port")
        .port()
}

fn ping(port: u16) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        stream.set_read_timeout(Some(Duration::from_secs(1)))?;
        stream.write_all(b"PING\r\n")?;
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply)?;
        Ok(&reply == b"+PONG\r\n")
    };
    attempt().unwrap_or(false)
}
