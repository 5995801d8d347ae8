//! The HTTP proxy: one JSON POST per call to the configured endpoint (Centrifugo v6 uses the
//! endpoint as written for every kind of call).
//!
//! Only status 200 carries an answer. Another status is what `status_to_code_transforms`
//! makes of it (a client error or a disconnect) or, unlisted, a bad response.

use bytes::BytesMut;
use herald_grpc::proxy as pb;
use herald_hub::{ProxyContext, ProxyError};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;

use super::json::{self, Request, Response};
use super::{Answer, Answered, Backend, ProxySettings, StatusReply, forwarded_headers};

/// Largest response body read from a backend; a longer one is a bad response.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug)]
pub(super) struct HttpBackend {
    settings: ProxySettings,
    url: reqwest::Url,
    client: reqwest::Client,
}

impl HttpBackend {
    pub(super) fn new(settings: ProxySettings, url: reqwest::Url, client: reqwest::Client) -> Self {
        Self {
            settings,
            url,
            client,
        }
    }

    /// POSTs `body` and reads the answer, all within the proxy's timeout.
    async fn call<J, P>(&self, context: &ProxyContext, body: Vec<u8>) -> Answered<P>
    where
        J: DeserializeOwned + Default + Into<P>,
    {
        let exchange = async {
            let response = self
                .client
                .post(self.url.clone())
                .headers(self.headers(context))
                .body(body)
                .send()
                .await
                .map_err(request_error)?;
            let status = response.status();
            if status != reqwest::StatusCode::OK {
                return self.transform(status.as_u16());
            }
            let body = read_body(response).await?;
            let parsed: Response<J> = serde_json::from_slice(&body)
                .map_err(|e| ProxyError::BadResponse(format!("invalid JSON: {e}")))?;
            Ok(parsed.into_answer())
        };
        tokio::time::timeout(self.settings.timeout, exchange)
            .await
            .unwrap_or(Err(ProxyError::Timeout))
    }

    fn headers(&self, context: &ProxyContext) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, values) in forwarded_headers(&self.settings, context) {
            let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                continue;
            };
            for value in values {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.append(name.clone(), value);
                }
            }
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // The call's span, when traced, replacing a forwarded client `traceparent` (the span
        // is that one's child).
        for (name, value) in crate::telemetry::trace_headers() {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        headers
    }

    fn transform<P>(&self, status: u16) -> Answered<P> {
        let transform = self
            .settings
            .status_transforms
            .iter()
            .find(|t| t.status == status);
        match transform.map(|t| &t.to) {
            Some(StatusReply::Error(e)) => Ok(Answer::Error(pb::Error {
                code: e.code,
                message: e.message.clone(),
                temporary: e.temporary,
            })),
            Some(StatusReply::Disconnect(d)) => Ok(Answer::Disconnect(pb::Disconnect {
                code: u32::from(d.code),
                reason: d.reason.clone(),
            })),
            None => Err(ProxyError::BadResponse(format!(
                "unexpected HTTP status {status}"
            ))),
        }
    }
}

impl Backend for HttpBackend {
    fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    /// JSON travels as it is unless `binary_encoding` is on; anything else (a Protobuf
    /// connection's binary payload) as `b64data`, where Centrifugo would fail to marshal it.
    fn base64(&self, data: &[u8]) -> bool {
        self.settings.binary_encoding || (!data.is_empty() && !json::is_json(data))
    }

    async fn connect(
        &self,
        context: &ProxyContext,
        request: pb::ConnectRequest,
    ) -> Answered<pb::ConnectResult> {
        let body = json::encode(&Request::connect(&request));
        self.call::<json::ConnectResult, _>(context, body).await
    }

    async fn refresh(
        &self,
        context: &ProxyContext,
        request: pb::RefreshRequest,
    ) -> Answered<pb::RefreshResult> {
        let body = json::encode(&Request::refresh(&request));
        self.call::<json::RefreshResult, _>(context, body).await
    }

    async fn subscribe(
        &self,
        context: &ProxyContext,
        request: pb::SubscribeRequest,
    ) -> Answered<pb::SubscribeResult> {
        let body = json::encode(&Request::subscribe(&request));
        self.call::<json::SubscribeResult, _>(context, body).await
    }

    async fn publish(
        &self,
        context: &ProxyContext,
        request: pb::PublishRequest,
    ) -> Answered<pb::PublishResult> {
        let body = json::encode(&Request::publish(&request));
        self.call::<json::PublishResult, _>(context, body).await
    }

    async fn sub_refresh(
        &self,
        context: &ProxyContext,
        request: pb::SubRefreshRequest,
    ) -> Answered<pb::SubRefreshResult> {
        let body = json::encode(&Request::sub_refresh(&request));
        self.call::<json::SubRefreshResult, _>(context, body).await
    }

    async fn rpc(
        &self,
        context: &ProxyContext,
        request: pb::RpcRequest,
    ) -> Answered<pb::RpcResult> {
        let body = json::encode(&Request::rpc(&request));
        self.call::<json::RpcResult, _>(context, body).await
    }
}

fn request_error(error: reqwest::Error) -> ProxyError {
    if error.is_timeout() {
        ProxyError::Timeout
    } else if error.is_body() || error.is_decode() {
        ProxyError::BadResponse(error.to_string())
    } else {
        // Connection refused or reset, DNS, TLS: the backend was not reached. The source
        // chain says which.
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        ProxyError::Unreachable(message)
    }
}

/// The body, up to [`MAX_RESPONSE_BYTES`].
async fn read_body(mut response: reqwest::Response) -> Result<BytesMut, ProxyError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(request_error)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(ProxyError::BadResponse(format!(
                "response body over {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
