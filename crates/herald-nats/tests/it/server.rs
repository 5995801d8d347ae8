//! Starts `nats-server` processes for the tests: each on a free port of 127.0.0.1 (never the
//! system server on 4222), without JetStream, stopped when dropped, and in any case when the
//! test process exits.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::LazyLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long a server may take to accept connections after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs nats-server ("$@") in the background and kills it as soon as its stdin reaches EOF,
/// which happens when the `NatsServer` is stopped or dropped, or the test process exits (statics
/// are never dropped). Exits when nats-server exits, so a failed start is seen at once.
/// (An asynchronous list reads /dev/null unless redirected, hence fd 3.)
const SUPERVISOR: &str = r#"exec 3<&0
"$@" </dev/null &
pid=$!
(read -r _ <&3; kill -9 "$pid" 2>/dev/null) &
wait "$pid""#;

static SHARED: LazyLock<NatsServer> = LazyLock::new(NatsServer::start);

/// The server most tests share; they use distinct channel names.
pub(crate) fn shared() -> &'static NatsServer {
    &SHARED
}

/// A nats-server of the test process.
#[derive(Debug)]
pub(crate) struct NatsServer {
    port: u16,
    process: Option<Process>,
}

#[derive(Debug)]
struct Process {
    supervisor: Child,
    /// Closing it stops the server.
    stdin: Option<ChildStdin>,
}

impl NatsServer {
    /// Starts a server on a free port and waits until it accepts connections.
    ///
    /// # Panics
    ///
    /// When nats-server is not installed, or does not come up.
    pub(crate) fn start() -> Self {
        let mut last_error = String::new();
        for _ in 0..5 {
            let mut server = Self {
                port: free_port(),
                process: None,
            };
            match server.launch() {
                Ok(()) => return server,
                // Most likely someone took the port in between: try another.
                Err(error) => last_error = error,
            }
        }
        panic!("nats-server did not start: {last_error}");
    }

    /// `nats://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: clients see their connections drop) and waits until it is gone.
    pub(crate) fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            drop(process.stdin.take());
            let _ = process.supervisor.wait();
        }
    }

    /// Starts the server again on the same port.
    ///
    /// # Panics
    ///
    /// When it does not come up.
    pub(crate) fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.launch() {
                Ok(()) => return,
                // The port may take a moment to be free again.
                Err(error) if Instant::now() < deadline => {
                    eprintln!("restarting nats-server: {error}; retrying");
                    sleep(Duration::from_millis(100));
                }
                Err(error) => panic!("nats-server did not restart: {error}"),
            }
        }
    }

    fn launch(&mut self) -> Result<(), String> {
        let mut supervisor = Command::new("sh")
            .arg("-c")
            .arg(SUPERVISOR)
            .arg("sh")
            .arg(binary())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            // No HTTP monitoring, no cluster, no JetStream: only the client port.
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn sh to supervise nats-server: {e}"))?;
        let stdin = supervisor.stdin.take();
        self.process = Some(Process { supervisor, stdin });
        let result = self.wait_ready();
        if result.is_err() {
            self.stop();
        }
        result
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(process) = self.process.as_mut()
                && let Ok(Some(status)) = process.supervisor.try_wait()
            {
                return Err(format!(
                    "nats-server on port {} exited: {status}",
                    self.port
                ));
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "nats-server on port {} did not accept connections within {READY_TIMEOUT:?}",
                    self.port
                ));
            }
            sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The nats-server binary; the tests fail, never pass silently, without one.
fn binary() -> PathBuf {
    let default = Path::new("/usr/sbin/nats-server");
    if default.exists() {
        return default.to_owned();
    }
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("nats-server"))
            .find(|candidate| candidate.exists())
    });
    found.unwrap_or_else(|| {
        panic!(
            "nats-server not found (looked for /usr/sbin/nats-server and in PATH): \
             the herald-nats tests need it, install it with `apt-get install nats-server`"
        )
    })
}

/// A port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0 to find a free port")
        .port()
}
