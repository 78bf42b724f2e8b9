-- A rolling window's call has its answer: its place (`<id>:<cost>`, ARGV 1 and 2) is held for
-- ARGV 3 microseconds more from now, by Redis's clock (the window less the time since the answer).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local place = ARGV[1] .. ':' .. ARGV[2]
if redis.call('ZREM', KEYS[1], place .. ':i') == 1 then
  redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[3])), place .. ':f')
end
return 0
