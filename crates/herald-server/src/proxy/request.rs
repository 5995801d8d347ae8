//! The hub's proxy requests as `proxy.proto` messages, filled as Centrifugo's handlers fill
//! them: `client`, `transport`, `protocol`, `encoding` on every request, `user` on all but
//! connect, `meta` only with `include_connection_meta` (never for connect), and the payload in
//! `data` or, base64-encoded, in `b64data`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use herald_grpc::proxy as pb;
use herald_hub::{
    ConnectProxyRequest, ProxyContext, PublishProxyRequest, RefreshProxyRequest, RpcProxyRequest,
    SubRefreshProxyRequest, SubscribeProxyRequest,
};
use herald_proto::Protocol;

use super::ProxySettings;

/// The fields every request starts with.
struct Base {
    client: String,
    transport: String,
    protocol: String,
    encoding: String,
}

fn base(context: &ProxyContext, base64: bool) -> Base {
    Base {
        client: context.client.clone(),
        transport: context.transport.to_owned(),
        protocol: match context.protocol {
            Protocol::Json => "json",
            Protocol::Protobuf => "protobuf",
        }
        .to_owned(),
        encoding: if base64 { "binary" } else { "json" }.to_owned(),
    }
}

/// `(data, b64data)`: one of them carries `payload`, the other is empty.
fn payload(payload: &Bytes, base64: bool) -> (Vec<u8>, String) {
    if base64 {
        (Vec::new(), STANDARD.encode(payload))
    } else {
        (payload.to_vec(), String::new())
    }
}

fn meta(context: &ProxyContext, settings: &ProxySettings) -> Vec<u8> {
    if settings.include_connection_meta {
        context.meta.to_vec()
    } else {
        Vec::new()
    }
}

pub(super) fn connect(
    request: &ConnectProxyRequest,
    base64: impl Fn(&[u8]) -> bool,
) -> pb::ConnectRequest {
    let b64 = base64(&request.data);
    let Base {
        client,
        transport,
        protocol,
        encoding,
    } = base(&request.context, b64);
    let (data, b64data) = payload(&request.data, b64);
    pb::ConnectRequest {
        client,
        transport,
        protocol,
        encoding,
        data,
        b64data,
        name: request.name.clone(),
        version: request.version.clone(),
        channels: request.channels.clone(),
    }
}

pub(super) fn refresh(
    request: &RefreshProxyRequest,
    settings: &ProxySettings,
) -> pb::RefreshRequest {
    let context = &request.context;
    let Base {
        client,
        transport,
        protocol,
        encoding,
    } = base(context, settings.binary_encoding);
    pb::RefreshRequest {
        client,
        transport,
        protocol,
        encoding,
        user: context.user.clone(),
        meta: meta(context, settings),
        labels: Default::default(),
    }
}

pub(super) fn subscribe(
    request: &SubscribeProxyRequest,
    settings: &ProxySettings,
    base64: impl Fn(&[u8]) -> bool,
) -> pb::SubscribeRequest {
    let context = &request.context;
    let b64 = base64(&request.data);
    let Base {
        client,
        transport,
        protocol,
        encoding,
    } = base(context, b64);
    let (data, b64data) = payload(&request.data, b64);
    pb::SubscribeRequest {
        client,
        transport,
        protocol,
        encoding,
        user: context.user.clone(),
        channel: request.channel.clone(),
        token: request.token.clone(),
        meta: meta(context, settings),
        data,
        b64data,
        labels: Default::default(),
    }
}

pub(super) fn publish(
    request: &PublishProxyRequest,
    settings: &ProxySettings,
    base64: impl Fn(&[u8]) -> bool,
) -> pb::PublishRequest {
    let context = &request.context;
    let b64 = base64(&request.data);
    let Base {
        client,
        transport,
        protocol,
        encoding,
    } = base(context, b64);
    let (data, b64data) = payload(&request.data, b64);
    pb::PublishRequest {
        client,
        transport,
        protocol,
        encoding,
        user: context.user.clone(),
        channel: request.channel.clone(),
        data,
        b64data,
        meta: meta(context, settings),
        labels: Default::default(),
    }
}

pub(super) fn sub_refresh(
    request: &SubRefreshProxyRequest,
    settings: &ProxySettings,
) -> pb::SubRefreshRequest {
    let context = &request.context;
    let Base {
        client,
        transport,
        protocol,
        encoding,
    } = base(context, settings.binary_encoding);
    pb::SubRefreshRequest {
        client,
        transport,
        protocol,
        encoding,
        user: context.user.clone(),
        channel: request.channel.clone(),
        meta: meta(context, settings),
        labels: Default::default(),
    }
}

pub(super) fn rpc(
    request: &RpcProxyRequest,
    settings: &ProxySettings,
    base64: impl Fn(&[u8]) -> bool,
) -> pb::RpcRequest {
    let context = &request.context;
    let b64 = base64(&request.data);
    let Base {
        client,
        transport,
        protocol,
        encoding,
    } = base(context, b64);
    let (data, b64data) = payload(&request.data, b64);
    pb::RpcRequest {
        client,
        transport,
        protocol,
        encoding,
        user: context.user.clone(),
        method: request.method.clone(),
        data,
        b64data,
        meta: meta(context, settings),
        labels: Default::default(),
    }
}
