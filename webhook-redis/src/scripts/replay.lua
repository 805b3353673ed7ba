-- Put a dead letter back for its handler, attempts reset, and remove it
-- from the dead letters, in one step: of two racing replays, one wins.
-- KEYS[1] dead stream, KEYS[2] the group's due stream, KEYS[3] the
-- handler's done key, KEYS[4] the queue's events stream
-- ARGV[1] dead letter id, ARGV[2] the group, ARGV[3] '1' for a single
-- handler (marked 'retry:1' so only this replay may run it) or '0' for a
-- whole entry, ARGV[4] marker TTL ms, ARGV[5..] the due entry's pairs
-- Returns 1 replayed, 0 the dead letter is gone, 2 the handler is already
-- done for the event (the dead letter is removed, nothing re-runs), 3 the
-- handler is running right now (left as it is), -1 the group does not read
-- this queue (left as it is).
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then
  return 0
end
-- No events stream: no group reads it (XINFO would fail on the missing key).
if redis.call('EXISTS', KEYS[4]) == 0 then
  return -1
end
local found = false
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[4])) do
  for i = 1, #group, 2 do
    if group[i] == 'name' and group[i + 1] == ARGV[2] then
      found = true
    end
  end
end
if not found then
  return -1
end
if ARGV[3] == '1' then
  local marker = redis.call('GET', KEYS[3])
  -- 'done:<token>', or 'done' as older workers wrote it
  if marker == 'done' or (marker and string.sub(marker, 1, 5) == 'done:') then
    redis.call('XDEL', KEYS[1], ARGV[1])
    return 2
  end
  if marker and string.sub(marker, 1, 6) == 'lease:' then
    return 3
  end
  redis.call('SET', KEYS[3], 'retry:1', 'PX', ARGV[4])
end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 5))
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
