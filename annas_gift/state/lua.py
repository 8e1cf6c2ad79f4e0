"""Server-side Lua for the Redis backend: each operation is one atomic script, one round trip.

Times are integer microseconds from the Redis server clock (`TIME`). Lua 5.1 prints numbers with
14 significant digits, which would round a 16-digit microsecond timestamp, so every number sent
back to Redis goes through `fmt` ("%d").

Per subject there is one hash (`h`: cooldown, breaker, EWMA, latencies, learned budgets and the
token sum `t<window_s>` of each log) and one sorted set per window length (the log: member
"<rid>:<tokens>", score = admission time). Keeping the small values in one hash makes a model's
whole state one HMGET; redis.call costs about 1 µs each, which dominates these scripts.
"""

from __future__ import annotations

_PRELUDE = """
local function fmt(n) return string.format('%d', n) end
local function num(v, default) if v then return tonumber(v) end return default end
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function weight(member) return tonumber(string.match(member, ':(%-?%d+)$')) end
-- Drop log entries admitted at or before cutoff and keep the hash's token sum in step;
-- return the live entry count and token sum.
local function purge(h, z, field, stored, cutoff)
  local c = fmt(cutoff)
  local old = redis.call('ZRANGE', z, '-inf', c, 'BYSCORE')
  local sum = stored
  if #old > 0 then
    for i = 1, #old do sum = sum - weight(old[i]) end
    redis.call('ZREMRANGEBYSCORE', z, '-inf', c)
  end
  local n = redis.call('ZCARD', z)
  -- An empty log holds no tokens, even if the log key expired while the hash lived on.
  if n == 0 then sum = 0 end
  if sum ~= stored then redis.call('HSET', h, field, fmt(sum)) end
  return n, sum
end
"""

# KEYS: subject hash, log_1 .. log_N
# ARGV: nwin, gated, tokens, rid, probe_timeout_us, hash_ttl_ms, then per window i:
#       window_s (ARGV[4+3i]), req_limit, tok_limit (-1 = none)
# Returns {1, 0, 0, ''} or {0, wait_us (-1 = never fits), window index (0 = gate), 'r'|'t'|gate}
ADMIT = (
    _PRELUDE
    + """
local nwin, gated, tokens = tonumber(ARGV[1]), ARGV[2] == '1', tonumber(ARGV[3])
local h = KEYS[1]
local fields = {'cd', 'open', 'ou', 'pu', 'lr', 'lru', 'lt', 'ltu'}
for i = 1, nwin do fields[8 + i] = 't' .. ARGV[4 + 3 * i] end
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
for i = 1, nwin do
  local z, b = KEYS[1 + i], 3 + 3 * i
  local w = tonumber(ARGV[b + 1]) * 1000000
  local rl, tl = tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local n, used = purge(h, z, fields[8 + i], num(f[8 + i], 0), now - w)
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
if wi ~= 0 then return {0, worst, wi, wu} end
local member = ARGV[4] .. ':' .. ARGV[3]
for i = 1, nwin do
  local z = KEYS[1 + i]
  redis.call('ZADD', z, fmt(now), member)
  redis.call('PEXPIRE', z, fmt(tonumber(ARGV[4 + 3 * i]) * 1000 + 1000))
  if tokens ~= 0 then redis.call('HINCRBY', h, fields[8 + i], ARGV[3]) end
end
if lr_on then redis.call('HINCRBY', h, 'lr', -1) end
if lt_on then redis.call('HINCRBY', h, 'lt', fmt(-tokens)) end
if claim then redis.call('HSET', h, 'pu', fmt(now + tonumber(ARGV[5]))) end
redis.call('PEXPIRE', h, ARGV[6])
return {1, 0, 0, ''}
"""
)

# KEYS: subject hash, log_1 .. log_N
# ARGV: nwin, ticket ('' = none), est, actual, req_remaining, req_reset_us, tok_remaining,
#       tok_reset_us (remaining -1 = not reported), hash_ttl_ms, then per window i:
#       window_s (ARGV[7+3i]), req_limit, tok_limit
SETTLE = (
    _PRELUDE
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
      redis.call('HINCRBY', h, 't' .. ARGV[7 + 3 * i], fmt(delta))
    end
  end
end
local rrem, trem = tonumber(ARGV[5]), tonumber(ARGV[7])
if rrem < 0 and trem < 0 then return 0 end
local now = now_us()
local own_r, own_t = false, false
if nwin > 0 then
  local fields = {}
  for i = 1, nwin do fields[i] = 't' .. ARGV[7 + 3 * i] end
  local sums = redis.call('HMGET', h, unpack(fields))
  for i = 1, nwin do
    local w = tonumber(ARGV[7 + 3 * i]) * 1000000
    local rl, tl = tonumber(ARGV[8 + 3 * i]), tonumber(ARGV[9 + 3 * i])
    local n, used = purge(h, KEYS[1 + i], fields[i], num(sums[i], 0), now - w)
    if rl >= 0 and ((not own_r) or rl - n < own_r) then own_r = rl - n end
    if tl >= 0 and ((not own_t) or tl - used < own_t) then own_t = tl - used end
  end
end
-- Keep the provider's budget only while it is tighter than our own accounting.
local function learn(field, until_field, rem, reset_us, own)
  if rem < 0 then return end
  if (not own) or rem < own then
    redis.call('HSET', h, field, fmt(rem), until_field, fmt(now + math.max(1, reset_us)))
  else
    redis.call('HSET', h, until_field, '0')
  end
end
learn('lr', 'lru', rrem, tonumber(ARGV[6]), own_r)
learn('lt', 'ltu', trem, tonumber(ARGV[8]), own_t)
redis.call('PEXPIRE', h, ARGV[9])
return 0
"""
)

# KEYS: subject hash
# ARGV: kind, latency_ms, error, has_error, cooldown_us (0 = none), failure_threshold,
#       open_base_us, open_max_us, ewma_alpha, latency_samples, hash_ttl_ms
# Mirrors health.apply(); the float arithmetic is the same IEEE doubles, so both backends agree.
REPORT = (
    _PRELUDE
    + """
local h = KEYS[1]
local f = redis.call('HMGET', h, 'open', 'ou', 'fails', 'trips', 'er', 'lat', 'cd')
local open, ou, fails, trips = f[1] == '1', num(f[2], 0), num(f[3], 0), num(f[4], 0)
local er, lat = num(f[5], 0), f[6] or ''
local kind, alpha = ARGV[1], tonumber(ARGV[9])
local base, cap = tonumber(ARGV[7]), tonumber(ARGV[8])
local now = now_us()
local extra = {}
if kind == 'success' then
  fails = 0
  er = er * (1 - alpha)
  local xs = {}
  for v in string.gmatch(lat, '[^,]+') do xs[#xs + 1] = v end
  xs[#xs + 1] = ARGV[2]
  while #xs > tonumber(ARGV[10]) do table.remove(xs, 1) end
  local sorted = {}
  for i = 1, #xs do sorted[i] = tonumber(xs[i]) end
  table.sort(sorted)
  local m = math.floor(#sorted / 2)
  local p50 = sorted[m + 1]
  if #sorted % 2 == 0 then p50 = (sorted[m] + sorted[m + 1]) / 2 end
  extra = {'lat', table.concat(xs, ','), 'p50', string.format('%.17g', p50)}
  open, trips, ou = false, 0, 0
elseif kind == 'failure' then
  fails = fails + 1
  er = er * (1 - alpha) + alpha
  if open then
    if now >= ou then
      trips = trips + 1
      ou = now + math.min(base * 2 ^ (trips - 1), cap)
    end
  elseif fails >= tonumber(ARGV[6]) then
    open, trips, ou = true, 1, now + base
  end
elseif kind == 'rate_limited' then
  er = er * (1 - alpha) + alpha
end
if ARGV[4] == '1' then extra[#extra + 1] = 'le' extra[#extra + 1] = ARGV[3] end
local cool = tonumber(ARGV[5])
if cool > 0 and now + cool > num(f[7], 0) then
  extra[#extra + 1] = 'cd'
  extra[#extra + 1] = fmt(now + cool)
end
redis.call('HSET', h, 'open', open and '1' or '0', 'ou', fmt(ou), 'fails', fmt(fails),
  'trips', fmt(trips), 'er', string.format('%.17g', er), 'pu', '0', 'lc', fmt(now), unpack(extra))
redis.call('PEXPIRE', h, ARGV[11])
return 0
"""
)

# ARGV: tag, JSON [[subject, window_s...], ...]; KEYS: any one subject hash (it only routes the
# call: every key shares the hash tag). Key names are built here, and the plans travel as one
# JSON argument, because redis-py spends more time packing 80 arguments than Redis takes to run.
# Returns one JSON string (a long array reply costs far more to parse in redis-py):
#   [now_us, per plan: [cd, open, ou, er, p50, le, lc, learned_r, learned_t,
#                       (count, tokens) x nwin]]; absent values are false.
SNAPSHOT = (
    _PRELUDE
    + """
local tag = ARGV[1]
local now = now_us()
local out = {fmt(now)}
for _, plan in ipairs(cjson.decode(ARGV[2])) do
  local subject, nwin = plan[1], #plan - 1
  local h = tag .. ':h:' .. subject
  local fields = {'cd', 'open', 'ou', 'er', 'p50', 'le', 'lc', 'lr', 'lru', 'lt', 'ltu'}
  for i = 1, nwin do fields[11 + i] = 't' .. plan[i + 1] end
  local f = redis.call('HMGET', h, unpack(fields))
  local row = {f[1], f[2], f[3], f[4], f[5], f[6], f[7], false, false}
  if num(f[9], 0) > now then row[8] = f[8] end
  if num(f[11], 0) > now then row[9] = f[10] end
  for i = 1, nwin do
    local z = tag .. ':rl:' .. subject .. ':' .. plan[i + 1]
    local n, used = purge(h, z, fields[11 + i], num(f[11 + i], 0), now - plan[i + 1] * 1000000)
    row[#row + 1] = n
    row[#row + 1] = used
  end
  out[#out + 1] = row
end
return cjson.encode(out)
"""
)

# KEYS: counter; ARGV: delta, ttl_ms
INFLIGHT = """
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if v < 0 then
  redis.call('SET', KEYS[1], '0')
  v = 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return v
"""
