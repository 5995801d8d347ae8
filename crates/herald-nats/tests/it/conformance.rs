//! The broker conformance suite, one test per case, on the shared server. NATS keeps no history,
//! so the history and idempotency cases are skipped and the at-most-once cases run instead.

mod broker {
    herald_engine::broker_conformance_tests!(
        time = real,
        history = false,
        broker = async { std::sync::Arc::new(crate::broker().await) },
    );
}
