//! Why a benchmark run stopped, and why one connection could not be opened.
//!
//! [`BenchError`] ends a run: the message says what to change. [`ConnectError`] is one failed
//! connection attempt; most are counted and reported, a few (fd or port exhaustion) are turned
//! into a [`BenchError`] at once because retrying cannot help.

use std::io;
use std::net::{IpAddr, SocketAddr};

/// A run cannot go on. The message is meant for the person running the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The process ran out of file descriptors.
    #[error(
        "too many open files ({context}): use more --workers or fewer connections per process \
         (open-file limit {limit})"
    )]
    FdExhausted {
        /// What was being opened.
        context: String,
        /// The soft `RLIMIT_NOFILE` of this process, if known.
        limit: String,
    },
    /// No local port is left for a source address.
    #[error("no free local port on {source_addr} ({context}): use more --source-addrs")]
    PortExhausted {
        /// The exhausted source address.
        source_addr: IpAddr,
        /// What was being opened.
        context: String,
    },
    /// The server could not be reached at all.
    #[error("cannot reach the server at {addr}: {why}")]
    Unreachable {
        /// Where it was expected.
        addr: SocketAddr,
        /// What went wrong.
        why: String,
    },
    /// The server process is gone.
    #[error("the server (pid {pid}) exited during the run")]
    ServerGone {
        /// Its pid, from `--server-pid`.
        pid: u32,
    },
    /// Every benchmark connection was closed, usually because the server went away.
    #[error("all {count} connections were closed during the run ({reason})")]
    AllClosed {
        /// How many were open.
        count: u64,
        /// A sample close reason.
        reason: String,
    },
    /// Too many connections could not be opened for the workload to make sense.
    #[error("{failed} of {wanted} connections failed to open; first failure: {first}")]
    OpenFailed {
        /// How many failed.
        failed: u64,
        /// How many were wanted.
        wanted: u64,
        /// The first failure.
        first: String,
    },
    /// Publishing through the server's HTTP API failed.
    #[error("publishing failed: {0}")]
    Publish(String),
    /// A worker process failed or broke the protocol.
    #[error("worker {index}: {message}")]
    Worker {
        /// Which worker.
        index: usize,
        /// What happened.
        message: String,
    },
    /// The command line asks for something impossible.
    #[error("invalid arguments: {0}")]
    InvalidArgs(String),
    /// A part of the benchmark that does not exist yet.
    #[error("`{0}` is not implemented yet (issue #3, part 2)")]
    NotImplemented(&'static str),
    /// An I/O operation of the benchmark itself failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: io::Error,
    },
}

impl BenchError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        BenchError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Why one connection attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The OS refused to create or bind a socket, or the connect failed (refused, reset ...).
    #[error("{stage}: {source}")]
    Io {
        /// Where it failed: "socket", "bind", "connect", "handshake" ...
        stage: &'static str,
        /// The error.
        source: io::Error,
    },
    /// A step took longer than `--connect-timeout`.
    #[error("{stage}: timed out")]
    Timeout {
        /// Which step.
        stage: &'static str,
    },
    /// The WebSocket upgrade failed.
    #[error("websocket handshake: {0}")]
    Handshake(String),
    /// The server answered the connect or subscribe with an error.
    #[error("{stage} rejected: {code} {message}")]
    Rejected {
        /// "connect" or "subscribe".
        stage: &'static str,
        /// The protocol's error code.
        code: u32,
        /// Its message.
        message: String,
    },
    /// The server closed the connection before the handshake completed.
    #[error("{stage}: connection closed by the server{reason}")]
    Closed {
        /// Which step.
        stage: &'static str,
        /// `: <code> <reason>` from the close frame, or empty.
        reason: String,
    },
    /// The server sent something this client does not understand.
    #[error("{stage}: unexpected message: {detail}")]
    Protocol {
        /// Which step.
        stage: &'static str,
        /// What arrived.
        detail: String,
    },
}

impl ConnectError {
    /// A short category for counting failures in reports.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectError::Io { source, .. } => match source.kind() {
                io::ErrorKind::ConnectionRefused => "refused",
                io::ErrorKind::ConnectionReset => "reset",
                _ => "io",
            },
            ConnectError::Timeout { .. } => "timeout",
            ConnectError::Handshake(_) => "handshake",
            ConnectError::Rejected { .. } => "rejected",
            ConnectError::Closed { .. } => "closed",
            ConnectError::Protocol { .. } => "protocol",
        }
    }

    /// The run-ending error this failure stands for, when retrying cannot help: the process is
    /// out of file descriptors, or the source address is out of ports.
    pub fn fatal(&self, source_addr: IpAddr) -> Option<BenchError> {
        let ConnectError::Io { stage, source } = self else {
            return None;
        };
        match source.raw_os_error() {
            Some(EMFILE | ENFILE) => Some(BenchError::FdExhausted {
                context: format!("{stage}: {source}"),
                limit: crate::procfs::open_files_limit()
                    .map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
            }),
            Some(EADDRNOTAVAIL | EADDRINUSE) => Some(BenchError::PortExhausted {
                source_addr,
                context: format!("{stage}: {source}"),
            }),
            _ => None,
        }
    }
}

// Linux errno values (asm-generic); spelled here to avoid a libc dependency for four numbers.
const ENFILE: i32 = 23;
const EMFILE: i32 = 24;
const EADDRINUSE: i32 = 98;
const EADDRNOTAVAIL: i32 = 99;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhaustion_errors_are_fatal_with_advice() {
        let source: IpAddr = [127, 0, 0, 2].into();
        let emfile = ConnectError::Io {
            stage: "socket",
            source: io::Error::from_raw_os_error(EMFILE),
        };
        let message = emfile
            .fatal(source)
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("--workers"), "{message}");

        let no_port = ConnectError::Io {
            stage: "connect",
            source: io::Error::from_raw_os_error(EADDRNOTAVAIL),
        };
        let message = no_port
            .fatal(source)
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("--source-addrs") && message.contains("127.0.0.2"));

        let refused = ConnectError::Io {
            stage: "connect",
            source: io::Error::from(io::ErrorKind::ConnectionRefused),
        };
        assert!(refused.fatal(source).is_none());
        assert_eq!(refused.kind(), "refused");
    }
}
