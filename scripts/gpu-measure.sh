#!/usr/bin/env bash
# The whole GPU measurement in one command, for the first minutes on a new GPU machine (docs/measuring-a-gpu.md).
# Each step runs under its own timeout, inside one overall budget, and writes its log and outputs as it goes, so a
# machine that is taken back mid-run still leaves what was done:
#   00 environment   driver, nvidia-smi, libraries found, CPU quota, PyTorch / transformers / flash availability
#   01 probe         kvsim sees and uses the GPU (calibrate --require-gpu, launch suite); if not: say why, exit 3
#                    (kvsim that cannot start for missing libraries: exit 2)
#   02 gpu-tests     the GPU tests with KVSIM_REQUIRE_GPU=1 (a skipped test fails), and cuBLASLt's lazy loading
#   03 calibrate     kvsim calibrate --quick --require-gpu, one process per suite (a crash loses one suite),
#                    then --refit into profile-quick.yaml and --sanity against the datasheet
#   04 memcheck      compute-sanitizer --tool memcheck on the attention kernels and the mini engine
#   05 engine-bench  kvsim engine-bench --quick, predicted with the measured profile
#   06 hf-smoke      validation/gpu/hf_runs.py on a 2-layer model, offline
#   07 full          the full calibration, if at least --full-min seconds of the budget remain, and its sanity
# Exit 0 when every step passed, 3 when there is no usable GPU, 1 otherwise; summary.tsv lists each step's status.
#
#   scripts/gpu-measure.sh [--quick] [--out DIR] [--bin DIR] [--budget SECONDS] [--full-min SECONDS] [--dry-run]
#
# --quick skips step 07. --bin: the folder with bin/kvsim and bin/kvsim_gpu_*_tests (default build/gpu-bundle, made
# by scripts/gpu-bundle.sh, else build/release). --out: default $OUT when set, else build/gpu-measure. --budget:
# seconds for everything (default 480). --dry-run prints the steps and their commands and runs nothing.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
quick=0 dry=0 budget=480 full_min=150 out="${OUT:-}" bin=""
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --dry-run) dry=1 ;;
    --out) out="${2:?--out needs a folder}"; shift ;;
    --bin) bin="${2:?--bin needs a folder}"; shift ;;
    --budget) budget="${2:?--budget needs seconds}"; shift ;;
    --full-min) full_min="${2:?--full-min needs seconds}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu-measure.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
for n in budget full_min; do
  [[ ${!n} =~ ^[0-9]+$ && ${!n} -gt 0 ]] || { echo "gpu-measure.sh: --${n/_/-} expects whole seconds > 0, found '${!n}'" >&2; exit 2; }
done
out="${out:-$root/build/gpu-measure}"

# The programs: a bundle (bin/, lib/) or a build tree.
if [[ -z $bin ]]; then
  if [[ -x $root/build/gpu-bundle/bin/kvsim ]]; then bin="$root/build/gpu-bundle"; else bin="$root/build/release"; fi
fi
# The bundle's libraries are for kvsim's programs only (`kv` prefixes their commands): Python keeps its own.
libs=""
if [[ -x $bin/bin/kvsim ]]; then
  kvsim="$bin/bin/kvsim"
  tests_dir="$bin/bin"
  libs="$bin/lib"
elif [[ -x $bin/apps/kvsim ]]; then
  kvsim="$bin/apps/kvsim"
  tests_dir="$bin/tests/kernels"
else
  echo "gpu-measure.sh: no kvsim in $bin (expected bin/kvsim or apps/kvsim): run scripts/gpu-bundle.sh or scripts/build.sh" >&2
  exit 2
fi
for t in kvsim_gpu_suites_tests kvsim_cublaslt_lazy_tests; do
  [[ -x $tests_dir/$t ]] || { echo "gpu-measure.sh: $tests_dir/$t missing (a build without CUDA?)" >&2; exit 2; }
done
kv=(env "LD_LIBRARY_PATH=$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
export KVSIM_DATA_DIR="$root"
# cuBLASLt: the machine's own (the toolkit's, or PyTorch's wheel), unless the caller set one.
if [[ -z ${KVSIM_CUBLASLT:-} ]]; then
  for c in /usr/local/cuda/lib64/libcublasLt.so.13 /usr/local/cuda/targets/x86_64-linux/lib/libcublasLt.so.13 \
           $(python3 -c 'import glob, site; print(" ".join(f for d in site.getsitepackages() for f in glob.glob(d + "/nvidia/**/libcublasLt.so.13", recursive=True)))' 2>/dev/null); do
    if [[ -f $c ]]; then export KVSIM_CUBLASLT="$c"; break; fi
  done
fi

start=$(date +%s)
left() { echo $(( budget - ($(date +%s) - start) )); }
failed=0

# step NAME CAP COMMAND...: runs COMMAND under min(CAP, what the budget has left) seconds (SIGINT, then SIGKILL 10 s
# later: kvsim keeps what it finished), logs to NAME.log, appends to summary.tsv.
step() {
  local name="$1" cap="$2"; shift 2
  if [[ $dry == 1 ]]; then printf '%-16s <= %4ss  %s\n' "$name" "$cap" "$*"; return 0; fi
  local t; t=$(left); (( t > cap )) && t=$cap
  if (( t < 5 )); then
    printf '%s\tskipped\t0\tout of budget\n' "$name" >> "$out/summary.tsv"
    echo "== $name: skipped, out of budget" >&2
    failed=1
    return 1
  fi
  echo "== $name (<= ${t}s): $*" >&2
  local s0; s0=$(date +%s)
  timeout -s INT -k 10 "$t" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  local secs=$(( $(date +%s) - s0 ))
  local status=ok
  if (( rc == 124 || rc == 137 )); then status="timeout"; elif (( rc != 0 )); then status="failed (exit $rc)"; fi
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$secs" "$*" >> "$out/summary.tsv"
  echo "   $status in ${secs}s; tail of $out/$name.log:" >&2
  tail -n 4 "$out/$name.log" | sed 's/^/   | /' >&2
  [[ $status == ok ]] || failed=1
  [[ $status == ok ]]
}

environment() {
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "kernel: $(uname -a)"
  echo "cpus: nproc $(nproc); cgroup cpu.max: $(cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo none)"
  echo "memory: $(grep -E 'MemTotal|MemAvailable' /proc/meminfo | tr -s ' ' | paste -sd ';')"
  echo "kvsim: $kvsim ($("${kv[@]}" "$kvsim" --version 2>&1 | head -1))"
  [[ -f $bin/MANIFEST ]] && sed 's/^/bundle: /' "$bin/MANIFEST"
  echo "cuBLASLt: ${KVSIM_CUBLASLT:-not found: the GEMM suite and the mini engine will fail}"
  echo "libcuda: $(ldconfig -p 2>/dev/null | grep -m1 'libcuda.so.1' || echo 'not in the linker cache')"
  echo "compute-sanitizer: $(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || echo missing)"
  echo "--- nvidia-smi"
  nvidia-smi || echo "nvidia-smi failed (exit $?)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.limit,temperature.gpu,persistence_mode,compute_mode --format=csv || true
  echo "--- ldd kvsim"
  "${kv[@]}" ldd "$kvsim"
  echo "--- python"
  python3 - <<'PY'
import importlib
for name in ("torch", "transformers"):
    try:
        print(name, importlib.import_module(name).__version__)
    except Exception as e:
        print(name, "unavailable:", e)
try:
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    q = torch.randn(1, 8, 128, 128, device="cuda", dtype=torch.bfloat16)
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)
    torch.cuda.synchronize()
    print("flash sdpa: available on", torch.cuda.get_device_name(0), "cuda", torch.version.cuda)
except Exception as e:
    print("flash sdpa: unavailable:", e)
PY
}

if [[ $dry == 0 ]]; then
  mkdir -p "$out" || { echo "gpu-measure.sh: cannot create $out" >&2; exit 2; }
  printf 'step\tstatus\tseconds\tcommand\n' > "$out/summary.tsv"
  echo "gpu-measure.sh: $(date -u +%H:%M:%SZ), budget ${budget}s, outputs in $out" >&2
else
  echo "gpu-measure.sh --dry-run: budget ${budget}s, outputs in $out, programs from $bin; steps and their caps:"
fi

if [[ $dry == 1 ]]; then
  step 00-environment 60 "(driver, nvidia-smi, libraries, CPU quota, torch/transformers, flash)"
else
  environment > "$out/00-environment.log" 2>&1
  printf '00-environment\tok\t0\t(environment)\n' >> "$out/summary.tsv"
  missing=$("${kv[@]}" ldd "$kvsim" "$tests_dir/kvsim_gpu_suites_tests" 2>&1 | grep 'not found' | sort -u)
  if [[ -n $missing ]]; then
    echo "gpu-measure.sh: kvsim cannot start here, libraries missing (rebuild the bundle on an older system?):" >&2
    echo "$missing" >&2
    exit 2
  fi
fi

# Every output is removed before its step: a file left by an earlier run in the same folder is never taken for this
# run's.
fresh() { [[ $dry == 1 ]] || rm -f "$@"; }

fresh "$out/probe.yaml"
if ! step 01-probe 60 "${kv[@]}" "$kvsim" calibrate --quick --require-gpu --suites launch --force --out "$out/probe.yaml"; then
  if grep -q "no usable GPU" "$out/01-probe.log" 2>/dev/null; then
    echo "gpu-measure.sh: $(grep -m1 "no usable GPU" "$out/01-probe.log")" >&2
    echo "gpu-measure.sh: driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1 || echo unknown); this kvsim's CUDA runtime is 13.x (driver >= 580)" >&2
    exit 3
  fi
  echo "   the probe failed for another reason than the GPU (01-probe.log); going on" >&2
fi

fresh "$out/gpu-tests.xml"
step 02-gpu-tests 150 "${kv[@]}" KVSIM_REQUIRE_GPU=1 "$tests_dir/kvsim_gpu_suites_tests" --gtest_output="xml:$out/gpu-tests.xml"
if [[ $dry == 0 ]] && grep -q -e 'result="skipped"' -e '<skipped' "$out/gpu-tests.xml" 2>/dev/null; then
  echo "   a GPU test was skipped on a GPU machine: failed" >&2
  printf '02-gpu-tests\tfailed (a test was skipped)\t0\t\n' >> "$out/summary.tsv"
  failed=1
fi
step 02-cublaslt-lazy 30 "${kv[@]}" "$tests_dir/kvsim_cublaslt_lazy_tests"

quick_profiles=()
for suite in launch hbm pcie attention gemm gather host; do
  case "$suite" in gemm|gather) cap=120 ;; attention|pcie) cap=90 ;; *) cap=45 ;; esac
  fresh "$out/profile-quick-$suite.yaml"
  step "03-calibrate-$suite" "$cap" "${kv[@]}" "$kvsim" calibrate --quick --require-gpu --suites "$suite" --force \
    --out "$out/profile-quick-$suite.yaml"
  # A suite stopped by its timeout still wrote what it measured (measured.complete: false): keep it.
  [[ $dry == 1 || -f $out/profile-quick-$suite.yaml ]] && quick_profiles+=("$out/profile-quick-$suite.yaml")
done
fresh "$out/profile-quick.yaml"
if (( ${#quick_profiles[@]} > 0 )); then
  step 03-refit 30 "${kv[@]}" "$kvsim" calibrate --refit "$(IFS=,; echo "${quick_profiles[*]}")" --force \
    --out "$out/profile-quick.yaml"
  step 03-sanity 15 "${kv[@]}" "$kvsim" calibrate --sanity "$out/profile-quick.yaml"
fi

sanitizer="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"
step 04-memcheck 120 "${kv[@]}" "$sanitizer" --tool memcheck --error-exitcode 9 "$tests_dir/kvsim_gpu_suites_tests" \
  --gtest_filter='GpuDecodeAttention.*Matches*:GpuPrefillAttention.*:GpuMiniEngine.*'

bench_hw="$out/profile-quick.yaml"
[[ $dry == 1 || -f $bench_hw ]] || bench_hw=h100-sxm5-80gb
fresh "$out/engine-bench.csv" "$out/hf-smoke.csv" "$out/profile-full.yaml"
step 05-engine-bench 90 "${kv[@]}" "$kvsim" engine-bench --quick --model llama-3.1-8b --hardware "$bench_hw" --force \
  -o "$out/engine-bench.csv"

step 06-hf-smoke 120 python3 "$root/validation/gpu/hf_runs.py" --grid smoke --layers 2 --caches dynamic,static \
  --repeats 2 --out "$out/hf-smoke.csv"

if [[ $quick == 0 ]]; then
  if [[ $dry == 1 ]] || (( $(left) >= full_min )); then
    step 07-full 600 "${kv[@]}" "$kvsim" calibrate --require-gpu --force --out "$out/profile-full.yaml"
    step 07-sanity 15 "${kv[@]}" "$kvsim" calibrate --sanity "$out/profile-full.yaml"
  else
    printf '07-full\tskipped\t0\tless than %ss of the budget left\n' "$full_min" >> "$out/summary.tsv"
    echo "== 07-full: skipped, $(left)s left (< --full-min ${full_min}s)" >&2
  fi
fi

[[ $dry == 1 ]] && exit 0
echo "gpu-measure.sh: done in $(( $(date +%s) - start ))s; $out/summary.tsv:" >&2
column -t -s $'\t' "$out/summary.tsv" 2>/dev/null | cut -c1-150 >&2 || cat "$out/summary.tsv" >&2
exit $(( failed ? 1 : 0 ))
