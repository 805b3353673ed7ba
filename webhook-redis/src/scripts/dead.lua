-- Dead-letter a whole entry (undecodable, poison, no handler) and settle it
-- in one step, only while the entry is still pending for this consumer: the
-- same call sent again after its reply was lost, or by a worker the entry
-- was claimed away from, writes nothing.
-- KEYS[1] dead stream, KEYS[2] the entry's stream
-- ARGV[1] group, ARGV[2] entry id, ARGV[3] '1' to delete the entry too (due
-- streams, read by one group only), ARGV[4] consumer, ARGV[5..] dead-letter
-- field/value pairs
-- Returns 1 when written, 0 when the entry is no longer this consumer's.
local pending = redis.call('XPENDING', KEYS[2], ARGV[1], ARGV[2], ARGV[2], 1)
if #pending == 0 or pending[1][2] ~= ARGV[4] then
  return 0
end
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 5))
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
if ARGV[3] == '1' then
  redis.call('XDEL', KEYS[2], ARGV[2])
end
return 1
