-- Take the leases of handlers for events, one per key, in one call.
-- KEYS[i] a done key; ARGV[1] lease ms, ARGV[i + 1] the token for KEYS[i]
-- Returns, per key: 'ok' (leased to that token), 'done', 'dead', or 'busy'
-- (another live lease).
local out = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  local lease = 'lease:' .. ARGV[i + 1]
  if value == 'done' or value == 'dead' then
    out[i] = value
  elseif value and value ~= lease then
    out[i] = 'busy'
  else
    redis.call('SET', key, lease, 'PX', ARGV[1])
    out[i] = 'ok'
  end
end
return out
