#!/usr/bin/env bash
# mpirun -np 2 kvsim sweep: every point of the grid exactly once in one results.jsonl, no rank files left.
set -euo pipefail
kvsim="$1"
grid="$2"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
mpirun --allow-run-as-root --oversubscribe -np 2 "$kvsim" sweep "$grid" -o "$out/s" >"$out/log" 2>&1 || {
  cat "$out/log"
  exit 1
}
cat "$out/log"
test ! -e "$out/s/results.rank-0.jsonl" && test ! -e "$out/s/results.rank-1.jsonl"
points="$(grep -o '"point":[0-9]*' "$out/s/results.jsonl" | sort -u | wc -l)"
lines="$(wc -l <"$out/s/results.jsonl")"
if [ "$points" -ne 6 ] || [ "$lines" -ne 6 ]; then
  echo "expected the 6 points once each, found $points distinct in $lines lines"
  exit 1
fi
echo "1 passed, 0 failed"
