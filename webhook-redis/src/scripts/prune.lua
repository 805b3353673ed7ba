-- Remove consumers of a group that own no pending entry and have been idle
-- longer than a threshold (workers that stopped or died; every restart with
-- a `<host>-<pid>` name adds one), never the caller. Checked and removed in
-- one step, so a consumer that reads an entry meanwhile is never removed
-- with it.
-- KEYS[1] stream; ARGV[1] group, ARGV[2] least idle ms, ARGV[3] the
-- calling consumer
-- Returns the number of consumers removed.
local removed = 0
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #consumer, 2 do
    info[consumer[i]] = consumer[i + 1]
  end
  if info['name'] ~= ARGV[3] and tonumber(info['pending']) == 0
      and tonumber(info['idle']) > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed = removed + 1
  end
end
return removed
