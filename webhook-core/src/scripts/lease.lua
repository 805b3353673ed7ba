-- Take the lease of one handler for one event.
-- KEYS[1] done key; ARGV[1] token, ARGV[2] lease ms
-- Returns 'ok' (leased to this token), 'done', 'dead', or 'busy' (another live lease).
local value = redis.call('GET', KEYS[1])
if value == 'done' or value == 'dead' then
  return value
end
if value and value ~= 'lease:' .. ARGV[1] then
  return 'busy'
end
redis.call('SET', KEYS[1], 'lease:' .. ARGV[1], 'PX', ARGV[2])
return 'ok'
