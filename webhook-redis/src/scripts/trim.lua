-- Trim a stream below the oldest entry any consumer group still needs:
-- for each group, its oldest pending entry, or, when nothing is pending,
-- the last one it was given (kept, so no id arithmetic is needed). Entries
-- newer than the retention window stay too. A stream without groups is not
-- trimmed.
-- KEYS[1] stream; ARGV[1] now ms, ARGV[2] retention ms, ARGV[3] '~' to trim
-- whole nodes only (cheap: Redis never blocks on a long partial trim, and
-- it only ever trims less) or '=' to trim exactly
-- Returns the number of entries removed.
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 then
  return 0
end
local minid = math.max(0, tonumber(ARGV[1]) - tonumber(ARGV[2])) .. '-0'
for _, group in ipairs(groups) do
  local info = {}
  for i = 1, #group, 2 do
    info[group[i]] = group[i + 1]
  end
  local keep
  if tonumber(info['pending']) > 0 then
    keep = redis.call('XPENDING', KEYS[1], info['name'])[2]
  else
    keep = info['last-delivered-id']
  end
  if less(keep, minid) then
    minid = keep
  end
end
return redis.call('XTRIM', KEYS[1], 'MINID', ARGV[3] or '~', minid)
