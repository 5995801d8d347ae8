-- Appends a publication to a channel stream and announces it, atomically: offsets, the stream
-- and the order of PUB/SUB messages always agree.
--
-- KEYS[1] stream  {p}.stream.{ch}
-- KEYS[2] meta    {p}.stream.meta.{ch}   hash: e = epoch, s = top offset, v / ve = version and
--                                        version epoch of the last versioned publication
-- KEYS[3] result  {p}.result.{ch}.{key} (only with an idempotency key)
-- ARGV[1] body: the encoded publication, without its offset
-- ARGV[2] history size (exact MAXLEN)
-- ARGV[3] history TTL, ms
-- ARGV[4] position TTL, ms; "0" keeps the position forever
-- ARGV[5] epoch to start with if the stream has none
-- ARGV[6] PUB/SUB channel {p}.client.{ch}
-- ARGV[7] version, "0" for none
-- ARGV[8] version epoch
-- ARGV[9] result TTL, ms (only with KEYS[3])
-- Returns {offset, epoch, suppressed}: suppressed is 1 when KEYS[3] held a result, which is
-- then returned instead, 2 when the version is not newer than the last one (the current top is
-- returned); in both cases nothing is published or stored.

local stream, meta, result = KEYS[1], KEYS[2], KEYS[3]

if result then
  local cached = redis.call('HMGET', result, 'e', 's')
  if cached[1] then
    return {cached[2], cached[1], 1}
  end
end

local epoch = redis.call('HGET', meta, 'e')
if not epoch then
  epoch = ARGV[5]
  redis.call('HSET', meta, 'e', epoch)
end

-- The rule of PublishOptions::version_is_stale. Versions are compared as numbers (a u64 above
-- 2^53 loses precision in Lua's doubles; Centrifugo's script has the same limit).
local version, version_epoch = ARGV[7], ARGV[8]
if version ~= '0' then
  local last = redis.call('HMGET', meta, 'v', 've', 's')
  if last[1] and (version_epoch == '' or version_epoch == last[2])
      and tonumber(version) <= tonumber(last[1]) then
    return {tonumber(last[3] or '0'), epoch, 2}
  end
  redis.call('HSET', meta, 'v', version, 've', version_epoch)
end
local top = redis.call('HINCRBY', meta, 's', 1)
if ARGV[4] == '0' then
  redis.call('PERSIST', meta)
else
  redis.call('PEXPIRE', meta, ARGV[4])
end

if top == 1 then
  -- A new position: whatever the stream holds belongs to a lost epoch.
  redis.call('DEL', stream)
end
local offset = string.format('%d', top)
redis.call('XADD', stream, 'MAXLEN', ARGV[2], offset .. '-0', 'd', ARGV[1])
redis.call('PEXPIRE', stream, ARGV[3])

redis.call('PUBLISH', ARGV[6], 'p1:' .. offset .. ':' .. epoch .. ':' .. ARGV[1])

if result then
  redis.call('HSET', result, 'e', epoch, 's', offset)
  redis.call('PEXPIRE', result, ARGV[9])
end

return {top, epoch, 0}
