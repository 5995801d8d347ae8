//! Integration tests of herald-engine: the engine conformance suite run against the memory
//! engine, one test per case.

mod memory_conformance {
    //! The memory engine reads tokio's clock, so its TTL cases run with time paused.

    mod broker {
        herald_engine::broker_conformance_tests!(
            time = paused,
            broker = async { std::sync::Arc::new(herald_engine::memory::MemoryEngine::new()) },
        );
    }

    mod presence {
        herald_engine::presence_conformance_tests!(
            time = paused,
            presence = async { std::sync::Arc::new(herald_engine::memory::MemoryEngine::new()) },
        );
    }

    mod lifecycle {
        herald_engine::lifecycle_conformance_tests!(
            time = paused,
            store = async { std::sync::Arc::new(herald_engine::memory::MemoryEngine::new()) },
        );
    }
}
