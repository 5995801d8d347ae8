//! What a connection's byte stream must offer: a `TcpStream` (HTTP/1 upgrades: the socket
//! hyper hands back) or, for WebSocket over HTTP/2 (RFC 8441), one end of a Unix socket pair
//! that a bridge task copies to and from the HTTP/2 stream. The connection is generic over it,
//! so the HTTP/1 path compiles to the same code as before the trait existed.

use std::io::{self, IoSlice};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};

/// A non-blocking stream socket: read through `AsyncRead`, written without waiting
/// (`try_write_vectored`), shut down through `AsyncWrite`.
pub(super) trait Socket: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {
    /// Writes what the socket takes now; `WouldBlock` when it takes nothing.
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;

    /// Ready once the socket may take bytes again.
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl Socket for tokio::net::TcpStream {
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        tokio::net::TcpStream::try_write_vectored(self, bufs)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::net::TcpStream::poll_write_ready(self, cx)
    }
}

#[cfg(unix)]
impl Socket for tokio::net::UnixStream {
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        tokio::net::UnixStream::try_write_vectored(self, bufs)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::net::UnixStream::poll_write_ready(self, cx)
    }
}
