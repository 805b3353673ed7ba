-- Record a retry durably, only if this token holds the lease, and mark the
-- handler 'retry:<attempt>' so only that retry may run it next: a
-- redelivery of the original entry finds it scheduled, not free. A receipt
-- keeps the token for a short while, so the same call sent again after its
-- reply was lost answers 1 and writes nothing, even once the retry has
-- moved on (come due, been leased, run).
-- KEYS[1] done key, KEYS[2] retry sorted set, KEYS[3] retry record,
-- KEYS[4] receipt
-- ARGV[1] token, ARGV[2] due ms, ARGV[3] retry id, ARGV[4] marker
-- ('retry:<attempt>'), ARGV[5] marker TTL ms, ARGV[6] receipt TTL ms,
-- ARGV[7..] record field/value pairs
-- Returns 1 when scheduled (or already scheduled by this token), else 0.
if redis.call('GET', KEYS[4]) == ARGV[1] then
  return 1
end
if redis.call('GET', KEYS[1]) ~= 'lease:' .. ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], unpack(ARGV, 7))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[6])
return 1
