-- Dead-letter a whole entry (undecodable, poison, no handler) and settle it
-- in one step.
-- KEYS[1] dead stream, KEYS[2] the entry's stream
-- ARGV[1] group, ARGV[2] entry id, ARGV[3] '1' to delete the entry too (due
-- streams, read by one group only), ARGV[4..] dead-letter field/value pairs
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
if ARGV[3] == '1' then
  redis.call('XDEL', KEYS[2], ARGV[2])
end
return 1
