//! Methods addressed to a user's connections: `subscribe`, `unsubscribe`, `disconnect` and
//! `refresh`. `user` is required (107 when empty), `client` narrows the call to one connection.

use herald_hub::{Disconnect, Hub, ServerSubscription, SubscribeOverride, Target};
use herald_proto::DisconnectCode;

use super::error::ApiError;
use super::payload;
use super::request::{
    DisconnectRequest, RefreshRequest, SubscribeOverride as OverrideRequest, SubscribeRequest,
    UnsubscribeRequest,
};
use super::response::Empty;

/// A close reason must fit a WebSocket close frame: 125 bytes minus the 2-byte code.
const MAX_REASON_BYTES: usize = 123;

/// Subscribes the user's connections to a channel (server-side subscription).
pub(crate) async fn subscribe(hub: &Hub, req: SubscribeRequest) -> Result<Empty, ApiError> {
    let target = target(req.user, req.client, Vec::new())?;
    if req.channel.is_empty() {
        return Err(ApiError::BAD_REQUEST);
    }
    let subscription = ServerSubscription {
        channel: req.channel,
        info: payload::incoming(&req.info, &req.b64info)?,
        data: payload::incoming(&req.data, &req.b64data)?,
        expire_at: expiry(req.expire_at),
        overrides: req.overrides.map(overrides).unwrap_or_default(),
    };
    hub.subscribe(&target, subscription).await?;
    Ok(Empty {})
}

/// Unsubscribes the user's connections from a channel.
pub(crate) async fn unsubscribe(hub: &Hub, req: UnsubscribeRequest) -> Result<Empty, ApiError> {
    let target = target(req.user, req.client, Vec::new())?;
    if req.channel.is_empty() {
        return Err(ApiError::BAD_REQUEST);
    }
    hub.unsubscribe(&target, &req.channel).await?;
    Ok(Empty {})
}

/// Closes the user's connections (except the whitelisted ones), by default with 3503
/// "force disconnect".
pub(crate) async fn disconnect(hub: &Hub, req: DisconnectRequest) -> Result<Empty, ApiError> {
    let target = target(req.user, req.client, req.whitelist)?;
    let disconnect = match req.disconnect {
        None => Disconnect::from(DisconnectCode::FORCE_DISCONNECT),
        Some(custom) => {
            // The code travels in a close frame (3000-4999 are the application's range) and
            // the reason must fit in it; anything else could not be delivered as sent.
            let code = u16::try_from(custom.code)
                .ok()
                .filter(|code| (3000..=4999).contains(code))
                .ok_or(ApiError::BAD_REQUEST)?;
            if custom.reason.len() >= MAX_REASON_BYTES {
                return Err(ApiError::BAD_REQUEST);
            }
            Disconnect {
                code,
                reason: custom.reason,
            }
        }
    };
    hub.disconnect(&target, disconnect).await?;
    Ok(Empty {})
}

/// Changes the expiry (and info) of the user's connections, or expires them now.
pub(crate) async fn refresh(hub: &Hub, req: RefreshRequest) -> Result<Empty, ApiError> {
    let target = target(req.user, req.client, Vec::new())?;
    let info = payload::incoming(&req.info, "")?;
    let info = Some(info).filter(|info| !info.is_empty());
    hub.refresh(&target, req.expired, expiry(req.expire_at), info)
        .await?;
    Ok(Empty {})
}

fn target(user: String, client: String, whitelist: Vec<String>) -> Result<Target, ApiError> {
    if user.is_empty() {
        return Err(ApiError::BAD_REQUEST);
    }
    Ok(Target {
        user,
        client: Some(client).filter(|c| !c.is_empty()),
        whitelist,
    })
}

/// `expire_at` on the wire: Unix seconds, 0 (or less) for none.
fn expiry(expire_at: i64) -> Option<i64> {
    (expire_at > 0).then_some(expire_at)
}

fn overrides(req: OverrideRequest) -> SubscribeOverride {
    SubscribeOverride {
        presence: req.presence.map(|v| v.value),
        join_leave: req.join_leave.map(|v| v.value),
        force_push_join_leave: req.force_push_join_leave.map(|v| v.value),
        force_positioning: req.force_positioning.map(|v| v.value),
        force_recovery: req.force_recovery.map(|v| v.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::request::BoolValue;

    #[test]
    fn target_needs_a_user() {
        assert_eq!(
            target(String::new(), "c".into(), Vec::new()).err(),
            Some(ApiError::BAD_REQUEST)
        );
        let t = target("u".into(), String::new(), vec!["w".into()]).expect("ok");
        assert_eq!(
            (t.user.as_str(), t.client, t.whitelist),
            ("u", None, vec!["w".to_owned()])
        );
        let t = target("u".into(), "c".into(), Vec::new()).expect("ok");
        assert_eq!(t.client.as_deref(), Some("c"));
    }

    #[test]
    fn zero_expiry_is_none() {
        assert_eq!(expiry(0), None);
        assert_eq!(expiry(-5), None);
        assert_eq!(expiry(1_700_000_000), Some(1_700_000_000));
    }

    #[test]
    fn overrides_keep_unset_values_unset() {
        let req = OverrideRequest {
            presence: Some(BoolValue { value: false }),
            force_recovery: Some(BoolValue { value: true }),
            ..Default::default()
        };
        let o = overrides(req);
        assert_eq!(o.presence, Some(false));
        assert_eq!(o.force_recovery, Some(true));
        assert_eq!(o.join_leave, None);
    }
}
