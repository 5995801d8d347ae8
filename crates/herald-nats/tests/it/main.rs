//! Integration tests of herald-nats against real `nats-server` processes that the tests start
//! themselves on free ports (never the system NATS on 4222): the broker conformance suite
//! without its history cases, plus what only a networked broker has (several nodes, the control
//! plane, a restarted server, foreign messages, slow consumers).

mod broker;
mod conformance;
mod server;

use herald_nats::{NatsBroker, NatsOptions};

/// Prefix of every subject the tests use.
const PREFIX: &str = "herald-it";

/// Options for a broker on `server`.
fn options(server: &server::NatsServer) -> NatsOptions {
    NatsOptions {
        url: server.url(),
        prefix: PREFIX.to_owned(),
        ..NatsOptions::default()
    }
}

/// A fresh broker on the binary's shared server.
async fn broker() -> NatsBroker {
    NatsBroker::connect(options(server::shared()))
        .await
        .expect("connect to the test nats-server")
}
