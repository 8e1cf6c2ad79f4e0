#!/usr/bin/env bash
# The gateway as peers.sh measures it: all features on (auth, classification, selection,
# usage recording), the bench catalog, a throwaway SQLite file, no access log. WORKERS=N runs
# N processes on the port (N > 1 needs REDIS_URL). BENCH_KEY=virtual also stores a virtual key
# whose secret is $BENCH_VIRTUAL_SECRET (default below): run peers.sh with --key that secret.
set -euo pipefail
cd "$(dirname "$0")/.."
db=$(mktemp -d)/bench.db
export ANNAS_GIFT_API_KEY=${GATEWAY_KEY:-sk-bench}
export ANNAS_GIFT_LITELLM__CONFIG_PATH=${BENCH_CATALOG:-bench/catalog.yaml}
export ANNAS_GIFT_SERVER__ACCESS_LOG=false
export ANNAS_GIFT_SERVER__LOG_LEVEL=warning
export DATABASE_URL=${DATABASE_URL:-sqlite+aiosqlite:///$db}
case ${BENCH_KEY:-settings} in
  settings) ;;
  virtual) .venv/bin/python bench/virtual_key.py "$DATABASE_URL" \
             "${BENCH_VIRTUAL_SECRET:-ag-bench-virtual-key-0000000000000000000000000}" ;;
  *) echo "BENCH_KEY must be settings or virtual, not '$BENCH_KEY'" >&2; exit 2 ;;
esac
exec .venv/bin/annas-gift serve --port "${PORT:-8000}" --workers "${WORKERS:-1}"
