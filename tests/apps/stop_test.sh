#!/usr/bin/env bash
# Stopping kvsim: SIGINT or SIGTERM (what Ctrl-C and `timeout` send) ends every long command within the grace
# period (sim/core/interrupt.h: 2 s, plus slack for a loaded machine), with status 128 + the signal, and leaves no
# temporary file, no half-written output and no output folder it created. Usage: stop_test.sh KVSIM
set -u
kvsim=$(realpath "$1")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
failures=0

# stop NAME SIGNAL STATUS COMMAND...: runs COMMAND, sends SIGNAL after 1 s, checks the status and the time taken.
stop() {
  local name=$1 signal=$2 want=$3
  shift 3
  local start end rc
  start=$(date +%s%N)
  timeout --preserve-status -s "$signal" 1 "$@" >/dev/null 2>"$dir/err.txt"
  rc=$?
  end=$(date +%s%N)
  local ms=$(((end - start) / 1000000)) before=$failures
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL $name: exit $rc, expected $want: $(cat "$dir/err.txt")"
    failures=$((failures + 1))
  fi
  if [ "$ms" -gt 6000 ]; then
    echo "FAIL $name: took $ms ms to stop"
    failures=$((failures + 1))
  fi
  local left
  left=$(find "$dir" -name '*.tmp.*' | head -5)
  if [ -n "$left" ]; then
    echo "FAIL $name: temporary files left: $left"
    failures=$((failures + 1))
  fi
  [ "$failures" -eq "$before" ] && echo "ok   $name: exit $rc after $ms ms"
}

# Left alone, each command below runs for seconds to minutes on this project's 2-core machine (trace gen 3.8 s, the run
# 42 s, the sweep 18 s, the plan 45 s): past the 1 s at which the signal comes, with room for a faster simulator.
cat > long.yaml <<'YAML'
model: llama-3.1-8b
hardware: h100-sxm5-80gb
workload: {requests: 20000000, prompt_tokens: 100, output_tokens: 10, arrival: {rate: 50}}
YAML
cat > grid.yaml <<'YAML'
model: llama-3.1-8b
hardware: h100-sxm5-80gb
workload: {requests: 1000000, prompt_tokens: 100, output_tokens: 10, arrival: {rate: 20}}
sweep:
  cache.block_size: [8, 16, 32, 64, 128]
  engine.max_num_seqs: [16, 32, 64, 128, 256, 512]
YAML

stop "trace gen of 20M requests, SIGINT" INT 130 "$kvsim" trace gen --requests 20000000 --prompt-tokens 100 \
  --output-tokens 10 -o big.csv
[ -e big.csv ] && { echo "FAIL trace gen: big.csv written"; failures=$((failures + 1)); }
stop "run of 20M requests, SIGTERM" TERM 143 "$kvsim" run long.yaml -o run-out
[ -e run-out ] && { echo "FAIL run: run-out left behind"; failures=$((failures + 1)); }
stop "compare, SIGINT" INT 130 "$kvsim" compare long.yaml --policies vllm,h2o --rates 10,20 -o compare-out
stop "sweep of 30 points on 2 threads, SIGINT" INT 130 "$kvsim" sweep grid.yaml --jobs 2 -o sweep-out
if [ -e sweep-out/results.jsonl ]; then
  # Every line the sweep kept is whole.
  while IFS= read -r line; do
    case "$line" in
      '{'*'}') ;;
      *) echo "FAIL sweep: a cut line was kept: ${line:0:60}"; failures=$((failures + 1)) ;;
    esac
  done < sweep-out/results.jsonl
fi
stop "validate, SIGTERM" TERM 143 "$kvsim" validate
stop "plan, SIGINT" INT 130 "$kvsim" plan --model llama-3.1-8b --rate 5 --slo ttft_p90_ms=2000,tpot_p99_ms=100 \
  --duration 3600 --seeds 3

if [ "$failures" -ne 0 ]; then
  echo "$failures failures"
  exit 1
fi
