"""Server-side Lua for health reports, snapshots and in-flight counts (see `lua` for layout)."""

from __future__ import annotations

from annas_gift.state.lua import PRELUDE

# KEYS: subject hash
# ARGV: kind, latency_ms, error, has_error, cooldown_us (0 = none), failure_threshold,
#       open_base_us, open_max_us, ewma_alpha, latency_samples, hash_ttl_ms
# For 'success', latency_ms may list several comma-separated latencies: one success each, in
# order (RedisBackend.report_successes, the batch of one loop iteration).
# Mirrors breaker.apply(); the float arithmetic is the same IEEE doubles, so both backends agree.
REPORT = (
    PRELUDE
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
  local xs = {}
  for v in string.gmatch(lat, '[^,]+') do xs[#xs + 1] = v end
  for v in string.gmatch(ARGV[2], '[^,]+') do
    er = er * (1 - alpha)
    xs[#xs + 1] = v
  end
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
    PRELUDE
    + """
local tag = ARGV[1]
local now = now_us()
local out = {fmt(now)}
for _, plan in ipairs(cjson.decode(ARGV[2])) do
  local subject, nwin = plan[1], #plan - 1
  local h = tag .. ':h:' .. subject
  local fields = {'cd', 'open', 'ou', 'er', 'p50', 'le', 'lc', 'lr', 'lru', 'lt', 'ltu'}
  for i = 1, nwin do
    local w = plan[i + 1]
    fields[9 + 3 * i], fields[10 + 3 * i], fields[11 + 3 * i] = 'c' .. w, 't' .. w, 'o' .. w
  end
  local f = redis.call('HMGET', h, unpack(fields))
  local row = {f[1], f[2], f[3], f[4], f[5], f[6], f[7], false, false}
  if num(f[9], 0) > now then row[8] = f[8] end
  if num(f[11], 0) > now then row[9] = f[10] end
  local set = {}
  for i = 1, nwin do
    local z = tag .. ':rl:' .. subject .. ':' .. plan[i + 1]
    local n, used, oldest, changed = purge(z, num(f[9 + 3 * i], 0), num(f[10 + 3 * i], 0),
      num(f[11 + 3 * i], 0), now - plan[i + 1] * 1000000)
    if changed then
      put(set, {fields[9 + 3 * i], fields[10 + 3 * i], fields[11 + 3 * i]}, n, used, oldest)
    end
    row[#row + 1] = n
    row[#row + 1] = used
  end
  if #set > 0 then redis.call('HSET', h, unpack(set)) end
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
