-- A rolling window: admits `cost` for KEYS[1] (a sorted set of places) when the costs of the
-- places still held plus its own stay within `capacity`. A place is `<id>:<cost>:i` while its
-- call is in flight (scored by when its lease ends, a crashed gateway's places go then) and
-- `<id>:<cost>:f` once answered (scored by when it leaves the window). Times in microseconds,
-- from Redis's clock. ARGV: window, capacity, cost, id, lease. Returns 0 (admitted), -1 (never:
-- more than the capacity) or the wait in microseconds until enough places are given up.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local lease = tonumber(ARGV[5])
if cost > capacity then
  return -1
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
local places = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local used = 0
local frees = {}
for i = 1, #places, 2 do
  local held, state = string.match(places[i], ':(%d+):(%a)$')
  held = tonumber(held)
  used = used + held
  -- An answered call's place goes when it leaves the window; one in flight's a window after
  -- now at the soonest.
  local left = window
  if state == 'f' then
    left = tonumber(places[i + 1]) - now
  end
  frees[#frees + 1] = { left, held }
end
if used + cost <= capacity then
  redis.call('ZADD', KEYS[1], string.format('%d', now + lease + window), ARGV[4] .. ':' .. cost .. ':i')
  redis.call('PEXPIRE', KEYS[1], math.ceil((lease + window) / 1000) + 1000)
  return 0
end
table.sort(frees, function(a, b) return a[1] < b[1] end)
local freed = 0
for _, free in ipairs(frees) do
  freed = freed + free[2]
  if used - freed + cost <= capacity then
    return math.max(math.ceil(free[1]), 1)
  end
end
return window
