#!/usr/bin/env bash
# Packs what scripts/gpu-measure.sh runs on a GPU machine that cannot build kvsim (no yaml-cpp, fmt, Boost or
# GoogleTest there, no network): kvsim and the GPU test programs from the release build (the CUDA runtime is linked
# in statically), plus every shared library they need that a stock Linux with an NVIDIA driver lacks, into
# build/gpu-bundle/{bin,lib} with a MANIFEST (commit, compiler, sizes). cuBLASLt is not packed (540 MB): the GPU
# machine's own is found at run time (kernels/cuda/cublaslt_lazy.cc, $KVSIM_CUBLASLT).
#
#   scripts/gpu-bundle.sh            # build (release preset) and pack
#   scripts/gpu-bundle.sh --no-build # pack what build/release holds
set -euo pipefail
cd "$(dirname "$0")/.."
build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "gpu-bundle.sh: unknown argument '$arg' (expected --no-build)" >&2; exit 2 ;;
  esac
done
if [[ $build == 1 ]]; then
  scripts/build.sh release >/dev/null
fi
bin_dir=build/release
programs=(apps/kvsim tests/kernels/kvsim_gpu_suites_tests tests/kernels/kvsim_gpu_probe_tests
          tests/kernels/kvsim_cublaslt_lazy_tests)
for p in "${programs[@]}"; do
  [[ -x $bin_dir/$p ]] || { echo "gpu-bundle.sh: $bin_dir/$p missing: build with CUDA (nvcc found) first" >&2; exit 2; }
done
if ldd "$bin_dir/apps/kvsim" | grep -q 'libcudart'; then
  echo "gpu-bundle.sh: kvsim links libcudart dynamically; the bundle needs the static runtime (kernels/CMakeLists.txt)" >&2
  exit 2
fi

out=build/gpu-bundle
rm -rf "$out.tmp"
mkdir -p "$out.tmp/bin" "$out.tmp/lib"
for p in "${programs[@]}"; do cp "$bin_dir/$p" "$out.tmp/bin/"; done
# Libraries every glibc system (zlib included) and every NVIDIA driver install has stay out; the rest go in.
system='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libgcc_s\.so|libstdc\+\+\.so|libz\.so|libcuda\.so)'
for p in "${programs[@]}"; do
  ldd "$bin_dir/$p" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | while read -r name path; do
    if ! [[ $name =~ $system ]]; then cp -L "$path" "$out.tmp/lib/$name"; fi
  done
done
{
  echo "commit: $(git rev-parse HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m), $(c++ --version | head -1), $(nvcc --version 2>/dev/null | tail -1 || /usr/local/cuda/bin/nvcc --version | tail -1)"
  echo "glibc: $(ldd --version | head -1)"
  (cd "$out.tmp" && find bin lib -type f -printf '%p %s\n' | sort)
} > "$out.tmp/MANIFEST"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "gpu-bundle.sh: $(du -sh "$out" | cut -f1) in $out (copy it with the checkout to the GPU machine, then run scripts/gpu-measure.sh there)"
