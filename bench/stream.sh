#!/usr/bin/env bash
# Streaming overhead on this machine: the same upstream (nginx on 127.0.0.1:9000 answering
# /stream/v1/chat/completions with a fixed SSE body of 100 content chunks), the same request,
# the same client (stream_client.py, one connection), each target pinned to CPU 1 while nginx
# and the client share CPU 0. Prints one row per target: TTFB p50/p99, total p50/p99, the cost
# per chunk after the first, and streams/s. Rows: direct (nginx), the Python pass-through probe
# (probe.py relaying the stream), the gateway under test.
#
# Usage:
#   stream.sh [--gateway-cmd 'CMD'] [--gateway-url URL] [--model NAME] [--key KEY] [--probe-python PY]
#     --gateway-cmd  command that starts the gateway (bench/serve.sh); it gets
#                    BENCH_CATALOG=bench/catalog-stream.yaml, whose mock-stream model streams
#     --model        model name sent to the gateway (default mock-stream)
#     --python       a Python with aiohttp, orjson and uvicorn (default ./.venv/bin/python)
# SEQ_S sets the measured seconds per target (default 8). Shares its cache directory and ports
# with peers.sh: run one at a time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${BENCH_CACHE:-$HOME/.cache/gateway-bench}
gw_cmd="" gw_url="http://127.0.0.1:8000" model="mock-stream" key=${GATEWAY_KEY:-sk-bench}
py=""; [ -x .venv/bin/python ] && py=$(pwd)/.venv/bin/python
seq_s=${SEQ_S:-8}
while [ $# -gt 0 ]; do
  case "$1" in
    --gateway-cmd) gw_cmd=$2; shift 2;;
    --gateway-url) gw_url=$2; shift 2;;
    --model) model=$2; shift 2;;
    --key) key=$2; shift 2;;
    --python|--probe-python) py=$2; shift 2;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
[ -n "$py" ] && "$py" -c "import aiohttp, orjson, uvicorn" 2>/dev/null || {
  echo "stream.sh: needs --python with aiohttp, orjson and uvicorn (scripts/bootstrap)" >&2; exit 2; }
mkdir -p "$cache/nginx"
command -v nginx >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq nginx-light >/dev/null; }
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  [ -f "$cache/nginx/nginx.pid" ] && kill "$(cat "$cache/nginx/nginx.pid")" 2>/dev/null || true; }
# nginx's worker runs unprivileged: the body lives in a world-readable directory of our own.
www=$(mktemp -d); chmod 755 "$www"
trap 'cleanup; rm -rf "$www"' EXIT

# The fixed SSE body: 100 chunks of one word each, a finish chunk, usage, [DONE].
"$py" - "$www/stream.sse" <<'PY'
import sys, orjson
base = {"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1700000000, "model": "mock-model"}
def event(delta, finish=None):
    return b"data: " + orjson.dumps({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + b"\n\n"
out = [event({"role": "assistant", "content": "Hello"})]
out += [event({"content": f" word{i}"}) for i in range(1, 100)]
out.append(event({}, "stop"))
usage = {"prompt_tokens": 12, "completion_tokens": 100, "total_tokens": 112}
out.append(b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n")
out.append(b"data: [DONE]\n\n")
open(sys.argv[1], "wb").write(b"".join(out))
PY
chmod 644 "$www/stream.sse"
sed -e "s#__DIR__#$cache/nginx#g" -e "s#__STREAM_FILE__#$www/stream.sse#g" "$here/mock-upstream.nginx.conf" > "$cache/nginx/nginx.conf"
[ -f "$cache/nginx/nginx.pid" ] && kill "$(cat "$cache/nginx/nginx.pid")" 2>/dev/null || true
sleep 0.2; nginx -c "$cache/nginx/nginx.conf"; sleep 0.3
for p in $(cat "$cache/nginx/nginx.pid") $(pgrep -P "$(cat "$cache/nginx/nginx.pid")" || true); do taskset -pc 0 "$p" >/dev/null; done

wait_up() { for _ in $(seq 1 120); do curl -sf -o /dev/null "$1" && return 0; sleep 0.5; done; echo "not up: $1" >&2; return 1; }
measure() { # name, url, model
  taskset -c 0 "$py" "$here/stream_client.py" --name "$1" --url "$2" --model "$3" --key "$key" --seconds "$seq_s"
}

measure "direct (upstream only)" http://127.0.0.1:9000/stream/v1/chat/completions mock-model

taskset -c 1 "$py" "$here/probe.py" --port 8100 --key "$key" --upstream http://127.0.0.1:9000/stream \
  > "$cache/probe-stream.log" 2>&1 & pr=$!; pids+=("$pr")
wait_up http://127.0.0.1:8100/health
measure "python pass-through (limit)" http://127.0.0.1:8100/v1/chat/completions mock-model
kill "$pr" 2>/dev/null || true; wait "$pr" 2>/dev/null || true

if [ -n "$gw_cmd" ]; then
  BENCH_CATALOG=bench/catalog-stream.yaml taskset -c 1 bash -c "exec $gw_cmd" > "$cache/gateway-stream.log" 2>&1 & gp=$!; pids+=("$gp")
  wait_up "$gw_url/health"
  measure "gateway model=$model" "$gw_url/v1/chat/completions" "$model"
  kill "$gp" 2>/dev/null || true; wait "$gp" 2>/dev/null || true
fi
