//! What a connection's byte stream must offer: a `TcpStream` (HTTP/1 upgrades: the socket
//! hyper hands back) or, for WebSocket over HTTP/2 (RFC 8441), one end of a Unix socket pair
//! that a bridge task copies to and from the HTTP/2 stream. The connection is generic over it,
//! so the HTTP/1 path compiles to the same code as before the trait existed.
//!
//! While the connection's task is idle it lends the socket to its outbox ([`Lent`]), so the
//! fan-out writes a frame straight to it (see `herald_hub::DirectSink`).

use std::io::{self, IoSlice};
use std::task::{Context, Poll};

use bytes::Bytes;
use herald_hub::{Direct, DirectSink};
use herald_ws::OutFrame;
use tokio::io::{AsyncRead, AsyncWrite};

use super::writer::{FrameWrite, WriteVia, try_write_frame};

/// A non-blocking stream socket: read through `AsyncRead`, written without waiting
/// (`try_write_vectored`), shut down through `AsyncWrite`.
pub(super) trait Socket:
    AsyncRead + AsyncWrite + Send + Sync + Unpin + std::fmt::Debug + 'static
{
    /// Writes what the socket takes now; `WouldBlock` when it takes nothing.
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;

    /// Writes what the socket takes of one buffer now; `WouldBlock` when it takes nothing.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;

    /// [`Socket::try_write`] straight to the kernel, without reading or updating the runtime's
    /// readiness of the socket (for the outbox's direct writes, see [`Lent`]).
    fn write_untracked(&self, buf: &[u8]) -> io::Result<usize>;

    /// [`Socket::try_write_vectored`] straight to the kernel, as [`Socket::write_untracked`].
    fn write_vectored_untracked(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;

    /// Ready once the socket may take bytes again.
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// `send` flags: a peer that is gone must be an `EPIPE` error, never a SIGPIPE (Rust's runtime
/// ignores the signal too; this does not depend on it). The value is Linux's ABI.
#[cfg(target_os = "linux")]
const SEND_FLAGS: i32 = 0x4000;
#[cfg(not(target_os = "linux"))]
const SEND_FLAGS: i32 = 0;

/// `Socket` for a tokio stream type: the runtime's non-blocking writes, and `send` on its file
/// descriptor for the untracked ones.
macro_rules! tokio_socket {
    ($stream:ty) => {
        impl Socket for $stream {
            fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                <$stream>::try_write_vectored(self, bufs)
            }

            fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
                <$stream>::try_write(self, buf)
            }

            fn write_untracked(&self, buf: &[u8]) -> io::Result<usize> {
                socket2::SockRef::from(self).send_with_flags(buf, SEND_FLAGS)
            }

            fn write_vectored_untracked(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                socket2::SockRef::from(self).send_vectored_with_flags(bufs, SEND_FLAGS)
            }

            fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                <$stream>::poll_write_ready(self, cx)
            }
        }
    };
}

tokio_socket!(tokio::net::TcpStream);
#[cfg(unix)]
tokio_socket!(tokio::net::UnixStream);

/// A connection's socket, shared with its outbox while the connection's task is idle: the
/// outbox then writes an uncompressed data frame straight to it (`herald_hub::DirectSink`).
/// The task takes it back before it reads or writes anything itself, so only one of them uses
/// the socket at a time.
///
/// Direct writes go straight to the kernel ([`WriteVia::Kernel`]): the runtime's readiness
/// record of the socket is a cache line per connection that a fan-out would otherwise read for
/// every delivery. It never goes stale that way: a socket that does not take a whole frame
/// ends the loan, and the task's next write, through the runtime, finds the socket full.
#[derive(Debug)]
pub(super) struct Lent<S>(pub(super) S);

impl<S: Socket> DirectSink for Lent<S> {
    fn write_frame(&self, binary: bool, message: &Bytes) -> Direct {
        let kind = match binary {
            true => OutFrame::Binary,
            false => OutFrame::Text,
        };
        match try_write_frame(&self.0, WriteVia::Kernel, kind, false, message) {
            Ok(FrameWrite::Whole) => Direct::Written,
            Ok(FrameWrite::Part(rest)) => Direct::Partial(rest),
            // Full, or failed: the writer meets the same error and closes with 3009.
            Ok(FrameWrite::Nothing) | Err(_) => Direct::Refused,
        }
    }
}
