//! The engine conformance suite, one test per case, on the shared server and again on the
//! shared Redis Cluster. Redis keeps its own
//! clock, so the TTL cases run in real time.

mod broker {
    herald_engine::broker_conformance_tests!(
        time = real,
        broker = async { std::sync::Arc::new(crate::engine().await) },
    );
}

mod presence {
    herald_engine::presence_conformance_tests!(
        time = real,
        presence = async { std::sync::Arc::new(crate::engine().await) },
    );
}

mod cluster_broker {
    herald_engine::broker_conformance_tests!(
        time = real,
        broker = async { std::sync::Arc::new(crate::cluster::engine().await) },
    );
}

mod cluster_presence {
    herald_engine::presence_conformance_tests!(
        time = real,
        presence = async { std::sync::Arc::new(crate::cluster::engine().await) },
    );
}

mod lifecycle {
    herald_engine::lifecycle_conformance_tests!(
        time = real,
        store = async { std::sync::Arc::new(crate::engine().await) },
    );
}

mod cluster_lifecycle {
    herald_engine::lifecycle_conformance_tests!(
        time = real,
        store = async { std::sync::Arc::new(crate::cluster::engine().await) },
    );
}
