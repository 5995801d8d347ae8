-- Publishes a publication kept in no stream, remembering its idempotency key.
--
-- KEYS[1] result  {p}.result.{ch}.{key}
-- ARGV[1] the PUB/SUB message
-- ARGV[2] PUB/SUB channel {p}.client.{ch}
-- ARGV[3] result TTL, ms
-- Returns {offset, epoch, suppressed} as publish.lua does.

local cached = redis.call('HMGET', KEYS[1], 'e', 's')
if cached[1] then
  return {cached[2], cached[1], 1}
end

redis.call('PUBLISH', ARGV[2], ARGV[1])
redis.call('HSET', KEYS[1], 'e', '', 's', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {0, '', 0}
