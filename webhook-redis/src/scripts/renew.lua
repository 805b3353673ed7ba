-- Extend a lease that this token still holds.
-- KEYS[1] done key; ARGV[1] token, ARGV[2] lease ms
-- Returns 1 when extended, 0 when the token no longer holds the lease.
if redis.call('GET', KEYS[1]) == 'lease:' .. ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
