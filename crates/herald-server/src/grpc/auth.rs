//! The API key of `grpc_api.key`, checked as Centrifugo's `GRPCKeyAuth` interceptor does: the
//! first `authorization` metadata value must be exactly `apikey <key>` (compared in constant
//! time), else the call fails with `UNAUTHENTICATED` before its request is looked at. Then
//! `grpc_api.rate_limit` (Herald's): past it, `RESOURCE_EXHAUSTED`.

use std::sync::Arc;

use herald_hub::{Hub, RequestRateLimit};
use tonic::{Request, Status};

use crate::api::auth::constant_time_eq;

/// Checks every call of the service it wraps; with no key configured, lets everything pass.
#[derive(Clone)]
pub(crate) struct KeyCheck {
    /// `apikey <key>`, or `None` when `grpc_api.key` is empty.
    expected: Option<Box<str>>,
    /// `grpc_api.rate_limit`, with the node that counts its refusals.
    rate_limit: Option<(Arc<RequestRateLimit>, Hub)>,
}

impl std::fmt::Debug for KeyCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("KeyCheck")
            .field("enabled", &self.expected.is_some())
            .finish()
    }
}

impl KeyCheck {
    pub(crate) fn new(key: &str) -> Self {
        Self {
            expected: (!key.is_empty()).then(|| format!("apikey {key}").into_boxed_str()),
            rate_limit: None,
        }
    }

    /// Also limits calls with the key to `per_second` (0: no limit), counted on `hub`.
    pub(crate) fn with_rate_limit(mut self, hub: Hub, per_second: u32) -> Self {
        self.rate_limit = RequestRateLimit::per_second(per_second).map(|l| (Arc::new(l), hub));
        self
    }

    /// Whether the rate limit lets one more call through.
    fn within_rate(&self) -> bool {
        let Some((limit, hub)) = &self.rate_limit else {
            return true;
        };
        let within = limit.try_acquire();
        if !within {
            hub.limit_counters().api_rate_limited();
            tracing::debug!("gRPC API call refused: grpc_api.rate_limit");
        }
        within
    }
}

impl tonic::service::Interceptor for KeyCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(expected) = &self.expected {
            let given = request
                .metadata()
                .get("authorization")
                .map(|value| value.as_bytes());
            if !given.is_some_and(|given| constant_time_eq(given, expected.as_bytes())) {
                tracing::debug!("gRPC API call refused: bad or missing key");
                return Err(Status::unauthenticated("unauthenticated"));
            }
        }
        // After the key: a caller without it cannot spend the backend's calls.
        if !self.within_rate() {
            return Err(Status::resource_exhausted("too many requests"));
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use tonic::service::Interceptor as _;

    use super::*;

    fn call(check: &mut KeyCheck, authorization: Option<&'static str>) -> Result<(), tonic::Code> {
        let mut request = Request::new(());
        if let Some(value) = authorization {
            request
                .metadata_mut()
                .insert("authorization", value.parse().expect("ascii"));
        }
        check
            .call(request)
            .map(drop)
            .map_err(|status| status.code())
    }

    #[test]
    fn key_must_match_exactly() {
        let mut check = KeyCheck::new("secret");
        assert_eq!(call(&mut check, Some("apikey secret")), Ok(()));
        let refused = Err(tonic::Code::Unauthenticated);
        assert_eq!(call(&mut check, None), refused);
        assert_eq!(call(&mut check, Some("apikey other")), refused);
        // Centrifugo compares the whole value: no other case or spacing.
        assert_eq!(call(&mut check, Some("APIKEY secret")), refused);
        assert_eq!(call(&mut check, Some("secret")), refused);
    }

    #[test]
    fn no_key_means_no_check() {
        let mut check = KeyCheck::new("");
        assert_eq!(call(&mut check, None), Ok(()));
        assert!(!format!("{check:?}").contains("apikey"));
    }
}
