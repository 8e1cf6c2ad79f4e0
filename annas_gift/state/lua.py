"""Server-side Lua for the Redis backend: each operation is one atomic script, one round trip.

Times are integer microseconds from the Redis server clock (`TIME`). Lua 5.1 prints numbers with
14 significant digits, which would round a 16-digit microsecond timestamp, so every number sent
back to Redis goes through `fmt` ("%d").

Per subject there is one hash and one sorted set per window length (the log: member
"<rid>:<tokens>", score = admission time). The hash holds cooldown, breaker, EWMA, latencies,
learned budgets and, per log, a summary: count `c<w>`, token sum `t<w>` and oldest admission
`o<w>` (0 = empty). A log is only read when its oldest entry has left the window, so an idle
model costs one HMGET; each redis.call costs about 1 µs, which dominates these scripts.
"""

from __future__ import annotations

PRELUDE = """
local function fmt(n) return string.format('%d', n) end
local function num(v, default) if v then return tonumber(v) end return default end
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function weight(member) return tonumber(string.match(member, ':(%-?%d+)$')) end
-- Bring a log summary (count, sum, oldest) up to date for cutoff: drop entries admitted at
-- or before it. Returns the new summary and whether it changed.
local function purge(z, c, t, o, cutoff)
  if o == 0 or o > cutoff then return c, t, o, false end
  local cs = fmt(cutoff)
  local old = redis.call('ZRANGE', z, '-inf', cs, 'BYSCORE')
  if #old > 0 then
    for i = 1, #old do t = t - weight(old[i]) end
    redis.call('ZREMRANGEBYSCORE', z, '-inf', cs)
  end
  local first = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
  -- Empty, or the log key expired while the hash lived on: nothing is held.
  if #first == 0 then return 0, 0, 0, true end
  return c - #old, t, tonumber(first[2]), true
end
-- Append a log summary to an HSET argument list.
local function put(set, names, c, t, o)
  set[#set + 1] = names[1]
  set[#set + 1] = fmt(c)
  set[#set + 1] = names[2]
  set[#set + 1] = fmt(t)
  set[#set + 1] = names[3]
  set[#set + 1] = fmt(o)
end
"""

# KEYS: subject hash, log_1 .. log_N
# ARGV: nwin, gated, tokens, rid, probe_timeout_us, hash_ttl_ms, then per window i:
#       window_s (ARGV[4+3i]), req_limit, tok_limit (-1 = none)
# Returns {1, 0, 0, ''} or {0, wait_us (-1 = never fits), window index (0 = gate), 'r'|'t'|gate}
ADMIT = (
    PRELUDE
    + """
local nwin, gated, tokens = tonumber(ARGV[1]), ARGV[2] == '1', tonumber(ARGV[3])
local h = KEYS[1]
local fields = {'cd', 'open', 'ou', 'pu', 'lr', 'lru', 'lt', 'ltu'}
for i = 1, nwin do
  local w = ARGV[4 + 3 * i]
  fields[6 + 3 * i], fields[7 + 3 * i], fields[8 + 3 * i] = 'c' .. w, 't' .. w, 'o' .. w
end
local f = redis.call('HMGET', h, unpack(fields))
local now = now_us()
local claim, lr_on, lt_on = false, false, false
if gated then
  local cd = num(f[1], 0)
  if cd > now then return {0, cd - now, 0, 'cooldown'} end
  if f[2] == '1' then
    local ou, pu = num(f[3], 0), num(f[4], 0)
    if ou > now then return {0, ou - now, 0, 'breaker'} end
    if pu > now then return {0, pu - now, 0, 'breaker'} end
    claim = true
  end
  local lru, ltu = num(f[6], 0), num(f[8], 0)
  if lru > now then
    lr_on = true
    if num(f[5], 0) < 1 then return {0, lru - now, 0, 'provider_requests'} end
  end
  if ltu > now then
    lt_on = true
    if num(f[7], 0) < tokens then return {0, ltu - now, 0, 'provider_tokens'} end
  end
end
local worst, wi, wu = 0, 0, ''
local function consider(wait, i, u)
  if worst ~= -1 and (wait == -1 or wait > worst) then worst, wi, wu = wait, i, u end
end
local logs, purged = {}, {}
for i = 1, nwin do
  local z, b = KEYS[1 + i], 3 + 3 * i
  local w = tonumber(ARGV[b + 1]) * 1000000
  local rl, tl = tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local names = {fields[6 + 3 * i], fields[7 + 3 * i], fields[8 + 3 * i]}
  local n, used, oldest, changed = purge(
    z, num(f[6 + 3 * i], 0), num(f[7 + 3 * i], 0), num(f[8 + 3 * i], 0), now - w)
  logs[i] = {names, n, used, oldest}
  if changed then put(purged, names, n, used, oldest) end
  if rl >= 0 and n + 1 > rl then
    if rl == 0 then consider(-1, i, 'r') else
      local e = redis.call('ZRANGE', z, n - rl, n - rl, 'WITHSCORES')
      consider(tonumber(e[2]) + w - now, i, 'r')
    end
  end
  if tl >= 0 and used + tokens > tl then
    if tokens > tl then consider(-1, i, 't') else
      -- Walk from the oldest entry until enough tokens would have left the window.
      local need, freed, start, wait = used + tokens - tl, 0, 0, w
      while freed < need do
        local e = redis.call('ZRANGE', z, start, start + 127, 'WITHSCORES')
        if #e == 0 then break end
        for j = 1, #e, 2 do
          freed = freed + weight(e[j])
          if freed >= need then
            wait = tonumber(e[j + 1]) + w - now
            break
          end
        end
        start = start + 128
      end
      consider(wait, i, 't')
    end
  end
end
if wi ~= 0 then
  if #purged > 0 then redis.call('HSET', h, unpack(purged)) end
  return {0, worst, wi, wu}
end
local member, set = ARGV[4] .. ':' .. ARGV[3], {}
for i = 1, nwin do
  local z, log = KEYS[1 + i], logs[i]
  redis.call('ZADD', z, fmt(now), member)
  redis.call('PEXPIRE', z, fmt(tonumber(ARGV[4 + 3 * i]) * 1000 + 1000))
  local oldest = log[4]
  if oldest == 0 then oldest = now end
  put(set, log[1], log[2] + 1, log[3] + tokens, oldest)
end
if lr_on then set[#set + 1] = 'lr' set[#set + 1] = fmt(num(f[5], 0) - 1) end
if lt_on then set[#set + 1] = 'lt' set[#set + 1] = fmt(num(f[7], 0) - tokens) end
if claim then set[#set + 1] = 'pu' set[#set + 1] = fmt(now + tonumber(ARGV[5])) end
if #set > 0 then redis.call('HSET', h, unpack(set)) end
redis.call('PEXPIRE', h, ARGV[6])
return {1, 0, 0, ''}
"""
)

# KEYS: subject hash, log_1 .. log_N
# ARGV: nwin, ticket ('' = none), est, actual, req_remaining, req_reset_us, tok_remaining,
#       tok_reset_us (remaining -1 = not reported), hash_ttl_ms, then per window i:
#       window_s (ARGV[7+3i]), req_limit, tok_limit
SETTLE = (
    PRELUDE
    + """
local nwin, ticket, h = tonumber(ARGV[1]), ARGV[2], KEYS[1]
local est, actual = tonumber(ARGV[3]), tonumber(ARGV[4])
local old, delta = false, 0
if nwin > 0 then
  if ticket ~= '' then
    -- The ticket is the entry's member name, which carries the weight it was admitted with.
    old, delta = ticket, actual - weight(ticket)
  elseif actual > est then
    -- Without a ticket only an increase is safe: charge it to the newest entry.
    old, delta = redis.call('ZRANGE', KEYS[2], -1, -1)[1] or false, actual - est
  end
end
if old and delta ~= 0 then
  local new = string.match(old, '^(.*):') .. ':' .. fmt(weight(old) + delta)
  for i = 1, nwin do
    local z = KEYS[1 + i]
    local score = redis.call('ZSCORE', z, old)
    if score then
      redis.call('ZREM', z, old)
      redis.call('ZADD', z, score, new)
      -- Removing the only member deletes the key, and ZADD recreates it without a TTL.
      redis.call('PEXPIRE', z, fmt(tonumber(ARGV[7 + 3 * i]) * 1000 + 1000))
      redis.call('HINCRBY', h, 't' .. ARGV[7 + 3 * i], fmt(delta))
    end
  end
end
local rrem, trem = tonumber(ARGV[5]), tonumber(ARGV[7])
if rrem < 0 and trem < 0 then return 0 end
local now = now_us()
local own_r, own_t, set = false, false, {}
if nwin > 0 then
  local fields = {}
  for i = 1, nwin do
    local w = ARGV[7 + 3 * i]
    fields[3 * i - 2], fields[3 * i - 1], fields[3 * i] = 'c' .. w, 't' .. w, 'o' .. w
  end
  local f = redis.call('HMGET', h, unpack(fields))
  for i = 1, nwin do
    local w = tonumber(ARGV[7 + 3 * i]) * 1000000
    local rl, tl = tonumber(ARGV[8 + 3 * i]), tonumber(ARGV[9 + 3 * i])
    local n, used, oldest, changed = purge(
      KEYS[1 + i], num(f[3 * i - 2], 0), num(f[3 * i - 1], 0), num(f[3 * i], 0), now - w)
    if changed then
      put(set, {fields[3 * i - 2], fields[3 * i - 1], fields[3 * i]}, n, used, oldest)
    end
    if rl >= 0 and ((not own_r) or rl - n < own_r) then own_r = rl - n end
    if tl >= 0 and ((not own_t) or tl - used < own_t) then own_t = tl - used end
  end
end
-- Keep the provider's budget only while it is tighter than our own accounting.
local function learn(field, until_field, rem, reset_us, own)
  if rem < 0 then return end
  if (not own) or rem < own then
    set[#set + 1] = field
    set[#set + 1] = fmt(rem)
    set[#set + 1] = until_field
    set[#set + 1] = fmt(now + math.max(1, reset_us))
  else
    set[#set + 1] = until_field
    set[#set + 1] = '0'
  end
end
learn('lr', 'lru', rrem, tonumber(ARGV[6]), own_r)
learn('lt', 'ltu', trem, tonumber(ARGV[8]), own_t)
if #set > 0 then redis.call('HSET', h, unpack(set)) end
redis.call('PEXPIRE', h, ARGV[9])
return 0
"""
)
