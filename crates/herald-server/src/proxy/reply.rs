//! `proxy.proto` answers into the hub's results, read as Centrifugo's handlers read them.
//!
//! A base64 field wins over its raw neighbour when it is not empty (`b64info` over `info`,
//! `b64data` over `data`), except in a publish result, where `data` wins. A base64 field that
//! does not decode is a bad response (Centrifugo answers it with error 100 too). A missing
//! result means: connect, no credentials (see `Caller::connect`); refresh and sub_refresh,
//! expired; subscribe, publish and rpc, the defaults.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use herald_grpc::proxy as pb;
use herald_hub::{
    ConnectProxyResult, Disconnect, ProxyClientError, ProxyError, ProxyReply, PublishProxyResult,
    RefreshProxyResult, RpcProxyResult, SubRefreshProxyResult, SubscribeOptionsClaim,
    SubscribeOverride, SubscribeProxyResult,
};
use herald_proto::DisconnectCode;

pub(super) fn error(error: pb::Error) -> ProxyClientError {
    ProxyClientError {
        code: error.code,
        message: error.message,
        temporary: error.temporary,
    }
}

pub(super) fn disconnect<T>(disconnect: pb::Disconnect) -> Result<ProxyReply<T>, ProxyError> {
    let code = u16::try_from(disconnect.code).map_err(|_| {
        ProxyError::BadResponse(format!("disconnect code {} out of range", disconnect.code))
    })?;
    Ok(ProxyReply::Disconnect(Disconnect {
        code,
        reason: disconnect.reason,
    }))
}

/// What a connect result without credentials ends in.
pub(super) fn no_credentials() -> Disconnect {
    let bad_request = DisconnectCode::BAD_REQUEST;
    Disconnect {
        code: bad_request.code,
        reason: bad_request.reason.to_owned(),
    }
}

pub(super) fn connect(
    result: Option<pb::ConnectResult>,
) -> Result<Option<ConnectProxyResult>, ProxyError> {
    let Some(result) = result else {
        return Ok(None);
    };
    let subs = result
        .subs
        .into_iter()
        .map(|(channel, options)| {
            let claim = SubscribeOptionsClaim {
                info: either("b64info", &options.b64info, options.info)?,
                data: either("b64data", &options.b64data, options.data)?,
                overrides: overrides(options.r#override),
            };
            Ok((channel, claim))
        })
        .collect::<Result<HashMap<_, _>, ProxyError>>()?;
    Ok(Some(ConnectProxyResult {
        user: result.user,
        expire_at: expire_at(result.expire_at),
        info: either("b64info", &result.b64info, result.info)?,
        data: either("b64data", &result.b64data, result.data)?,
        channels: result.channels,
        subs,
        meta: Bytes::from(result.meta),
    }))
}

pub(super) fn refresh(result: Option<pb::RefreshResult>) -> Result<RefreshProxyResult, ProxyError> {
    let expired = RefreshProxyResult {
        expired: true,
        ..RefreshProxyResult::default()
    };
    match result {
        None => Ok(expired),
        Some(result) if result.expired => Ok(expired),
        Some(result) => Ok(RefreshProxyResult {
            expired: false,
            expire_at: expire_at(result.expire_at),
            info: given(either("b64info", &result.b64info, result.info)?),
            meta: given(Bytes::from(result.meta)),
        }),
    }
}

pub(super) fn subscribe(
    result: Option<pb::SubscribeResult>,
) -> Result<SubscribeProxyResult, ProxyError> {
    let Some(result) = result else {
        return Ok(SubscribeProxyResult::default());
    };
    Ok(SubscribeProxyResult {
        expire_at: expire_at(result.expire_at),
        info: either("b64info", &result.b64info, result.info)?,
        data: either("b64data", &result.b64data, result.data)?,
        overrides: overrides(result.r#override),
    })
}

pub(super) fn publish(result: Option<pb::PublishResult>) -> Result<PublishProxyResult, ProxyError> {
    let Some(result) = result else {
        return Ok(PublishProxyResult::default());
    };
    let data = if !result.data.is_empty() {
        Some(Bytes::from(result.data))
    } else if !result.b64data.is_empty() {
        Some(decode("b64data", &result.b64data)?)
    } else {
        None
    };
    Ok(PublishProxyResult {
        data,
        skip_history: result.skip_history,
    })
}

pub(super) fn sub_refresh(
    result: Option<pb::SubRefreshResult>,
) -> Result<SubRefreshProxyResult, ProxyError> {
    let expired = SubRefreshProxyResult {
        expired: true,
        ..SubRefreshProxyResult::default()
    };
    match result {
        None => Ok(expired),
        Some(result) if result.expired => Ok(expired),
        Some(result) => Ok(SubRefreshProxyResult {
            expired: false,
            expire_at: expire_at(result.expire_at),
            info: given(either("b64info", &result.b64info, result.info)?),
        }),
    }
}

pub(super) fn rpc(result: Option<pb::RpcResult>) -> Result<RpcProxyResult, ProxyError> {
    let Some(result) = result else {
        return Ok(RpcProxyResult::default());
    };
    Ok(RpcProxyResult {
        data: either("b64data", &result.b64data, result.data)?,
    })
}

/// Zero (or less, which Centrifugo's library also reads as none) is no expiry.
fn expire_at(value: i64) -> Option<i64> {
    (value > 0).then_some(value)
}

/// `Some` when the backend gave a value.
fn given(value: Bytes) -> Option<Bytes> {
    (!value.is_empty()).then_some(value)
}

/// The decoded base64 field when it is set, the raw one otherwise.
fn either(field: &str, base64: &str, raw: Vec<u8>) -> Result<Bytes, ProxyError> {
    if base64.is_empty() {
        Ok(Bytes::from(raw))
    } else {
        decode(field, base64)
    }
}

fn decode(field: &str, base64: &str) -> Result<Bytes, ProxyError> {
    STANDARD
        .decode(base64)
        .map(Bytes::from)
        .map_err(|e| ProxyError::BadResponse(format!("{field} is not base64: {e}")))
}

fn overrides(value: Option<pb::SubscribeOptionOverride>) -> SubscribeOverride {
    let Some(value) = value else {
        return SubscribeOverride::default();
    };
    SubscribeOverride {
        presence: value.presence.map(|v| v.value),
        join_leave: value.join_leave.map(|v| v.value),
        force_push_join_leave: value.force_push_join_leave.map(|v| v.value),
        force_positioning: value.force_positioning.map(|v| v.value),
        force_recovery: value.force_recovery.map(|v| v.value),
    }
}
