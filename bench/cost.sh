#!/usr/bin/env bash
# CPU time the gateway spends per request, for A/B comparisons on a busy machine: wall-clock
# latency there measures the other tenants, the process's own CPU time (utime + stime from
# /proc) much less so. Same nginx upstream and request as peers.sh; wrk -c32 for COST_S seconds
# (default 5) per model after a 2 s warm-up; prints CPU us/request, requests, wrk's p99.
#
# Usage: cost.sh [MODELS]          e.g. PYTHONPATH=/other/tree bash bench/cost.sh mock-model,auto
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
models=${1:-mock-model,auto}; cache=${BENCH_CACHE:-$HOME/.cache/gateway-bench}
key=${GATEWAY_KEY:-sk-bench}; secs=${COST_S:-5}; url="http://127.0.0.1:${PORT:-8000}"
mkdir -p "$cache/nginx"
sed "s#__DIR__#$cache/nginx#g" "$here/mock-upstream.nginx.conf" > "$cache/nginx/nginx.conf"
[ -f "$cache/nginx/nginx.pid" ] && kill "$(cat "$cache/nginx/nginx.pid")" 2>/dev/null || true
sleep 0.2; nginx -c "$cache/nginx/nginx.conf"
gp=""
trap 'kill "$(cat "$cache/nginx/nginx.pid")" 2>/dev/null || true; [ -n "$gp" ] && kill "$gp" 2>/dev/null || true' EXIT
ticks() { # utime + stime of a process and its children (workers), in clock ticks
  local t=0; for q in "$1" $(pgrep -P "$1" || true); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$q/stat" 2>/dev/null || echo 0))); done; echo $t; }
bash "$here/serve.sh" > "$cache/cost-gateway.log" 2>&1 & gp=$!
for _ in $(seq 1 120); do curl -sf -o /dev/null "$url/health" && break; sleep 0.5; done
IFS=, read -ra list <<< "$models"
for m in "${list[@]}"; do
  lf="$cache/cost-$m.lua"
  { echo 'wrk.method = "POST"'; echo 'wrk.headers["Content-Type"] = "application/json"'
    echo "wrk.headers[\"Authorization\"] = \"Bearer $key\""
    printf "wrk.body = '{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello in one sentence.\"}],\"max_tokens\":32}'\n" "$m"; } > "$lf"
  wrk -t1 -c32 -d2s -s "$lf" "$url/v1/chat/completions" > /dev/null
  a=$(ticks "$gp"); out=$(wrk -t1 -c32 -d${secs}s -s "$lf" --latency "$url/v1/chat/completions"); b=$(ticks "$gp")
  n=$(echo "$out" | awk '/requests in/{print $1}'); p99=$(echo "$out" | awk '/ 99%/{print $2}')
  bad=$(echo "$out" | grep -E "Non-2xx|Socket errors" | tr '\n' ' ' || true)
  awk -v t=$((b - a)) -v hz="$(getconf CLK_TCK)" -v n="$n" -v m="$m" -v p="$p99" -v bad="$bad" \
    'BEGIN { printf "%-12s cpu %7.0f us/request  (%d requests, c32 p99 %s) %s\n", m, t / hz * 1e6 / n, n, p, bad }'
done
