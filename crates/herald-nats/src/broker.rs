//! [`Broker`] for [`NatsBroker`]: at-most-once PUB/SUB, no history.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use herald_engine::{
    Broker, BrokerEventHandler, ClientInfo, EngineError, HistoryOptions, HistoryResult,
    Publication, PublishOptions, PublishResult,
};

use crate::codec;
use crate::connect::NatsBroker;

/// What history calls fail with.
const NO_HISTORY: EngineError = EngineError::NotSupported { what: "history" };

#[async_trait]
impl Broker for NatsBroker {
    async fn run(&self, handler: Arc<dyn BrokerEventHandler>) -> Result<(), EngineError> {
        self.delivery.set_handler(handler);
        Ok(())
    }

    /// Subscribes this node to `{prefix}.client.{channel}` and returns once the server
    /// confirmed, so everything published afterwards is delivered. Fails with `Unavailable`
    /// while the connection is down or being restored (the caller may retry), and with
    /// `NotSupported` for a channel name that is no NATS subject.
    async fn subscribe(&self, channel: &str) -> Result<(), EngineError> {
        self.delivery.running()?;
        let subject = self.subjects.client(channel)?;
        if !self.link.is_healthy() {
            return Err(EngineError::Unavailable {
                reason: "nats connection is down".to_owned(),
            });
        }
        let created = self
            .subscriptions
            .subscribe(
                &self.client,
                channel,
                subject,
                &self.delivery,
                self.command_timeout,
            )
            .await?;
        if let Err(error) = self.link.probe(&self.client, self.command_timeout).await {
            if created {
                self.subscriptions.unsubscribe(channel).await;
            }
            return Err(error);
        }
        Ok(())
    }

    async fn unsubscribe(&self, channel: &str) -> Result<(), EngineError> {
        self.subscriptions.unsubscribe(channel).await;
        Ok(())
    }

    /// Publishes to `{prefix}.client.{channel}`, at most once. NATS keeps no stream, so history
    /// options are ignored (the publication is still published, with offset 0) and the result
    /// is always an empty position, as with Centrifugo's NATS broker. Idempotency keys are
    /// ignored too: every call publishes.
    async fn publish(
        &self,
        channel: &str,
        publication: Publication,
        _opts: &PublishOptions,
    ) -> Result<PublishResult, EngineError> {
        self.delivery.running()?;
        let subject = self.subjects.client(channel)?;
        self.send(subject, codec::encode_publication(&publication))
            .await?;
        Ok(PublishResult::default())
    }

    async fn publish_join(&self, channel: &str, info: &ClientInfo) -> Result<(), EngineError> {
        self.delivery.running()?;
        let subject = self.subjects.client(channel)?;
        self.send(subject, codec::encode_join(info)).await
    }

    async fn publish_leave(&self, channel: &str, info: &ClientInfo) -> Result<(), EngineError> {
        self.delivery.running()?;
        let subject = self.subjects.client(channel)?;
        self.send(subject, codec::encode_leave(info)).await
    }

    /// Always `NotSupported { what: "history" }` (protocol error 108).
    async fn history(
        &self,
        _channel: &str,
        _opts: &HistoryOptions,
    ) -> Result<HistoryResult, EngineError> {
        Err(NO_HISTORY)
    }

    /// Always `NotSupported { what: "history" }` (protocol error 108).
    async fn remove_history(&self, _channel: &str) -> Result<(), EngineError> {
        Err(NO_HISTORY)
    }

    /// Publishes `data` to `{prefix}.control`, to which every node is subscribed.
    async fn publish_control(&self, data: Bytes) -> Result<(), EngineError> {
        self.delivery.running()?;
        self.send(self.subjects.control().to_owned(), data).await
    }

    fn is_healthy(&self) -> bool {
        NatsBroker::is_healthy(self)
    }

    /// Asks the client to drop its connection and reconnect; the link then confirms the
    /// resubscriptions with its own probe and reports the gap, as after any reconnect.
    fn reconnect(&self) {
        let client = self.client.clone();
        tokio::spawn(async move {
            if let Err(error) = client.force_reconnect().await {
                tracing::warn!(%error, "nats forced reconnect not started");
            }
        });
    }
}
