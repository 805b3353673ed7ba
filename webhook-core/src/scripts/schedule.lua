-- Record a retry durably and release the lease, only if this token holds it.
-- KEYS[1] done key, KEYS[2] retry sorted set, KEYS[3] retry record
-- ARGV[1] token, ARGV[2] due ms, ARGV[3] retry id, ARGV[4..] record field/value pairs
if redis.call('GET', KEYS[1]) ~= 'lease:' .. ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('DEL', KEYS[1])
return 1
