//! Times the engine calls `broker_duration_seconds` reports. The hub wraps its broker in this
//! only when metrics are on, so a node without them pays nothing, not even the indirection.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use herald_engine::{
    Broker, BrokerEventHandler, ClientInfo, EngineError, HistoryOptions, HistoryResult,
    Publication, PublishOptions, PublishResult,
};

use super::{BrokerOp, Metrics};

/// A broker whose `publish` and `history` calls are timed into [`Metrics::broker_duration`].
pub(crate) struct TimedBroker {
    inner: Arc<dyn Broker>,
    metrics: &'static Metrics,
}

impl TimedBroker {
    pub(crate) fn new(inner: Arc<dyn Broker>, metrics: &'static Metrics) -> Self {
        Self { inner, metrics }
    }

    fn observe(&self, op: BrokerOp, started: Instant) {
        self.metrics.broker_duration[op.index()].observe(started.elapsed());
    }
}

#[async_trait]
impl Broker for TimedBroker {
    async fn run(&self, handler: Arc<dyn BrokerEventHandler>) -> Result<(), EngineError> {
        self.inner.run(handler).await
    }

    async fn subscribe(&self, channel: &str) -> Result<(), EngineError> {
        self.inner.subscribe(channel).await
    }

    async fn unsubscribe(&self, channel: &str) -> Result<(), EngineError> {
        self.inner.unsubscribe(channel).await
    }

    async fn publish(
        &self,
        channel: &str,
        publication: Publication,
        opts: &PublishOptions,
    ) -> Result<PublishResult, EngineError> {
        let started = Instant::now();
        let result = self.inner.publish(channel, publication, opts).await;
        self.observe(BrokerOp::Publish, started);
        result
    }

    async fn publish_join(&self, channel: &str, info: &ClientInfo) -> Result<(), EngineError> {
        self.inner.publish_join(channel, info).await
    }

    async fn publish_leave(&self, channel: &str, info: &ClientInfo) -> Result<(), EngineError> {
        self.inner.publish_leave(channel, info).await
    }

    async fn history(
        &self,
        channel: &str,
        opts: &HistoryOptions,
    ) -> Result<HistoryResult, EngineError> {
        let started = Instant::now();
        let result = self.inner.history(channel, opts).await;
        self.observe(BrokerOp::History, started);
        result
    }

    async fn remove_history(&self, channel: &str) -> Result<(), EngineError> {
        self.inner.remove_history(channel).await
    }

    async fn publish_control(&self, data: bytes::Bytes) -> Result<(), EngineError> {
        self.inner.publish_control(data).await
    }

    fn is_healthy(&self) -> bool {
        self.inner.is_healthy()
    }
}
