-- Put a dead letter back for its handler, attempts reset, and remove it
-- from the dead letters, in one step: of two racing replays, one wins.
-- KEYS[1] dead stream, KEYS[2] the group's due stream, KEYS[3] the
-- handler's done key
-- ARGV[1] dead letter id, ARGV[2] '1' to mark the handler 'retry:1' (a
-- single handler) or '0' (a whole entry), ARGV[3] marker TTL ms,
-- ARGV[4..] the due entry's field/value pairs
-- Returns 1 when replayed, 0 when the dead letter is gone.
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then
  return 0
end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
if ARGV[2] == '1' then
  redis.call('SET', KEYS[3], 'retry:1', 'PX', ARGV[3])
end
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
