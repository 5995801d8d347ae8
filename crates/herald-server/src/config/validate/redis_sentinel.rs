//! Validation of the Sentinel keys of `engine.redis` (and `broker.redis`,
//! `presence_manager.redis`): `sentinel_address`, `sentinel_master_name`, `sentinel_user`,
//! `sentinel_password`, as Centrifugo names them; and `db`, which the masters Sentinel finds
//! use as well as plain addresses.

use super::super::RedisEngineConfig;
use super::Checker;

/// Sentinel mode of a Redis backend, when `sentinel_address` is set.
pub(super) fn settings(
    redis: &RedisEngineConfig,
    section: &str,
    c: &mut Checker,
) -> Option<herald_redis::RedisSentinel> {
    let addresses: Vec<String> = redis
        .sentinel_address
        .iter()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect();
    if addresses.is_empty() {
        return None;
    }
    if redis.sentinel_master_name.is_empty() {
        c.fail(
            format!("{section}.sentinel_master_name"),
            "required with sentinel_address: the name the sentinels monitor the master under",
        );
    }
    let set = |value: &str| (!value.is_empty()).then(|| value.to_owned());
    Some(herald_redis::RedisSentinel {
        addresses,
        master_name: redis.sentinel_master_name.clone(),
        user: set(&redis.sentinel_user),
        password: set(&redis.sentinel_password),
    })
}

/// `db`: a database number, never negative.
pub(super) fn db(redis: &RedisEngineConfig, section: &str, c: &mut Checker) -> i64 {
    if redis.db < 0 {
        c.fail(format!("{section}.db"), "must not be negative");
        return 0;
    }
    redis.db
}
