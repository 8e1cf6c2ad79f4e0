"""Server-side Lua for the Redis backend: each operation is one atomic script, one round trip.

Times are integer microseconds from the Redis server clock (`TIME`). Lua 5.1 prints numbers with
14 significant digits, which would round a 16-digit microsecond timestamp, so every number sent
back to Redis goes through `fmt` ("%d"). A log entry is the member "<rid>:<tokens>" scored by its
admission time; each log has a companion key holding the sum of its members' tokens.
"""

from __future__ import annotations

_PRELUDE = """
local function fmt(n) return string.format('%d', n) end
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function weight(member) return tonumber(string.match(member, ':(%-?%d+)$')) end
-- Drop entries admitted at or before cutoff; their tokens leave the running sum.
local function purge(z, s, cutoff)
  local old = redis.call('ZRANGE', z, '-inf', fmt(cutoff), 'BYSCORE')
  if #old > 0 then
    local freed = 0
    for i = 1, #old do freed = freed + weight(old[i]) end
    redis.call('ZREMRANGEBYSCORE', z, '-inf', fmt(cutoff))
    redis.call('DECRBY', s, fmt(freed))
  end
end
local function num(v, default) if v then return tonumber(v) end return default end
"""

# KEYS: z1, s1, ..., zN, sN, [cooldown, health, learned_requests, learned_tokens]
# ARGV: nwin, gated, tokens, rid, probe_timeout_us, then per window: window_us, req_limit,
#       tok_limit (-1 = none)
# Returns {1, 0, 0, ''} or {0, wait_us (-1 = never fits), window index (0 = gate), 'r'|'t'|gate}
ADMIT = (
    _PRELUDE
    + """
local nwin, gated, tokens = tonumber(ARGV[1]), ARGV[2] == '1', tonumber(ARGV[3])
local member = ARGV[4] .. ':' .. ARGV[3]
local now = now_us()
local g = 2 * nwin
local claim, lr, lt = false, false, false
if gated then
  local cd = num(redis.call('GET', KEYS[g + 1]), 0)
  if cd > now then return {0, cd - now, 0, 'cooldown'} end
  local h = redis.call('HMGET', KEYS[g + 2], 'open', 'ou', 'pu')
  if h[1] == '1' then
    local ou, pu = num(h[2], 0), num(h[3], 0)
    if ou > now then return {0, ou - now, 0, 'breaker'} end
    if pu > now then return {0, pu - now, 0, 'breaker'} end
    claim = true
  end
  lr = redis.call('GET', KEYS[g + 3])
  if lr and tonumber(lr) < 1 then
    return {0, redis.call('PTTL', KEYS[g + 3]) * 1000, 0, 'provider_requests'}
  end
  lt = redis.call('GET', KEYS[g + 4])
  if lt and tonumber(lt) < tokens then
    return {0, redis.call('PTTL', KEYS[g + 4]) * 1000, 0, 'provider_tokens'}
  end
end
local worst, wi, wu = 0, 0, ''
local function consider(wait, i, u)
  if worst ~= -1 and (wait == -1 or wait > worst) then worst, wi, wu = wait, i, u end
end
for i = 1, nwin do
  local z, s, b = KEYS[2 * i - 1], KEYS[2 * i], 5 + 3 * (i - 1)
  local w, rl, tl = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  purge(z, s, now - w)
  if rl >= 0 then
    local n = redis.call('ZCARD', z)
    if n + 1 > rl then
      if rl == 0 then consider(-1, i, 'r') else
        local e = redis.call('ZRANGE', z, n - rl, n - rl, 'WITHSCORES')
        consider(tonumber(e[2]) + w - now, i, 'r')
      end
    end
  end
  if tl >= 0 then
    local used = num(redis.call('GET', s), 0)
    if used + tokens > tl then
      if tokens > tl then consider(-1, i, 't') else
        -- Walk from the oldest entry until enough tokens would have left the window.
        local need, freed, start, wait = used + tokens - tl, 0, 0, w
        while true do
          local e = redis.call('ZRANGE', z, start, start + 127, 'WITHSCORES')
          if #e == 0 then break end
          for j = 1, #e, 2 do
            freed = freed + weight(e[j])
            if freed >= need then wait = tonumber(e[j + 1]) + w - now break end
          end
          if freed >= need then break end
          start = start + 128
        end
        consider(wait, i, 't')
      end
    end
  end
end
if wi ~= 0 then return {0, worst, wi, wu} end
for i = 1, nwin do
  local z, s = KEYS[2 * i - 1], KEYS[2 * i]
  local ttl = fmt(tonumber(ARGV[5 + 3 * (i - 1) + 1]) / 1000 + 1000)
  redis.call('ZADD', z, fmt(now), member)
  redis.call('INCRBY', s, ARGV[3])
  redis.call('PEXPIRE', z, ttl)
  redis.call('PEXPIRE', s, ttl)
end
if gated then
  -- DECRBY keeps the key's TTL; only touch budgets that exist (else it would never expire).
  if lr then redis.call('DECRBY', KEYS[g + 3], 1) end
  if lt then redis.call('DECRBY', KEYS[g + 4], ARGV[3]) end
  if claim then redis.call('HSET', KEYS[g + 2], 'pu', fmt(now + tonumber(ARGV[5]))) end
end
return {1, 0, 0, ''}
"""
)

# KEYS: z1, s1, ..., zN, sN, learned_requests, learned_tokens
# ARGV: nwin, rid ('' = none), est, actual, req_remaining, req_reset_us, tok_remaining,
#       tok_reset_us (remaining -1 = not reported), then per window: window_us, req_limit,
#       tok_limit
SETTLE = (
    _PRELUDE
    + """
local nwin, rid = tonumber(ARGV[1]), ARGV[2]
local est, actual = tonumber(ARGV[3]), tonumber(ARGV[4])
local delta = actual - est
if delta ~= 0 and nwin > 0 then
  local old = false
  if rid ~= '' then old = rid .. ':' .. ARGV[3]
  elseif delta > 0 then
    -- Without a ticket only an increase is safe: charge it to the newest entry.
    old = redis.call('ZRANGE', KEYS[1], -1, -1)[1] or false
  end
  if old then
    local w = weight(old)
    local new = string.match(old, '^(.*):') .. ':' .. fmt(w + delta)
    for i = 1, nwin do
      local z, s = KEYS[2 * i - 1], KEYS[2 * i]
      local score = redis.call('ZSCORE', z, old)
      if score then
        redis.call('ZREM', z, old)
        redis.call('ZADD', z, score, new)
        redis.call('INCRBY', s, fmt(delta))
      end
    end
  end
end
local rrem, trem = tonumber(ARGV[5]), tonumber(ARGV[7])
if rrem < 0 and trem < 0 then return 0 end
local now = now_us()
local own_r, own_t = false, false
for i = 1, nwin do
  local z, s, b = KEYS[2 * i - 1], KEYS[2 * i], 8 + 3 * (i - 1)
  local w, rl, tl = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  purge(z, s, now - w)
  if rl >= 0 then
    local left = rl - redis.call('ZCARD', z)
    if not own_r or left < own_r then own_r = left end
  end
  if tl >= 0 then
    local left = tl - num(redis.call('GET', s), 0)
    if not own_t or left < own_t then own_t = left end
  end
end
-- Keep the provider's budget only when it is tighter than our own accounting.
local function learn(k, rem, reset_us, own)
  if rem < 0 then return end
  if (not own) or rem < own then
    redis.call('SET', k, fmt(rem), 'PX', fmt(math.max(1, math.ceil(reset_us / 1000))))
  else
    redis.call('DEL', k)
  end
end
learn(KEYS[2 * nwin + 1], rrem, tonumber(ARGV[6]), own_r)
learn(KEYS[2 * nwin + 2], trem, tonumber(ARGV[8]), own_t)
return 0
"""
)

# KEYS: health, cooldown
# ARGV: kind, latency_ms, error, has_error, cooldown_us (0 = none), failure_threshold,
#       open_base_us, open_max_us, ewma_alpha, latency_samples, health_ttl_ms
# Mirrors health.apply(); the float arithmetic is the same IEEE doubles, so both backends agree.
REPORT = (
    _PRELUDE
    + """
local h = KEYS[1]
local f = redis.call('HMGET', h, 'open', 'ou', 'fails', 'trips', 'er', 'lat')
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
redis.call('HSET', h, 'open', open and '1' or '0', 'ou', fmt(ou), 'fails', fmt(fails),
  'trips', fmt(trips), 'er', string.format('%.17g', er), 'pu', '0', 'lc', fmt(now))
if #extra > 0 then redis.call('HSET', h, unpack(extra)) end
if ARGV[4] == '1' then redis.call('HSET', h, 'le', ARGV[3]) end
redis.call('PEXPIRE', h, ARGV[11])
local cool = tonumber(ARGV[5])
if cool > 0 then
  local untl = now + cool
  if untl > num(redis.call('GET', KEYS[2]), 0) then
    redis.call('SET', KEYS[2], fmt(untl), 'PX', fmt(math.ceil(cool / 1000)))
  end
end
return 0
"""
)

# KEYS: per plan: z1, s1, ..., zN, sN, cooldown, health, learned_requests, learned_tokens
# ARGV: nplans, then per plan: nwin, window_us x nwin
# Returns {now_us, per plan: cooldown, open, ou, er, p50, le, lc, learned_r, learned_t,
#          (count, tokens) x nwin}; absent values are nil.
SNAPSHOT = (
    _PRELUDE
    + """
local now = now_us()
local out = {now}
local k, a = 0, 1
for p = 1, tonumber(ARGV[1]) do
  a = a + 1
  local nwin = tonumber(ARGV[a])
  local g = k + 2 * nwin
  out[#out + 1] = redis.call('GET', KEYS[g + 1])
  local h = redis.call('HMGET', KEYS[g + 2], 'open', 'ou', 'er', 'p50', 'le', 'lc')
  for i = 1, 6 do out[#out + 1] = h[i] end
  out[#out + 1] = redis.call('GET', KEYS[g + 3])
  out[#out + 1] = redis.call('GET', KEYS[g + 4])
  for i = 1, nwin do
    a = a + 1
    local z, s = KEYS[k + 2 * i - 1], KEYS[k + 2 * i]
    purge(z, s, now - tonumber(ARGV[a]))
    out[#out + 1] = redis.call('ZCARD', z)
    out[#out + 1] = num(redis.call('GET', s), 0)
  end
  k = g + 4
end
return out
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
