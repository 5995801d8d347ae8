//! Validation of the transports other than WebSocket.

use std::time::Duration;

use super::super::raw::Config;
use super::super::transports::{
    DEFAULT_BODY_LIMIT, StreamConfig, StreamSettings, TransportSettings, UniWebSocketSettings,
};
use super::{Checker, compression, or_default};

impl Config {
    pub(super) fn transport_settings(&self, c: &mut Checker) -> TransportSettings {
        let http_stream = stream(
            c,
            "http_stream",
            &self.http_stream.0,
            "/connection/http_stream",
        );
        let sse = stream(c, "sse", &self.sse.0, "/connection/sse");
        let emulation = StreamSettings {
            enabled: http_stream.enabled || sse.enabled,
            handler_prefix: c.prefix(
                "emulation.handler_prefix",
                &self.emulation.handler_prefix,
                "/emulation",
            ),
            max_request_body_size: or_default(
                self.emulation.max_request_body_size,
                DEFAULT_BODY_LIMIT,
            ),
        };
        let uni = &self.uni_websocket;
        TransportSettings {
            http_stream,
            sse,
            emulation,
            uni_websocket: UniWebSocketSettings {
                enabled: uni.enabled,
                handler_prefix: c.prefix(
                    "uni_websocket.handler_prefix",
                    &uni.handler_prefix,
                    "/connection/uni_websocket",
                ),
                message_size_limit: or_default(uni.message_size_limit, 65_536),
                write_timeout: c.duration(
                    "uni_websocket.write_timeout",
                    uni.write_timeout,
                    Duration::from_secs(1),
                ),
                join_push_messages: uni.join_push_messages,
                disable_disconnect_push: uni.disable_disconnect_push,
                compression: compression(
                    c,
                    "uni_websocket",
                    uni.compression,
                    uni.compression_min_size,
                    uni.compression_level,
                ),
            },
            uni_sse: stream(c, "uni_sse", &self.uni_sse.0, "/connection/uni_sse"),
            uni_http_stream: stream(
                c,
                "uni_http_stream",
                &self.uni_http_stream.0,
                "/connection/uni_http_stream",
            ),
        }
    }
}

fn stream(c: &mut Checker, section: &str, raw: &StreamConfig, path: &str) -> StreamSettings {
    StreamSettings {
        enabled: raw.enabled,
        handler_prefix: c.prefix(
            &format!("{section}.handler_prefix"),
            &raw.handler_prefix,
            path,
        ),
        max_request_body_size: or_default(raw.max_request_body_size, DEFAULT_BODY_LIMIT),
    }
}
