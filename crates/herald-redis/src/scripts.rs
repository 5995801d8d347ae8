//! The Lua scripts (in `src/lua/`, each documenting its keys and arguments) and helpers to read
//! what Redis answers. Every multi-key operation on a channel is one script, so it is atomic on
//! the channel's shard.

use std::sync::LazyLock;
use std::time::Duration;

use herald_engine::EngineError;
use redis::{Script, Value};

/// The engine's scripts, hashed once per process.
pub(crate) struct Scripts {
    pub(crate) publish: Script,
    pub(crate) publish_unstored: Script,
    pub(crate) history: Script,
    pub(crate) presence_add: Script,
    pub(crate) presence_get: Script,
    pub(crate) presence_remove: Script,
    pub(crate) occupy: Script,
    pub(crate) release: Script,
    pub(crate) vacate: Script,
    pub(crate) heartbeat: Script,
}

pub(crate) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    publish: Script::new(include_str!("lua/publish.lua")),
    publish_unstored: Script::new(include_str!("lua/publish_unstored.lua")),
    history: Script::new(include_str!("lua/history.lua")),
    presence_add: Script::new(include_str!("lua/presence_add.lua")),
    presence_get: Script::new(include_str!("lua/presence_get.lua")),
    presence_remove: Script::new(include_str!("lua/presence_remove.lua")),
    occupy: Script::new(include_str!("lua/occupy.lua")),
    release: Script::new(include_str!("lua/release.lua")),
    vacate: Script::new(include_str!("lua/vacate.lua")),
    heartbeat: Script::new(include_str!("lua/heartbeat.lua")),
});

/// TTLs longer than this (about 10 years) are clamped, so Redis never rejects an expiry as
/// overflowing.
const MAX_TTL_MS: u64 = 10 * 365 * 24 * 3600 * 1000;

/// A TTL as the millisecond argument of `PEXPIRE`.
pub(crate) fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).map_or(MAX_TTL_MS, |ms| ms.min(MAX_TTL_MS))
}

/// A failed Redis call, for the caller.
pub(crate) fn unavailable(what: &str, error: impl std::fmt::Display) -> EngineError {
    EngineError::Unavailable {
        reason: format!("redis {what}: {error}"),
    }
}

/// A reply that is not what the script returns.
pub(crate) fn unexpected(what: &str, value: &Value) -> EngineError {
    unavailable(what, format_args!("unexpected reply {value:?}"))
}

/// An integer sent as a Redis integer or as a decimal string (Lua returns both).
pub(crate) fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

/// A UTF-8 string reply.
pub(crate) fn as_string(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// The elements of an array reply.
pub(crate) fn into_array(value: Value) -> Option<Vec<Value>> {
    match value {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

/// The bytes of a string reply.
pub(crate) fn into_bytes(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_clamps() {
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
        assert_eq!(millis(Duration::MAX), MAX_TTL_MS);
    }

    #[test]
    fn reads_numbers_either_way() {
        assert_eq!(as_u64(&Value::Int(5)), Some(5));
        assert_eq!(as_u64(&Value::BulkString(b"7".to_vec())), Some(7));
        assert_eq!(as_u64(&Value::Int(-1)), None);
        assert_eq!(as_u64(&Value::Nil), None);
    }
}
