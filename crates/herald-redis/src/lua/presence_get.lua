-- Drops a channel's expired presence entries and returns the rest.
--
-- KEYS[1] {p}.presence.data.{ch}
-- KEYS[2] {p}.presence.expire.{ch}
-- Returns HGETALL of KEYS[1]: client id, encoded ClientInfo, ...

local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)

local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_ms)
if #expired > 0 then
  -- In batches: unpack() of a huge table would overflow Lua's stack.
  for first = 1, #expired, 1000 do
    redis.call('HDEL', KEYS[1], unpack(expired, first, math.min(first + 999, #expired)))
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms)
end

return redis.call('HGETALL', KEYS[1])
