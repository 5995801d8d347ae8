-- A node lost its last local subscriber of a channel, or died (lifecycle events).
--
-- KEYS[1] {p}.occupancy.nodes.{ch}
-- ARGV[1] node id
-- Returns 1 when no node holds the channel any more (the caller then runs vacate.lua, after
-- its vacated delay), else 0.

redis.call('SREM', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) == 0 then
  return 1
end
return 0
