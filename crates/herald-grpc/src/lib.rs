//! Centrifugo's gRPC wire definitions, compiled from `proto/centrifugo/` at build time.
//!
//! Generated code only: messages (prost), clients and server traits (tonic) for
//! - [`api`]: the server API (`centrifugal.centrifugo.api.CentrifugoApi`), served by
//!   `grpc_api`;
//! - [`proxy`]: the proxy service (`centrifugal.centrifugo.proxy.CentrifugoProxy`), which
//!   Herald calls for `grpc://` proxy endpoints;
//! - [`unistream`]: the unidirectional stream (`centrifugal.centrifugo.unistream`), served by
//!   `uni_grpc`.
//!
//! The upstream files and how to update them: `proto/centrifugo/README.md`.

/// `centrifugal.centrifugo.api`: the gRPC server API.
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    rust_2018_idioms,
    missing_debug_implementations
)]
pub mod api {
    tonic::include_proto!("centrifugal.centrifugo.api");
}

/// `centrifugal.centrifugo.proxy`: the proxy service Herald calls.
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    rust_2018_idioms,
    missing_debug_implementations
)]
pub mod proxy {
    tonic::include_proto!("centrifugal.centrifugo.proxy");
}

/// `centrifugal.centrifugo.unistream`: the unidirectional gRPC stream.
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    rust_2018_idioms,
    missing_debug_implementations
)]
pub mod unistream {
    tonic::include_proto!("centrifugal.centrifugo.unistream");
}
