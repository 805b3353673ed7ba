-- Write a dead letter and mark the handler dead for the event, only if this
-- token holds the lease. (Whole entries no handler leased go through
-- dead.lua instead.) The marker keeps the token ('dead:<token>'): the same
-- call sent again after its reply was lost answers 1 and writes nothing.
-- KEYS[1] done key, KEYS[2] dead stream
-- ARGV[1] token, ARGV[2] marker TTL ms, ARGV[3..] dead-letter field/value pairs
-- Returns 1 when buried (or already buried by this token), else 0.
local value = redis.call('GET', KEYS[1])
if value == 'dead:' .. ARGV[1] then
  return 1
end
if value ~= 'lease:' .. ARGV[1] then
  return 0
end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))
redis.call('SET', KEYS[1], 'dead:' .. ARGV[1], 'PX', ARGV[2])
return 1
