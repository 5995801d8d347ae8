//! Session-level tests of the hub: the protocol state machine driven directly (no sockets),
//! with the memory engine and paused time for pings, expiry and stale connections.

mod support;

mod connect;
mod delta;
mod gaps;
mod lifecycle;
mod limits;
mod permissions;
mod probe;
mod proxy;
mod recovery;
mod survey;
mod timers;
mod transports;
mod verbatim;
mod watch;
