#!/usr/bin/env bash
# Flame graphs of the gateway under the c32 load of peers.sh: the same nginx upstream and
# request, the gateway (bench/serve.sh) started under py-spy, wrk -c32 for PROFILE_S seconds
# (default 10) per model. Writes OUT_DIR/<label>-<model>.svg (default bench/profiles/);
# FORMAT=raw EXT=txt gives py-spy's collapsed stacks instead (for scripts).
#
# Usage: profile.sh LABEL [MODEL,MODEL...]     e.g. profile.sh before mock-model,auto
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
label=${1:?usage: profile.sh LABEL [MODELS]}; models=${2:-mock-model,auto}
cache=${BENCH_CACHE:-$HOME/.cache/gateway-bench}; out=${OUT_DIR:-$here/profiles}
key=${GATEWAY_KEY:-sk-bench}; secs=${PROFILE_S:-10}; py_spy=${PY_SPY:-.venv/bin/py-spy}
mkdir -p "$cache/nginx" "$out"
sed "s#__DIR__#$cache/nginx#g" "$here/mock-upstream.nginx.conf" > "$cache/nginx/nginx.conf"
[ -f "$cache/nginx/nginx.pid" ] && kill "$(cat "$cache/nginx/nginx.pid")" 2>/dev/null || true
sleep 0.2; nginx -c "$cache/nginx/nginx.conf"
trap 'kill "$(cat "$cache/nginx/nginx.pid")" 2>/dev/null || true' EXIT
IFS=, read -ra list <<< "$models"
for m in "${list[@]}"; do
  lf="$cache/profile-$m.lua"
  { echo 'wrk.method = "POST"'; echo 'wrk.headers["Content-Type"] = "application/json"'
    echo "wrk.headers[\"Authorization\"] = \"Bearer $key\""
    printf "wrk.body = '{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello in one sentence.\"}],\"max_tokens\":32}'\n" "$m"; } > "$lf"
  bash "$here/serve.sh" > "$cache/profile-gateway.log" 2>&1 & gp=$!
  for _ in $(seq 1 120); do curl -sf -o /dev/null http://127.0.0.1:${PORT:-8000}/health && break; sleep 0.5; done
  wrk -t1 -c32 -d2s -s "$lf" "http://127.0.0.1:${PORT:-8000}/v1/chat/completions" > /dev/null
  "$py_spy" record --nonblocking -r 200 -d "$secs" -p "$gp" -f "${FORMAT:-flamegraph}" \
    -o "$out/$label-$m.${EXT:-svg}" > /dev/null 2>&1 &
  sp=$!; sleep 0.5
  wrk -t1 -c32 -d$((secs - 1))s -s "$lf" --latency "http://127.0.0.1:${PORT:-8000}/v1/chat/completions" \
    | grep -E "Requests/sec| 50%| 99%|Non-2xx" | tr -s ' ' | tr '\n' ' '; echo " ($label $m)"
  wait "$sp" || true
  kill "$gp" 2>/dev/null || true; wait "$gp" 2>/dev/null || true
done
