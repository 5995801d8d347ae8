//! Not API: what `fuzz/` needs to drive the RESP reader of the PUB/SUB connection directly.
//!
//! Hidden from the documentation and exempt from semver, like rustls's `internal::fuzzing`:
//! anything here may change or disappear in any release. Nothing in Herald uses it.

pub use crate::pubsub::resp::{Frame, RespError, next_frame};

/// The frame limit the PUB/SUB connection uses by default
/// ([`RedisOptions::max_message_size`](crate::RedisOptions::max_message_size)).
pub fn default_max_frame() -> usize {
    crate::RedisOptions::default().max_message_size
}
