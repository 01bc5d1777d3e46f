#!/usr/bin/env bash
# Loader benchmark: skipzoo's C++ loader vs a Python DataLoader doing the same work, with 1 and 2
# workers, in one session. Usage: bench/run_loader_bench.sh [BUILD_DIR] [DATA_DIR]
# Not a test: run it on a quiet machine (check `uptime`).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
DATA=${2:-/tmp/skipzoo_bench_shapes}
CLI="$BUILD_DIR/apps/skipzoo"
ARGS=(--patch 256 --batch 8 --batches ${BATCHES:-40} --warmup 5 --augment full)

[ -d "$DATA" ] || "$CLI" data make-shapes --out "$DATA" --count 64 --min-size 256 --max-size 640 --seed 0 >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
results=()
for w in 1 2; do
  results+=("$("$CLI" bench loader --data "$DATA" --workers "$w" "${ARGS[@]}" --json)")
  results+=("$(/usr/bin/python3 bench/loader_bench.py --data "$DATA" --workers "$w" "${ARGS[@]}" --json)")
  # With the decoded-image cache (threads share one; DataLoader's worker processes could not).
  results+=("$("$CLI" bench loader --data "$DATA" --workers "$w" "${ARGS[@]}" --cache-mb 1024 --json | sed 's/"skipzoo"/"skipzoo+cache"/')")
done
printf '%s\n' "${results[@]}" | /usr/bin/python3 -c '
import json, sys
rows = [json.loads(line) for line in sys.stdin]
rate = lambda w, impl: next(r for r in rows if r["workers"] == w and r["implementation"] == impl)["patches_per_s"]
print("| workers | skipzoo (C++) patches/s | Python DataLoader patches/s | C++ / Python | C++ with cache | cached / Python |")
print("|---|---|---|---|---|---|")
for w in sorted({r["workers"] for r in rows}):
    c, p, k = rate(w, "skipzoo"), rate(w, "python"), rate(w, "skipzoo+cache")
    print(f"| {w} | {c:.1f} | {p:.1f} | {c / p:.2f}x | {k:.1f} | {k / p:.2f}x |")
'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
