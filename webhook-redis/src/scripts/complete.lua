-- Mark handlers done for events, each only if its token still holds the
-- lease: a worker whose lease expired and was taken over cannot settle the
-- work. The marker keeps the token ('done:<token>'), so the same call sent
-- again after its reply was lost answers 1 again.
-- KEYS[i] a done key; ARGV[1] done TTL ms, ARGV[i + 1] the token for KEYS[i]
-- Returns, per key, 1 when marked done by that token, else 0.
local out = {}
for i, key in ipairs(KEYS) do
  local token = ARGV[i + 1]
  local value = redis.call('GET', key)
  if value == 'lease:' .. token then
    redis.call('SET', key, 'done:' .. token, 'PX', ARGV[1])
    out[i] = 1
  elseif value == 'done:' .. token then
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
