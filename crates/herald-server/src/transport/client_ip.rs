//! The client IP the per-IP connection limits count (`client.ip_connection_limit`,
//! `client.ip_connection_rate_limit`): the peer address, or, when `client.ip_header` names a
//! header a trusted proxy sets, the last comma-separated address in it (the one that proxy
//! appended to `X-Forwarded-For`; the only one in `X-Real-IP`). A missing or unparsable
//! header falls back to the peer address, so a client cannot dodge the limit by sending junk.

use std::net::{IpAddr, SocketAddr};

use herald_hub::Hub;
use http::HeaderMap;

/// The IP of the client that sent `headers` from `remote`.
pub(crate) fn client_ip(hub: &Hub, headers: &HeaderMap, remote: SocketAddr) -> IpAddr {
    let from_header = hub
        .client_ip_header()
        .and_then(|name| headers.get(name))
        .and_then(|value| value.to_str().ok())
        .and_then(last_address);
    from_header.unwrap_or_else(|| remote.ip()).to_canonical()
}

/// The last comma-separated address of a header value (`ip` or `ip:port`, IPv6 bracketed).
pub(crate) fn last_address(value: &str) -> Option<IpAddr> {
    let last = value.rsplit(',').next()?.trim();
    last.parse::<IpAddr>()
        .ok()
        .or_else(|| last.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_address_is_the_proxys() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("an address");
        assert_eq!(last_address("203.0.113.7"), Some(ip("203.0.113.7")));
        assert_eq!(
            last_address("10.9.9.9, 198.51.100.2 , 203.0.113.7"),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(last_address("203.0.113.7:5555"), Some(ip("203.0.113.7")));
        assert_eq!(last_address("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        assert_eq!(last_address("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(last_address("203.0.113.7, unknown"), None);
        assert_eq!(last_address(""), None);
    }
}
