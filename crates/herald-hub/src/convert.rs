//! Conversions between the engine's value types and the protocol's messages.

use herald_engine::{ClientInfo, Publication, StreamPosition};

pub(crate) fn proto_client_info(info: &ClientInfo) -> herald_proto::ClientInfo {
    herald_proto::ClientInfo {
        user: info.user.clone(),
        client: info.client.clone(),
        conn_info: info.conn_info.clone(),
        chan_info: info.chan_info.clone(),
    }
}

pub(crate) fn proto_publication(publication: &Publication) -> herald_proto::Publication {
    herald_proto::Publication {
        data: publication.data.clone(),
        info: publication.info.as_ref().map(proto_client_info),
        offset: publication.offset,
        tags: publication.tags.clone(),
        time: publication.time,
        ..Default::default()
    }
}

pub(crate) fn engine_position(position: &herald_proto::StreamPosition) -> StreamPosition {
    StreamPosition {
        offset: position.offset,
        epoch: position.epoch.clone(),
    }
}
