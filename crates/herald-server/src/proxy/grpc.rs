//! The gRPC proxy: unary calls of `centrifugal.centrifugo.proxy.CentrifugoProxy` over
//! plain-text HTTP/2 (`grpc://host:port`).
//!
//! Payloads travel as `bytes` as they are (`b64data` only with `binary_encoding`). Forwarded
//! headers become metadata (lower-case), after `grpc.static_metadata`; the
//! `grpc.credentials_key` credential goes last. The channel connects on the first call and
//! reconnects by itself, so a backend that is down at start-up does not stop the server.

use std::future::Future;
use std::sync::OnceLock;

use herald_grpc::proxy as pb;
use herald_grpc::proxy::centrifugo_proxy_client::CentrifugoProxyClient;
use herald_hub::{ProxyContext, ProxyError};
use tonic::Code;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
use tonic::transport::{Channel, Endpoint};

use super::{Answer, Answered, Backend, Opened, ProxySettings, forwarded_headers};

#[derive(Debug)]
pub(super) struct GrpcBackend {
    settings: ProxySettings,
    /// `http://host:port`.
    uri: String,
    /// Made on the first call: a tonic channel needs a running runtime, which configuration
    /// validation (`herald checkconfig`) does not have.
    client: OnceLock<Result<CentrifugoProxyClient<Channel>, String>>,
}

impl GrpcBackend {
    pub(super) fn new(settings: ProxySettings, authority: String) -> Self {
        Self {
            settings,
            uri: format!("http://{authority}"),
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<CentrifugoProxyClient<Channel>, ProxyError> {
        self.client
            .get_or_init(|| {
                Endpoint::from_shared(self.uri.clone())
                    .map(|endpoint| CentrifugoProxyClient::new(endpoint.connect_lazy()))
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(ProxyError::Unreachable)
    }

    /// `message` with the forwarded metadata and the timeout.
    fn request<T>(&self, context: &ProxyContext, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let metadata = request.metadata_mut();
        for (name, values) in forwarded_headers(&self.settings, context) {
            let Ok(key) = name.parse::<AsciiMetadataKey>() else {
                continue;
            };
            metadata.remove(&key);
            for value in values {
                if let Ok(value) = value.parse::<AsciiMetadataValue>() {
                    metadata.append(key.clone(), value);
                }
            }
        }
        if let Some((key, value)) = &self.settings.credentials
            && let (Ok(key), Ok(value)) = (
                key.parse::<AsciiMetadataKey>(),
                value.parse::<AsciiMetadataValue>(),
            )
        {
            metadata.insert(key, value);
        }
        // The call's span, when traced (see the HTTP proxy).
        for (name, value) in crate::telemetry::trace_headers() {
            if let Ok(value) = value.parse::<AsciiMetadataValue>() {
                metadata.insert(name, value);
            }
        }
        request.set_timeout(self.settings.timeout);
        request
    }

    /// Runs one call within the proxy's timeout.
    async fn call<R, F>(&self, call: F) -> Result<R, ProxyError>
    where
        F: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        match tokio::time::timeout(self.settings.timeout, call).await {
            Err(_) => Err(ProxyError::Timeout),
            Ok(Err(status)) => Err(status_error(&status)),
            Ok(Ok(response)) => Ok(response.into_inner()),
        }
    }
}

/// Centrifugo reads a disconnect first, then an error, then the result.
macro_rules! answer {
    ($response:expr) => {{
        let response = $response;
        if let Some(disconnect) = response.disconnect {
            Answer::Disconnect(disconnect)
        } else if let Some(error) = response.error {
            Answer::Error(error)
        } else {
            Answer::Result(response.result)
        }
    }};
}

impl Backend for GrpcBackend {
    fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    fn base64(&self, _data: &[u8]) -> bool {
        self.settings.binary_encoding
    }

    async fn connect(
        &self,
        context: &ProxyContext,
        request: pb::ConnectRequest,
    ) -> Answered<pb::ConnectResult> {
        let mut client = self.client()?;
        let request = self.request(context, request);
        Ok(answer!(self.call(client.connect(request)).await?))
    }

    async fn refresh(
        &self,
        context: &ProxyContext,
        request: pb::RefreshRequest,
    ) -> Answered<pb::RefreshResult> {
        let mut client = self.client()?;
        let request = self.request(context, request);
        Ok(answer!(self.call(client.refresh(request)).await?))
    }

    async fn subscribe(
        &self,
        context: &ProxyContext,
        request: pb::SubscribeRequest,
    ) -> Answered<pb::SubscribeResult> {
        let mut client = self.client()?;
        let request = self.request(context, request);
        Ok(answer!(self.call(client.subscribe(request)).await?))
    }

    async fn publish(
        &self,
        context: &ProxyContext,
        request: pb::PublishRequest,
    ) -> Answered<pb::PublishResult> {
        let mut client = self.client()?;
        let request = self.request(context, request);
        Ok(answer!(self.call(client.publish(request)).await?))
    }

    async fn sub_refresh(
        &self,
        context: &ProxyContext,
        request: pb::SubRefreshRequest,
    ) -> Answered<pb::SubRefreshResult> {
        let mut client = self.client()?;
        let request = self.request(context, request);
        Ok(answer!(self.call(client.sub_refresh(request)).await?))
    }

    async fn rpc(
        &self,
        context: &ProxyContext,
        request: pb::RpcRequest,
    ) -> Answered<pb::RpcResult> {
        let mut client = self.client()?;
        let request = self.request(context, request);
        Ok(answer!(self.call(client.rpc(request)).await?))
    }

    /// `SubscribeUnidirectional`: the first message (within the timeout) must carry the
    /// subscribe answer, as Centrifugo requires; the publications after it go through a
    /// bounded channel, read by a task that ends with the stream or when the subscriber drops
    /// the receiver (which drops the call and so cancels it on the backend).
    async fn subscribe_stream(
        &self,
        context: &ProxyContext,
        request: pb::SubscribeRequest,
    ) -> Result<Opened, ProxyError> {
        let mut client = self.client()?;
        let mut request = self.request(context, request);
        // The timeout bounds the first message only; the stream lives as long as the
        // subscription.
        request.metadata_mut().remove("grpc-timeout");
        let opened = tokio::time::timeout(self.settings.timeout, async {
            let mut stream = client.subscribe_unidirectional(request).await?.into_inner();
            let first = stream.message().await?;
            Ok::<_, tonic::Status>((stream, first))
        })
        .await;
        let (mut stream, first) = match opened {
            Err(_) => return Err(ProxyError::Timeout),
            Ok(Err(status)) => return Err(status_error(&status)),
            Ok(Ok(opened)) => opened,
        };
        let Some(response) = first.and_then(|message| message.subscribe_response) else {
            return Err(ProxyError::BadResponse(
                "no subscribe response in the stream's first message".to_owned(),
            ));
        };
        let answer = answer!(response);
        if !matches!(answer, Answer::Result(_)) {
            return Ok((answer, None));
        }
        let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_BUFFER);
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    () = sender.closed() => return,
                    message = stream.message() => match message {
                        Ok(Some(message)) => match message.publication {
                            Some(publication) => Ok(bytes::Bytes::from(publication.data)),
                            None => continue,
                        },
                        Ok(None) => return,
                        Err(status) => Err(status_error(&status)),
                    },
                };
                let failed = item.is_err();
                if sender.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok((answer, Some(receiver)))
    }
}

/// Publications of one subscription stream read ahead of the subscriber; a full buffer holds
/// the backend's stream back (HTTP/2 flow control does the rest).
const STREAM_BUFFER: usize = 64;

fn status_error(status: &tonic::Status) -> ProxyError {
    let message = format!("{}: {}", status.code(), status.message());
    match status.code() {
        Code::Unavailable => ProxyError::Unreachable(message),
        Code::DeadlineExceeded => ProxyError::Timeout,
        // The channel's own deadline (from `set_timeout`) ends a call as CANCELLED.
        Code::Cancelled if timed_out(status) => ProxyError::Timeout,
        _ => ProxyError::BadResponse(message),
    }
}

fn timed_out(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<tonic::TimeoutExpired>() {
            return true;
        }
        source = error.source();
    }
    false
}
