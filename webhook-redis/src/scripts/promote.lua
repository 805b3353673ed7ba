-- Move retries that came due into the group's due stream. The caller reads
-- the due ids first (ZRANGEBYSCORE ... LIMIT) and passes each with its
-- record's key, so the script touches only keys it was given (Redis
-- Cluster's rule). It moves an id only while it is still in the set and
-- due, so of many workers passing the same ids, each retry moves once.
-- KEYS[1] retry sorted set, KEYS[2] due stream, KEYS[2 + i] the record of
-- the i-th retry id
-- ARGV[1] now ms, ARGV[1 + i] the i-th retry id
-- Returns {moved, next due ms or -1}; a retry whose record is gone is
-- removed from the set without an entry and is not counted.
local now = tonumber(ARGV[1])
local moved = 0
for i = 3, #KEYS do
  local id = ARGV[i - 1]
  local score = redis.call('ZSCORE', KEYS[1], id)
  if score and tonumber(score) <= now then
    local fields = redis.call('HGETALL', KEYS[i])
    if #fields > 0 then
      redis.call('XADD', KEYS[2], '*', unpack(fields))
      moved = moved + 1
    end
    redis.call('DEL', KEYS[i])
    redis.call('ZREM', KEYS[1], id)
  end
end
local next = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #next == 0 then
  return {moved, -1}
end
return {moved, tonumber(next[2])}
