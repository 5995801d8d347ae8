//! [`NatsBroker`]: its connection and background tasks. The [`Broker`](herald_engine::Broker)
//! implementation lives in `broker.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State as ConnectionState;
use async_nats::{Client, ConnectOptions, Subscriber, client::PublishErrorKind};
use bytes::Bytes;
use futures_util::StreamExt;
use herald_engine::EngineError;
use rand::distr::{Alphanumeric, SampleString};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::delivery::Delivery;
use crate::link::Link;
use crate::options::{NatsOptions, reconnect_delay, shown};
use crate::subjects::{Subjects, UNSUPPORTED_CHANNEL};
use crate::subscriptions::Subscriptions;

/// Length of the random id naming this broker's probe subject.
const BROKER_ID_LEN: usize = 16;

/// The NATS broker: implements [`Broker`](herald_engine::Broker) with at-most-once PUB/SUB and
/// no history, like Centrifugo's NATS broker. Share it as `Arc<NatsBroker>`; dropping it stops
/// its background tasks and closes the connection.
pub struct NatsBroker {
    pub(crate) client: Client,
    pub(crate) subjects: Subjects,
    pub(crate) delivery: Arc<Delivery>,
    pub(crate) link: Arc<Link>,
    pub(crate) subscriptions: Subscriptions,
    pub(crate) command_timeout: Duration,
    /// The connection monitor and the readers of the control and probe subjects.
    tasks: Vec<JoinHandle<()>>,
    /// The configured URL without passwords, for `Debug`.
    url: String,
}

impl NatsBroker {
    /// Connects to NATS and subscribes the control subject. Fails with
    /// [`EngineError::Unavailable`] if the options are invalid (no URL, a prefix that is no
    /// subject, a zero timeout) or the server cannot be reached; once connected, the broker
    /// reconnects by itself.
    ///
    /// Must be called within a tokio runtime, which runs the broker's reader tasks.
    pub async fn connect(options: NatsOptions) -> Result<Self, EngineError> {
        let addresses = options.server_addresses()?;
        let url = shown(&options.url);
        let broker_id = Alphanumeric.sample_string(&mut rand::rng(), BROKER_ID_LEN);
        let subjects = Subjects::new(&options.prefix, &broker_id);
        let delivery = Arc::new(Delivery::default());
        let link = Arc::new(Link::new(
            Arc::clone(&delivery),
            subjects.probe().to_owned(),
        ));
        let events = Arc::clone(&link);
        let max_delay = options.reconnect_max_delay;
        let mut connect = ConnectOptions::new();
        if let Some(tls) = &options.tls {
            let config = tls.client_config().map_err(|e| EngineError::Unavailable {
                reason: format!("invalid nats options: tls: {e}"),
            })?;
            connect = connect.require_tls(true).tls_client_config(config);
        }
        let client = connect
            .name("herald")
            .connection_timeout(options.connect_timeout)
            .ping_interval(options.ping_interval)
            .subscription_capacity(options.subscription_capacity)
            .client_capacity(options.command_capacity)
            .reconnect_delay_callback(move |attempt| reconnect_delay(attempt, max_delay))
            .event_callback(move |event| {
                events.on_event(event);
                std::future::ready(())
            })
            .connect(addresses)
            .await
            .map_err(|e| EngineError::Unavailable {
                reason: format!("connect to nats {url}: {e}"),
            })?;

        let mut broker = Self {
            client,
            subjects,
            delivery,
            link,
            subscriptions: Subscriptions::default(),
            command_timeout: options.command_timeout,
            tasks: Vec::new(),
            url,
        };
        let control = broker.subscribe_internal(broker.subjects.control()).await?;
        let probe = broker.subscribe_internal(broker.subjects.probe()).await?;
        let delivery = Arc::clone(&broker.delivery);
        broker
            .tasks
            .push(tokio::spawn(read_control(control, delivery)));
        let link = Arc::clone(&broker.link);
        broker.tasks.push(tokio::spawn(read_probes(probe, link)));
        let monitor =
            Arc::clone(&broker.link).monitor(broker.client.clone(), broker.command_timeout);
        broker.tasks.push(tokio::spawn(monitor));
        // Both subscriptions are live once a probe comes back.
        broker
            .link
            .probe(&broker.client, broker.command_timeout)
            .await?;
        tracing::info!(url = %broker.url, "nats broker connected");
        Ok(broker)
    }

    /// Whether the connection is up with every subscription confirmed. False from a lost
    /// connection until the client has reconnected and the server confirmed the subscriptions
    /// again: publications made meanwhile do not reach this node.
    pub fn is_healthy(&self) -> bool {
        self.link.is_healthy()
    }

    /// How many channel messages were skipped because they could not be decoded (written by
    /// something other than a Herald node, or corrupted).
    pub fn undecodable_messages(&self) -> u64 {
        self.delivery.undecodable()
    }

    /// How many slow-consumer events the NATS client reported: about one per message it dropped
    /// because a channel's queue was full (a lower bound, as the client's event queue is
    /// bounded too).
    pub fn slow_consumer_events(&self) -> u64 {
        self.delivery.slow_consumer_events()
    }

    /// Publishes `payload` to `subject`, failing fast while the connection is down (as
    /// Centrifugo's NATS broker, which disables the reconnect buffer). Once handed to the
    /// client it is sent at most once.
    pub(crate) async fn send(&self, subject: String, payload: Bytes) -> Result<(), EngineError> {
        if self.client.connection_state() != ConnectionState::Connected {
            return Err(EngineError::Unavailable {
                reason: "nats connection is down".to_owned(),
            });
        }
        match timeout(self.command_timeout, self.client.publish(subject, payload)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => match error.kind() {
                PublishErrorKind::MaxPayloadExceeded => {
                    tracing::debug!(%error, "nats publish refused");
                    Err(EngineError::NotSupported {
                        what: "a message larger than the NATS server's max_payload",
                    })
                }
                PublishErrorKind::InvalidSubject => Err(EngineError::NotSupported {
                    what: UNSUPPORTED_CHANNEL,
                }),
                PublishErrorKind::Send => Err(EngineError::Unavailable {
                    reason: format!("nats publish: {error}"),
                }),
            },
            Err(_) => Err(EngineError::Unavailable {
                reason: "nats publish: client queue full".to_owned(),
            }),
        }
    }

    async fn subscribe_internal(&self, subject: &str) -> Result<Subscriber, EngineError> {
        match timeout(
            self.command_timeout,
            self.client.subscribe(subject.to_owned()),
        )
        .await
        {
            Ok(Ok(subscriber)) => Ok(subscriber),
            Ok(Err(error)) => Err(EngineError::Unavailable {
                reason: format!("nats subscribe {subject}: {error}"),
            }),
            Err(_) => Err(EngineError::Unavailable {
                reason: format!("nats subscribe {subject}: client queue full"),
            }),
        }
    }
}

impl Drop for NatsBroker {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.subscriptions.abort_all();
    }
}

impl fmt::Debug for NatsBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsBroker")
            .field("url", &self.url)
            .field("subjects", &self.subjects)
            .field("healthy", &self.is_healthy())
            .field("running", &self.delivery.running().is_ok())
            .finish_non_exhaustive()
    }
}

/// Delivers `{prefix}.control` messages until the client closes.
async fn read_control(mut subscriber: Subscriber, delivery: Arc<Delivery>) {
    while let Some(message) = subscriber.next().await {
        delivery.control(&message.payload);
    }
}

/// Answers probes until the client closes.
async fn read_probes(mut subscriber: Subscriber, link: Arc<Link>) {
    while let Some(message) = subscriber.next().await {
        link.answer(&message.payload);
    }
}
