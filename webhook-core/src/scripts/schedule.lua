-- Record a retry durably, only if this token holds the lease, and mark the
-- handler 'retry:<attempt>:<token>' so only that retry may run it next: a
-- redelivery of the original entry finds it scheduled, not free. The same
-- call sent again after its reply was lost answers 1 and writes nothing
-- (the retry may already have moved to the due stream).
-- KEYS[1] done key, KEYS[2] retry sorted set, KEYS[3] retry record
-- ARGV[1] token, ARGV[2] due ms, ARGV[3] retry id, ARGV[4] marker
-- ('retry:<attempt>'), ARGV[5] marker TTL ms, ARGV[6..] record field/value pairs
local value = redis.call('GET', KEYS[1])
local marker = ARGV[4] .. ':' .. ARGV[1]
if value == marker then
  return 1
end
if value ~= 'lease:' .. ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], unpack(ARGV, 6))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('SET', KEYS[1], marker, 'PX', ARGV[5])
return 1
