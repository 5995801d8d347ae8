//! `centrifugal.centrifugo.api.CentrifugoApi`: every method the HTTP API serves, run by the
//! same code (`crate::api::dispatch`) after converting the request (`convert`).
//!
//! Errors: by default a failed call answers OK with the response's `error` set, as the HTTP
//! API answers 200; in transport mode (`grpc_api.error_mode: transport`, or the metadata
//! `x-centrifugo-error-mode: transport` on one call) it fails with the gRPC status of the code
//! instead, carrying the `Error` message in the status details as Centrifugo does. `Batch` is
//! never failed that way: its errors are per command.
//!
//! Methods the HTTP API does not serve either (PRO features, map and shared-poll
//! subscriptions, push notifications, user status) fail with `UNIMPLEMENTED`, which is what
//! Centrifugo's open-source server answers to the PRO ones.

use std::pin::Pin;

use bytes::Bytes;
use herald_grpc::api as pb;
use herald_grpc::api::centrifugo_api_server::CentrifugoApi;
use herald_hub::Hub;
use prost::Message as _;
use tonic::{Code, Request, Response, Status};

use super::convert;
use crate::api::dispatch::{self, Command};
use crate::api::error::ApiError;
use crate::api::response::Reply;
use crate::telemetry::{self, Api, Span};

/// Metadata with which a call asks for transport error mode.
const ERROR_MODE_METADATA: &str = "x-centrifugo-error-mode";

/// The service: the node and the configured error mode.
#[derive(Debug, Clone)]
pub(crate) struct ApiService {
    hub: Hub,
    transport_errors: bool,
}

impl ApiService {
    pub(crate) fn new(hub: Hub, transport_errors: bool) -> Self {
        Self {
            hub,
            transport_errors,
        }
    }

    /// The request, whether its errors go out as gRPC statuses, and its span (`method` is the
    /// API method, as the HTTP API names it).
    fn open<T>(&self, request: Request<T>, method: &'static str) -> (T, bool, Span) {
        let metadata = request.metadata();
        let asked = metadata
            .get(ERROR_MODE_METADATA)
            .is_some_and(|value| value == "transport");
        let span = telemetry::api_span(Api::Grpc, method, |name| {
            metadata.get(name).and_then(|value| value.to_str().ok())
        });
        (request.into_inner(), self.transport_errors || asked, span)
    }

    /// Runs one method: its reply, or in transport mode its error as a status.
    async fn call(
        &self,
        command: Command,
        transport_errors: bool,
        span: &Span,
    ) -> Result<pb::Reply, Status> {
        let result = span.run(dispatch::run(&self.hub, command, "grpc")).await;
        if let Err(err) = &result {
            span.fail(Some(err.code), err.message);
        }
        match result {
            Err(err) if transport_errors => Err(status(err)),
            result => Ok(convert::reply(result)),
        }
    }
}

/// The status for `err` in transport mode (Centrifugo's `MapErrorToGRPCCode`), with the
/// `Error` message in the details (a `google.rpc.Status` holding it as an `Any`).
fn status(err: ApiError) -> Status {
    let code = match err.code {
        100 => Code::Internal,
        102 | 104 => Code::NotFound,
        107 | 108 => Code::InvalidArgument,
        112 => Code::OutOfRange,
        113 => Code::AlreadyExists,
        _ => Code::Internal,
    };
    let details = RpcStatus {
        code: code as i32,
        message: err.message.to_owned(),
        details: vec![Any {
            type_url: "type.googleapis.com/centrifugal.centrifugo.api.Error".to_owned(),
            value: convert::error(err).encode_to_vec(),
        }],
    };
    Status::with_details(code, err.message, Bytes::from(details.encode_to_vec()))
}

/// `google.rpc.Status`, the message of the `grpc-status-details-bin` trailer.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

// The trait is `#[async_trait]`, which rewrites the `async fn`s written in the impl before
// macros inside it expand; so these macros write the methods in the form it produces.

/// A method served like its HTTP API twin: convert the request, run, take the result field.
macro_rules! served {
    ($name:ident, $request:ty, $response:ident, |$req:ident| $command:expr, $field:ident) => {
        fn $name<'life0, 'async_trait>(
            &'life0 self,
            request: Request<$request>,
        ) -> Pin<
            Box<dyn Future<Output = Result<Response<pb::$response>, Status>> + Send + 'async_trait>,
        >
        where
            'life0: 'async_trait,
            Self: 'async_trait,
        {
            Box::pin(async move {
                let ($req, transport_errors, span) = self.open(request, stringify!($name));
                let reply = self.call($command, transport_errors, &span).await?;
                Ok(Response::new(pb::$response {
                    error: reply.error,
                    result: reply.$field,
                }))
            })
        }
    };
}

/// A method Herald does not serve, answered as grpc-go answers an unimplemented one.
macro_rules! unimplemented {
    ($($name:ident($request:ident) -> $response:ident: $rpc:literal;)*) => {$(
        fn $name<'life0, 'async_trait>(
            &'life0 self,
            _: Request<pb::$request>,
        ) -> Pin<Box<dyn Future<Output = Result<Response<pb::$response>, Status>> + Send + 'async_trait>>
        where
            'life0: 'async_trait,
            Self: 'async_trait,
        {
            Box::pin(std::future::ready(Err(Status::unimplemented(concat!(
                "method ", $rpc, " not implemented"
            )))))
        }
    )*};
}

#[tonic::async_trait]
impl CentrifugoApi for ApiService {
    async fn batch(
        &self,
        request: Request<pb::BatchRequest>,
    ) -> Result<Response<pb::BatchResponse>, Status> {
        let (req, _, span) = self.open(request, "batch");
        let response = span
            .run(dispatch::batch(&self.hub, convert::batch(req), "grpc"))
            .await;
        span.batch(response.replies.len(), response.errors());
        let replies = response
            .replies
            .into_iter()
            .map(|reply| {
                convert::reply(match reply {
                    Reply::Ok(outcome) => Ok(outcome),
                    Reply::Err { error } => Err(error),
                })
            })
            .collect();
        Ok(Response::new(pb::BatchResponse { replies }))
    }

    served!(
        publish,
        pb::PublishRequest,
        PublishResponse,
        |req| Command::Publish(convert::publish(req)),
        publish
    );
    served!(
        broadcast,
        pb::BroadcastRequest,
        BroadcastResponse,
        |req| Command::Broadcast(convert::broadcast(req)),
        broadcast
    );
    served!(
        subscribe,
        pb::SubscribeRequest,
        SubscribeResponse,
        |req| Command::Subscribe(convert::subscribe(req)),
        subscribe
    );
    served!(
        unsubscribe,
        pb::UnsubscribeRequest,
        UnsubscribeResponse,
        |req| Command::Unsubscribe(convert::unsubscribe(req)),
        unsubscribe
    );
    served!(
        disconnect,
        pb::DisconnectRequest,
        DisconnectResponse,
        |req| Command::Disconnect(convert::disconnect(req)),
        disconnect
    );
    served!(
        presence,
        pb::PresenceRequest,
        PresenceResponse,
        |req| Command::Presence(convert::channel(req.channel)),
        presence
    );
    served!(
        presence_stats,
        pb::PresenceStatsRequest,
        PresenceStatsResponse,
        |req| Command::PresenceStats(convert::channel(req.channel)),
        presence_stats
    );
    served!(
        history,
        pb::HistoryRequest,
        HistoryResponse,
        |req| Command::History(convert::history(req)),
        history
    );
    served!(
        history_remove,
        pb::HistoryRemoveRequest,
        HistoryRemoveResponse,
        |req| Command::HistoryRemove(convert::channel(req.channel)),
        history_remove
    );
    served!(
        info,
        pb::InfoRequest,
        InfoResponse,
        |_req| convert::info(),
        info
    );
    served!(
        rpc,
        pb::RpcRequest,
        RpcResponse,
        |req| Command::Rpc(convert::rpc(req)),
        rpc
    );
    served!(
        refresh,
        pb::RefreshRequest,
        RefreshResponse,
        |req| Command::Refresh(convert::refresh(req)),
        refresh
    );
    served!(
        channels,
        pb::ChannelsRequest,
        ChannelsResponse,
        |req| Command::Channels(convert::channels(req)),
        channels
    );

    served!(
        connections,
        pb::ConnectionsRequest,
        ConnectionsResponse,
        |req| Command::Connections(convert::connections(req)),
        connections
    );

    unimplemented! {
        update_user_status(UpdateUserStatusRequest) -> UpdateUserStatusResponse: "UpdateUserStatus";
        get_user_status(GetUserStatusRequest) -> GetUserStatusResponse: "GetUserStatus";
        delete_user_status(DeleteUserStatusRequest) -> DeleteUserStatusResponse: "DeleteUserStatus";
        block_user(BlockUserRequest) -> BlockUserResponse: "BlockUser";
        unblock_user(UnblockUserRequest) -> UnblockUserResponse: "UnblockUser";
        revoke_token(RevokeTokenRequest) -> RevokeTokenResponse: "RevokeToken";
        invalidate_user_tokens(InvalidateUserTokensRequest) -> InvalidateUserTokensResponse: "InvalidateUserTokens";
        device_register(DeviceRegisterRequest) -> DeviceRegisterResponse: "DeviceRegister";
        device_update(DeviceUpdateRequest) -> DeviceUpdateResponse: "DeviceUpdate";
        device_remove(DeviceRemoveRequest) -> DeviceRemoveResponse: "DeviceRemove";
        device_list(DeviceListRequest) -> DeviceListResponse: "DeviceList";
        device_topic_list(DeviceTopicListRequest) -> DeviceTopicListResponse: "DeviceTopicList";
        device_topic_update(DeviceTopicUpdateRequest) -> DeviceTopicUpdateResponse: "DeviceTopicUpdate";
        user_topic_list(UserTopicListRequest) -> UserTopicListResponse: "UserTopicList";
        user_topic_update(UserTopicUpdateRequest) -> UserTopicUpdateResponse: "UserTopicUpdate";
        send_push_notification(SendPushNotificationRequest) -> SendPushNotificationResponse: "SendPushNotification";
        update_push_status(UpdatePushStatusRequest) -> UpdatePushStatusResponse: "UpdatePushStatus";
        cancel_push(CancelPushRequest) -> CancelPushResponse: "CancelPush";
        map_publish(MapPublishRequest) -> MapPublishResponse: "MapPublish";
        map_remove(MapRemoveRequest) -> MapRemoveResponse: "MapRemove";
        map_read_state(MapReadStateRequest) -> MapReadStateResponse: "MapReadState";
        map_read_stream(MapReadStreamRequest) -> MapReadStreamResponse: "MapReadStream";
        map_stats(MapStatsRequest) -> MapStatsResponse: "MapStats";
        map_clear(MapClearRequest) -> MapClearResponse: "MapClear";
        shared_poll_publish(SharedPollPublishRequest) -> SharedPollPublishResponse: "SharedPollPublish";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_codes_follow_centrifugo() {
        let code = |code| status(ApiError { code, message: "x" }).code();
        assert_eq!(code(100), Code::Internal);
        assert_eq!(code(102), Code::NotFound);
        assert_eq!(code(104), Code::NotFound);
        assert_eq!(code(107), Code::InvalidArgument);
        assert_eq!(code(108), Code::InvalidArgument);
        assert_eq!(code(112), Code::OutOfRange);
        assert_eq!(code(113), Code::AlreadyExists);
        assert_eq!(code(103), Code::Internal);
    }

    #[test]
    fn transport_status_carries_the_error_in_its_details() {
        let status = status(ApiError::BAD_REQUEST);
        assert_eq!(status.message(), "bad request");
        let details = RpcStatus::decode(status.details()).expect("google.rpc.Status");
        assert_eq!(details.code, Code::InvalidArgument as i32);
        let error = pb::Error::decode(&details.details[0].value[..]).expect("Error");
        assert_eq!((error.code, error.message.as_str()), (107, "bad request"));
    }
}
