-- Take the leases of handlers for events, one per key, in one call.
-- KEYS[i] a done key; ARGV[1] lease ms; for KEYS[i]: ARGV[2i] the token and
-- ARGV[2i + 1] the retry marker the entry carries ('retry:<attempt>' for a
-- due retry, '' for a new event).
-- Returns, per key: 'ok' (leased to that token), 'done', 'dead',
-- 'scheduled' (a retry owns it; a new delivery must not run it), or 'busy'
-- (another live lease).
-- Run again with the same token (its reply was lost on the wire), it
-- answers 'ok' again: the lease it took is still that token's.
-- Done and dead markers carry the token that wrote them after the state
-- ('done:<token>', 'dead:<token>'); older ones without it read the same.
local function is(value, state)
  return value == state or string.sub(value, 1, #state + 1) == state .. ':'
end
local out = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  local token = ARGV[2 * i]
  local carried = ARGV[2 * i + 1]
  if value == 'lease:' .. token then
    redis.call('PEXPIRE', key, ARGV[1])
    out[i] = 'ok'
  elseif value and is(value, 'done') then
    out[i] = 'done'
  elseif value and is(value, 'dead') then
    out[i] = 'dead'
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
