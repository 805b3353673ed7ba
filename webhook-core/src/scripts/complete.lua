-- Mark handlers done for events, each only if its token still holds the
-- lease: a worker whose lease expired and was taken over cannot settle the
-- work.
-- KEYS[i] a done key; ARGV[1] done TTL ms, ARGV[i + 1] the token for KEYS[i]
-- Returns, per key, 1 when marked done, else 0.
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == 'lease:' .. ARGV[i + 1] then
    redis.call('SET', key, 'done', 'PX', ARGV[1])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
