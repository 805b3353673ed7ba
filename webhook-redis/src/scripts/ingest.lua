-- Store a verified event: dedupe, backlog limit and XADD in one atomic step,
-- so a crash can never leave a dedupe key without its event or the reverse.
-- KEYS[1] seen key, KEYS[2] events stream
-- ARGV[1] dedupe TTL (ms), ARGV[2] dedupe (1/0), ARGV[3] max stream length (0 = none),
-- ARGV[4..] envelope field/value pairs
-- Returns {'accepted', stream id}, {'duplicate', stream id of the first}
-- (checked before the limit) or {'full'}; an error, writing nothing, for a
-- dedupe TTL below 1 ms.
local dedupe = ARGV[2] == '1'
-- Refuse before writing anything: SET PX below 1 ms would fail after the XADD.
if dedupe and (tonumber(ARGV[1]) or 0) < 1 then
  return redis.error_reply('ERR the dedupe TTL must be at least 1 ms')
end
if dedupe then
  local first = redis.call('GET', KEYS[1])
  if first then
    return {'duplicate', first}
  end
end
local limit = tonumber(ARGV[3])
if limit > 0 and redis.call('XLEN', KEYS[2]) >= limit then
  return {'full'}
end
local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
if dedupe then
  redis.call('SET', KEYS[1], id, 'PX', ARGV[1])
end
return {'accepted', id}
