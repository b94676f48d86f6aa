#!/usr/bin/env bash
# scripts/gpu-measure.sh without a GPU: --dry-run lists every step with its command and runs nothing; a real run on a
# machine whose GPU kvsim cannot use says so and exits 3, having written its environment log and summary, and no
# profile. Bad arguments exit 2. Usage: gpu_measure_test.sh BUILD_DIR (a build with apps/kvsim and the GPU tests)
set -u
root="$(cd "$(dirname "$0")/../.." && pwd)"
build=$(realpath "$1")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

if [[ ! -x $build/tests/kernels/kvsim_gpu_suites_tests ]]; then
  echo "skipped: a build without CUDA has no GPU tests to run"
  exit 0
fi

out=$("$root/scripts/gpu-measure.sh" --dry-run --bin "$build" --out "$dir/dry" 2>&1)
rc=$?
[[ $rc == 0 ]] || fail "--dry-run exited $rc: $out"
for s in 00-environment 01-probe 02-gpu-tests 02-cublaslt-lazy 03-calibrate-launch 03-calibrate-hbm \
         03-calibrate-pcie 03-calibrate-attention 03-calibrate-gemm 03-calibrate-gather 03-calibrate-host 03-refit \
         03-sanity 04-memcheck 05-engine-bench 06-hf-smoke 07-full 07-sanity; do
  grep -q "^$s " <<< "$out" || fail "--dry-run does not list step $s"
done
grep -q "KVSIM_REQUIRE_GPU=1" <<< "$out" || fail "--dry-run: the GPU tests do not run with KVSIM_REQUIRE_GPU=1"
grep -q -- "--require-gpu" <<< "$out" || fail "--dry-run: calibrate does not run with --require-gpu"
[[ -e $dir/dry ]] && fail "--dry-run created its output folder"
out=$("$root/scripts/gpu-measure.sh" --quick --dry-run --bin "$build" --out "$dir/dry" 2>&1)
grep -q "^07-full " <<< "$out" && fail "--quick still plans the full calibration"

"$root/scripts/gpu-measure.sh" --budget zero --bin "$build" > /dev/null 2>&1
rc=$?
[[ $rc == 2 ]] || fail "--budget zero exited $rc, expected 2"
"$root/scripts/gpu-measure.sh" --frobnicate > /dev/null 2>&1
rc=$?
[[ $rc == 2 ]] || fail "an unknown argument exited $rc, expected 2"

if nvidia-smi -L > /dev/null 2>&1; then
  echo "a GPU is visible: the no-GPU run is not checked here"
else
  err=$("$root/scripts/gpu-measure.sh" --bin "$build" --out "$dir/run" --budget 60 2>&1 >/dev/null)
  rc=$?
  [[ $rc == 3 ]] || fail "without a GPU: exited $rc, expected 3: $err"
  grep -q "no usable GPU" <<< "$err" || fail "without a GPU: does not say so: $err"
  [[ -s $dir/run/00-environment.log ]] || fail "without a GPU: no environment log"
  grep -q "01-probe" "$dir/run/summary.tsv" 2>/dev/null || fail "without a GPU: summary.tsv lacks the probe"
  ls "$dir/run"/profile-*.yaml > /dev/null 2>&1 && fail "without a GPU: a profile was written"
fi
if [[ $failures -gt 0 ]]; then exit 1; fi
echo "gpu-measure.sh: dry run, argument errors and the no-GPU refusal hold"
