//! Every message of Centrifugo's `client.proto`, written by hand as prost structs.
//!
//! The structs mirror `centrifugal/protocol` `definitions/client.proto` field for field: same
//! field names (the JSON key names), same tags, `bytes` fields as [`bytes::Bytes`], message
//! fields as `Option<T>`, maps as `HashMap<String, T>`. They are hand-written instead of
//! generated so the crate needs no `protoc` and no build script.
//!
//! In JSON encoding every `bytes` field carries raw JSON (not base64), see the crate docs,
//! "Wire format".
//!
//! The schema does not use `oneof` for the request/result/push bodies (for JSON
//! interoperability); a well-formed message sets exactly one of them, and the server takes the
//! first one that is set.

mod command;
mod push;
mod reply;

pub use command::*;
pub use push::*;
pub use reply::*;
