-- A node is alive; which others are not (lifecycle events).
--
-- KEYS[1] {p}.lifecycle.nodes  hash: node id -> last heartbeat, Unix ms on the Redis clock
-- ARGV[1] node id
-- ARGV[2] TTL, ms
-- Returns the nodes last heard from more than TTL ago (removed from the hash by the node that
-- takes their remains).

local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], now_ms)
local ttl = tonumber(ARGV[2])
local dead = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local seen = tonumber(all[i + 1])
  if seen == nil or now_ms - seen > ttl then
    table.insert(dead, all[i])
  end
end
return dead
