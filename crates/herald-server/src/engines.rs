//! Connecting the configured backends: the broker (publications, history, control plane) and
//! the presence manager, each the memory engine, Redis or (brokers only) NATS.

use std::sync::Arc;

use anyhow::Context;
use herald_engine::memory::MemoryEngine;
use herald_engine::{Broker, LifecycleStore, PresenceManager};
use herald_nats::NatsBroker;
use herald_redis::{RedisEngine, RedisOptions};

use crate::config::{BackendSettings, EngineSettings};

/// The connected backends.
pub struct Backends {
    /// Moves publications between nodes and keeps history.
    pub broker: Arc<dyn Broker>,
    /// Keeps presence.
    pub presence: Arc<dyn PresenceManager>,
    /// Keeps occupancy and held presence for lifecycle events (webhooks): the presence
    /// manager's backend, so every node that shares presence shares it.
    pub lifecycle: Arc<dyn LifecycleStore>,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends").finish_non_exhaustive()
    }
}

/// Connects what `settings` asks for. When broker and presence are the same backend (the
/// `engine` case), one instance serves both.
pub async fn connect(settings: EngineSettings) -> anyhow::Result<Backends> {
    match (settings.broker, settings.presence) {
        (BackendSettings::Memory, BackendSettings::Memory) => {
            let engine = Arc::new(MemoryEngine::new());
            Ok(Backends {
                broker: engine.clone(),
                presence: engine.clone(),
                lifecycle: engine,
            })
        }
        (BackendSettings::Redis(broker), BackendSettings::Redis(presence))
            if broker == presence =>
        {
            let engine = Arc::new(redis(broker).await?);
            Ok(Backends {
                broker: engine.clone(),
                presence: engine.clone(),
                lifecycle: engine,
            })
        }
        (broker, presence) => {
            let broker: Arc<dyn Broker> = match broker {
                BackendSettings::Memory => Arc::new(MemoryEngine::new()),
                BackendSettings::Redis(options) => Arc::new(redis(options).await?),
                BackendSettings::Nats(options) => {
                    let url = options.url.clone();
                    let broker = NatsBroker::connect(options)
                        .await
                        .map_err(|err| anyhow::anyhow!("{err}"))
                        .with_context(|| format!("cannot use the NATS broker at {url}"))?;
                    tracing::info!(%url, "using the NATS broker (at most once, no history)");
                    Arc::new(broker)
                }
            };
            let (presence, lifecycle): (Arc<dyn PresenceManager>, Arc<dyn LifecycleStore>) =
                match presence {
                    BackendSettings::Redis(options) => {
                        let engine = Arc::new(redis(options).await?);
                        (engine.clone(), engine)
                    }
                    BackendSettings::Memory | BackendSettings::Nats(_) => {
                        let engine = Arc::new(MemoryEngine::new());
                        (engine.clone(), engine)
                    }
                };
            Ok(Backends {
                broker,
                presence,
                lifecycle,
            })
        }
    }
}

async fn redis(options: RedisOptions) -> anyhow::Result<RedisEngine> {
    let addresses = match &options.sentinel {
        Some(sentinel) => format!("sentinels {}", sentinel.addresses.join(" ")),
        None => options.addresses.join(" "),
    };
    let engine = RedisEngine::connect(options)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))
        .with_context(|| format!("cannot use Redis at {addresses}"))?;
    tracing::info!(%addresses, "using Redis");
    Ok(engine)
}
