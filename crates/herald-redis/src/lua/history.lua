-- Reads a channel stream and its position, creating the position if the channel has none, so
-- that later reads and publishes agree on one epoch.
--
-- KEYS[1] stream  {p}.stream.{ch}
-- KEYS[2] meta    {p}.stream.meta.{ch}
-- ARGV[1] epoch to create if the stream has none
-- ARGV[2] position TTL, ms; "0" leaves an existing TTL alone (a created position never expires)
-- ARGV[3] the epoch the reader's position has; "" matches any
-- ARGV[4] "XRANGE", "XREVRANGE", or "" to read no publications
-- ARGV[5], ARGV[6] the range bounds for that command
-- ARGV[7] COUNT, or "" for no limit
-- ARGV[8] "1" to also return the id of the oldest entry held
-- Returns {top offset, epoch, epoch matches (0 or 1), oldest id or nil, entries}.

local stream, meta = KEYS[1], KEYS[2]

local position = redis.call('HMGET', meta, 'e', 's')
local epoch, top = position[1], position[2]
if not epoch then
  epoch = ARGV[1]
  top = 0
  redis.call('HSET', meta, 'e', epoch)
  -- Entries without a position belong to a lost epoch.
  redis.call('DEL', stream)
end
if not top then
  top = 0
end
if ARGV[2] ~= '0' then
  redis.call('PEXPIRE', meta, ARGV[2])
end

if ARGV[3] ~= '' and ARGV[3] ~= epoch then
  return {top, epoch, 0, false, {}}
end

local oldest = false
if ARGV[8] == '1' then
  local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
  if #first > 0 then
    oldest = first[1][1]
  end
end

local entries = {}
if ARGV[4] == 'XRANGE' or ARGV[4] == 'XREVRANGE' then
  if ARGV[7] == '' then
    entries = redis.call(ARGV[4], stream, ARGV[5], ARGV[6])
  else
    entries = redis.call(ARGV[4], stream, ARGV[5], ARGV[6], 'COUNT', ARGV[7])
  end
end

return {top, epoch, 1, oldest, entries}
