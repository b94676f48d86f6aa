#!/usr/bin/env bash
# Builds the libFuzzer targets (preset fuzz: clang, ASan + UBSan) and runs each for SECONDS (default 60) over a seed
# corpus made from the project's own inputs: scenarios, catalog models and hardware, traces and fixtures, bad
# inputs (tests/bad_inputs, one file per bug found by hand or by a red team), validation cases and every past finding
# (tests/fuzz/regressions). Crashes land in build/fuzz/findings/<target>/; each becomes a regression test. CI runs it
# for 30 s per target (.ci/run). Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(scenario_yaml hf_config hardware_profile trace_reader validation_case)
scripts/bootstrap.sh
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ is needed (Debian package clang)" >&2; exit 2; }
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"
seed() {
  local dir="build/fuzz/corpus/$1"
  mkdir -p "$dir"
  shift
  for f in "$@"; do [ -f "$f" ] && cp "$f" "$dir/$(echo "$f" | tr '/' '_')"; done
}
seed scenario_yaml bench/scenarios/*.yaml tests/bad_inputs/*.yaml tests/bad_inputs/*/*.yaml \
  validation/cases/scenarios/*.yaml tests/fuzz/regressions/scenario_yaml/*
seed hf_config tests/bad_inputs/*.json tests/models/fixtures/*.json
seed hardware_profile hw/catalog/*.yaml tests/bad_inputs/profile_*.yaml tests/bad_inputs/bad_profile.yaml
seed trace_reader traces/samples/*.csv tests/traces/fixtures/* tests/bad_inputs/*.csv tests/bad_inputs/*.jsonl \
  tests/bad_inputs/*/*.csv tests/bad_inputs/*/*.jsonl
seed validation_case validation/cases/*.yaml tests/bad_inputs/cases/*.yaml
status=0
for t in "${targets[@]}"; do
  mkdir -p "build/fuzz/findings/$t"
  echo "fuzz.sh: $t for $seconds s"
  # -timeout: an input that runs for 25 s is a finding (a hang); the outer timeout ends a fuzzer that cannot stop.
  timeout -s KILL $((seconds + 120)) build/fuzz/tests/fuzz/fuzz_"$t" -seed=1 -max_total_time="$seconds" -timeout=25 \
    -max_len=65536 -rss_limit_mb=2048 \
    -artifact_prefix="build/fuzz/findings/$t/" "build/fuzz/corpus/$t" 2>"build/fuzz/findings/$t/log.txt" || status=1
  tail -n 3 "build/fuzz/findings/$t/log.txt"
done
exit $status
