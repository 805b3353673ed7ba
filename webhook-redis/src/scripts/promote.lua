-- Move retries that came due into the group's due stream. Atomic, so with
-- many workers running it each retry moves exactly once.
-- KEYS[1] retry sorted set, KEYS[2] due stream
-- ARGV[1] now ms, ARGV[2] most to move, ARGV[3] retry record key prefix
-- (records share the queue's hash tag, so they live in this slot too)
-- Returns {moved, next due ms or -1}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local moved = 0
for _, id in ipairs(due) do
  local record = ARGV[3] .. id
  local fields = redis.call('HGETALL', record)
  if #fields > 0 then
    redis.call('XADD', KEYS[2], '*', unpack(fields))
    moved = moved + 1
  end
  redis.call('DEL', record)
  redis.call('ZREM', KEYS[1], id)
end
local next = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #next == 0 then
  return {moved, -1}
end
return {moved, tonumber(next[2])}
