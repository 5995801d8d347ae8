//! TCP connections from chosen loopback source addresses.
//!
//! One (source address, destination) pair has about 28,000 ephemeral ports, so benchmarks with
//! more connections spread them over 127.0.0.1, 127.0.0.2, ... Every step has a deadline.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

use crate::error::{BenchError, ConnectError};

/// Connections per source address that `--source-addrs auto` plans for. The kernel picks a
/// connecting socket's port by probing the ephemeral range (32768-60999) for one whose
/// 4-tuple is free, so its cost grows with the ports in use: at 18,000 clients on one address,
/// reconnecting after a storm (every old port in TIME_WAIT) spent 40 % of the machine's CPU in
/// `__inet_hash_connect`. A few thousand per address keeps the probe short.
pub const CONNECTIONS_PER_SOURCE: usize = 2_000;

/// The source addresses 127.0.0.1 ..= 127.0.0.`count` (count clamped to 1..=254).
pub fn loopback_sources(count: usize) -> Vec<IpAddr> {
    (1..=count.clamp(1, 254))
        .map(|last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last as u8)))
        .collect()
}

/// The sources worker `index` of `workers` uses: a disjoint slice when there are enough,
/// otherwise one address shared round-robin.
pub fn share_of_sources(sources: &[IpAddr], index: usize, workers: usize) -> Vec<IpAddr> {
    if sources.is_empty() {
        return Vec::new();
    }
    let workers = workers.max(1);
    if sources.len() < workers {
        return vec![sources[index % sources.len()]];
    }
    sources
        .iter()
        .enumerate()
        .filter(|(i, _)| i % workers == index % workers)
        .map(|(_, addr)| *addr)
        .collect()
}

/// Opens a TCP connection to `dest` from `source` (port chosen by the kernel).
pub async fn connect(
    source: IpAddr,
    dest: SocketAddr,
    timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let socket = match dest {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|source| ConnectError::Io {
        stage: "socket",
        source,
    })?;
    // Only bind when the source matters: a v6 destination or the default source needs none.
    if source.is_ipv4() == dest.is_ipv4() && source != IpAddr::V4(Ipv4Addr::LOCALHOST) {
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(|source| ConnectError::Io {
                stage: "bind",
                source,
            })?;
    }
    let stream = tokio::time::timeout(timeout, socket.connect(dest))
        .await
        .map_err(|_| ConnectError::Timeout { stage: "connect" })?
        .map_err(|source| ConnectError::Io {
            stage: "connect",
            source,
        })?;
    // Small frames must go out at once; latency is what is measured.
    stream
        .set_nodelay(true)
        .map_err(|source| ConnectError::Io {
            stage: "connect",
            source,
        })?;
    Ok(stream)
}

/// Checks that something listens at `addr`, with a clear error if not.
pub async fn preflight(addr: SocketAddr, timeout: Duration) -> Result<(), BenchError> {
    let source = IpAddr::V4(Ipv4Addr::LOCALHOST);
    match connect(source, addr, timeout).await {
        Ok(_) => Ok(()),
        Err(err) => Err(err.fatal(source).unwrap_or(BenchError::Unreachable {
            addr,
            why: err.to_string(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_shares() {
        let sources = loopback_sources(4);
        assert_eq!(sources.len(), 4);
        assert_eq!(sources[0].to_string(), "127.0.0.1");
        assert_eq!(sources[3].to_string(), "127.0.0.4");
        assert_eq!(loopback_sources(0).len(), 1);
        assert_eq!(loopback_sources(1000).len(), 254);

        let a = share_of_sources(&sources, 0, 2);
        let b = share_of_sources(&sources, 1, 2);
        assert_eq!(a.len() + b.len(), 4);
        assert!(a.iter().all(|x| !b.contains(x)));
        assert_eq!(share_of_sources(&sources[..1], 3, 4), vec![sources[0]]);
    }

    #[tokio::test]
    async fn refused_is_reported_as_unreachable() {
        // Bind then drop a listener so the port is (almost certainly) closed.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let err = preflight(addr, Duration::from_secs(2))
            .await
            .expect_err("nothing listens");
        assert!(err.to_string().contains("cannot reach"), "{err}");
    }

    #[tokio::test]
    async fn connects_from_another_loopback_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        let (client, accepted) = tokio::join!(
            connect(source, addr, Duration::from_secs(2)),
            listener.accept()
        );
        let client = client.expect("connects");
        let (_, peer) = accepted.expect("accepts");
        assert_eq!(client.local_addr().expect("local").ip(), source);
        assert_eq!(peer.ip(), source);
    }
}
