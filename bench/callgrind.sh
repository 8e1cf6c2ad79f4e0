#!/usr/bin/env bash
# Instructions per request (valgrind callgrind), repeatable where CPU time on a shared machine
# is not: bench/inproc.py drives the app in-process; only its measured rounds are counted.
# Writes OUT (default /tmp/callgrind-<label>-<model>.out) for callgrind_annotate / kcachegrind.
#
# Usage: callgrind.sh LABEL [MODEL] [REQUESTS]     e.g. PYTHONPATH=/old/tree bash bench/callgrind.sh before auto
# MODEL "probe" counts bench/probe.py (the pass-through limit) driven the same way: the floor.
# nginx must be listening where the catalog points (BENCH_CATALOG; bench/cost.sh starts it).
# INPROC_ARGS adds inproc.py options: INPROC_ARGS=--stream with BENCH_CATALOG=bench/catalog-stream.yaml
# counts a streamed request (nginx with stream.sh's config, whose SSE body it writes).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
label=${1:?usage: callgrind.sh LABEL [MODEL] [REQUESTS]}; model=${2:-mock-model}; n=${3:-200}
out=${OUT:-/tmp/callgrind-$label-$model.out}
run=(--model "$model"); [ "$model" = probe ] && run=(--probe); py=${PYTHON:-$here/../.venv/bin/python}
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
  "$py" "$here/inproc.py" "${run[@]}" --requests "$n" --reps 1 --callgrind --label "$label" \
  ${INPROC_ARGS:-} > "$out.log" 2>&1
ir=$(awk '/^totals:/{print $2; exit}' "$out")
grep -q "non-200 0" "$out.log" || { echo "requests failed: $out.log" >&2; exit 1; }
awk -v ir="$ir" -v n="$n" -v l="$label" -v m="$model" \
  'BEGIN { printf "%-8s %-12s %8.0f k instructions/request (%d requests)\n", l, m, ir / n / 1000, n }'
