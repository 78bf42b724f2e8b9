-- A concurrency class: takes `n` slots of KEYS[1] (a sorted set of holders `<id>:<n>`, scored
-- by when their lease ends, so that a crashed gateway's slots come back) when the slots held
-- plus `n` stay within `capacity`. Times in microseconds, from Redis's clock. ARGV: capacity,
-- n, id, lease. Returns 1 (taken) or 0 (not now).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local capacity = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local lease = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
local used = 0
for _, holder in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  used = used + tonumber(string.match(holder, ':(%d+)$'))
end
if used + n > capacity then
  return 0
end
redis.call('ZADD', KEYS[1], string.format('%d', now + lease), ARGV[3] .. ':' .. n)
redis.call('PEXPIRE', KEYS[1], math.ceil(lease / 1000) + 1000)
return 1
