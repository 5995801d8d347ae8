-- A node got its first local subscriber of a channel (lifecycle events).
--
-- KEYS[1] {p}.occupancy.nodes.{ch}  set: nodes holding local subscribers
-- KEYS[2] {p}.occupancy.state.{ch}  string: id of the current occupancy period, absent when
--                                   the channel is vacated
-- ARGV[1] node id
-- Returns the id of a new period (the caller emits channel_occupied), or nil when the channel
-- was already occupied. The id is the Redis clock in microseconds, so a channel's periods
-- increase.

redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 1 then
  return false
end
local now = redis.call('TIME')
local period = now[1] .. string.format('%06d', tonumber(now[2]))
redis.call('SET', KEYS[2], period)
return period
