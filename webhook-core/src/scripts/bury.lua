-- Write a dead letter and mark the handler dead for the event, only if this
-- token holds the lease (or, with an empty token, unconditionally: for
-- entries no handler ever leased, such as undecodable or poison entries).
-- KEYS[1] done key, KEYS[2] dead stream
-- ARGV[1] token, ARGV[2] marker TTL ms, ARGV[3..] dead-letter field/value pairs
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= 'lease:' .. ARGV[1] then
  return 0
end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))
redis.call('SET', KEYS[1], 'dead', 'PX', ARGV[2])
return 1
