-- Take the leases of handlers for events, one per key, in one call.
-- KEYS[i] a done key; ARGV[1] lease ms; for KEYS[i]: ARGV[2i] the token and
-- ARGV[2i + 1] the retry marker the entry carries ('retry:<attempt>' for a
-- due retry, '' for a new event).
-- Returns, per key: 'ok' (leased to that token), 'done', 'dead',
-- 'scheduled' (a retry owns it; a new delivery must not run it), or 'busy'
-- (another live lease).
local out = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  local token = ARGV[2 * i]
  local carried = ARGV[2 * i + 1]
  if value == 'done' or value == 'dead' then
    out[i] = value
  elseif not value or (carried ~= '' and value == carried) then
    redis.call('SET', key, 'lease:' .. token, 'PX', ARGV[1])
    out[i] = 'ok'
  elseif string.sub(value, 1, 6) == 'retry:' then
    out[i] = 'scheduled'
  else
    out[i] = 'busy'
  end
end
return out
