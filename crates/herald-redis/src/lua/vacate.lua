-- Ends a channel's occupancy period if still no node holds it (lifecycle events).
--
-- KEYS[1] {p}.occupancy.nodes.{ch}
-- KEYS[2] {p}.occupancy.state.{ch}
-- Returns the id of the period that ended (the caller emits channel_vacated) to exactly one
-- caller, else nil.

if redis.call('SCARD', KEYS[1]) ~= 0 then
  return false
end
local period = redis.call('GET', KEYS[2])
if not period then
  return false
end
redis.call('DEL', KEYS[2])
return period
