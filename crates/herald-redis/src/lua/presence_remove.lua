-- Removes a client from a channel's presence.
--
-- KEYS[1] {p}.presence.data.{ch}
-- KEYS[2] {p}.presence.expire.{ch}
-- ARGV[1] client id

redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
