-- A GCRA class: admits `cost` cells for KEYS[1] when the theoretical arrival time after them
-- stays within `burst` cells of now. Times in microseconds, from Redis's own clock (one clock
-- for every gateway). ARGV: period, burst, cost. Returns 0 (admitted), -1 (never: more than
-- the burst) or the wait in microseconds.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
if cost > burst then
  return -1
end
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local next_tat = tat + cost * period
local over = next_tat - now - burst * period
if over > 0 then
  return math.ceil(over)
end
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
return 0
