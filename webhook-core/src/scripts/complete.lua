-- Mark a handler done for an event, only if this token still holds the lease:
-- a worker whose lease expired and was taken over cannot settle the work.
-- KEYS[1] done key; ARGV[1] token, ARGV[2] done TTL ms
if redis.call('GET', KEYS[1]) ~= 'lease:' .. ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2])
return 1
