-- Record a queue's partition count: `count` is where the ingest stores from
-- now on, `highest` the most the queue ever had, which workers read (a
-- partition no longer written to may still hold events to handle).
-- KEYS[1] the queue's partitions hash; ARGV[1] the count (at least 1)
-- Returns {count, highest}.
local count = tonumber(ARGV[1])
local highest = tonumber(redis.call('HGET', KEYS[1], 'highest') or '0')
if count > highest then
  highest = count
end
redis.call('HSET', KEYS[1], 'count', count, 'highest', highest)
return {count, highest}
