"""Server-side Lua for USD budgets: reserve, reconcile and seed counters in one atomic step.

Counters are integer micro-USD (1 cent = 10,000) so sums are exact; each counter's name carries
its period (`…:day:2026-12-02`), so a new day or month simply starts a new counter and TTLs only
clean up. Arguments that go back into Redis are passed through as strings: Lua 5.1 would print
large numbers in exponent form.
"""

from __future__ import annotations

# KEYS: counters. ARGV: amount (µUSD), then per counter i: limit (ARGV[2i], -1 = count only)
# and ttl_ms (ARGV[2i+1], 0 = keep forever).
# Returns {1, 0, 0} when every limited counter stays within its limit after adding the amount
# (then all are incremented), else {0, index of the first counter that says no, its value}.
# A counter already at its limit refuses even a free request: "over budget" means stopped.
RESERVE = """
local amount = tonumber(ARGV[1])
local values = redis.call('MGET', unpack(KEYS))
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i])
  if limit >= 0 then
    local v = tonumber(values[i] or '0')
    if v >= limit or v + amount > limit then return {0, i, v} end
  end
end
for i = 1, #KEYS do
  redis.call('INCRBY', KEYS[i], ARGV[1])
  if ARGV[2 * i + 1] ~= '0' then redis.call('PEXPIRE', KEYS[i], ARGV[2 * i + 1]) end
end
return {1, 0, 0}
"""

# KEYS: counters. ARGV: delta (µUSD, may be negative), then per counter i: ttl_ms (ARGV[i+1]).
# Replaces a reservation's estimate with the real cost; a counter never goes below zero.
RECONCILE = """
for i = 1, #KEYS do
  local v = redis.call('INCRBY', KEYS[i], ARGV[1])
  if v < 0 then redis.call('SET', KEYS[i], '0') end
  if ARGV[i + 1] ~= '0' then redis.call('PEXPIRE', KEYS[i], ARGV[i + 1]) end
end
return 0
"""

# KEYS: counters. ARGV: per counter i: value (ARGV[2i-1], µUSD) and ttl_ms (ARGV[2i]).
# Sets each counter only if it does not exist yet: another instance's live count wins over
# the (slightly older) spend read back from the database.
SEED = """
local set = 0
for i = 1, #KEYS do
  local ok
  if ARGV[2 * i] ~= '0' then
    ok = redis.call('SET', KEYS[i], ARGV[2 * i - 1], 'NX', 'PX', ARGV[2 * i])
  else
    ok = redis.call('SET', KEYS[i], ARGV[2 * i - 1], 'NX')
  end
  if ok then set = set + 1 end
end
return set
"""
