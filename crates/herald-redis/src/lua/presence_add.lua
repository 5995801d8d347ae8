-- Adds or refreshes a client in a channel's presence.
--
-- KEYS[1] {p}.presence.data.{ch}    hash: client id -> encoded ClientInfo
-- KEYS[2] {p}.presence.expire.{ch}  sorted set: client id scored by expiry, Unix ms
-- ARGV[1] client id
-- ARGV[2] encoded ClientInfo
-- ARGV[3] entry TTL, ms
-- ARGV[4] least key TTL, ms (at least ARGV[3]); a key's TTL is only ever extended, so entries
--         with a long TTL outlive later adds with a short one
-- Expiry is counted on the Redis clock, so nodes with skewed clocks agree.

local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)

redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now_ms + tonumber(ARGV[3]), ARGV[1])

local key_ttl = tonumber(ARGV[4])
for _, key in ipairs(KEYS) do
  -- PTTL is -1 for a key without expiry, which a fresh key is.
  if redis.call('PTTL', key) < key_ttl then
    redis.call('PEXPIRE', key, ARGV[4])
  end
end
