#!/usr/bin/env bash
# Installs the Debian packages kvsim builds with, when any is missing. Idempotent and quiet when all is there.
set -euo pipefail
# OpenMPI (libopenmpi-dev, openmpi-bin: mpicxx and mpirun) lets CMake's find_package(MPI) build `mpirun -np N kvsim
# sweep` (apps/CMakeLists.txt); `kvsim --version` says whether a build has it.
# Chromium renders `kvsim report` pages headless in the report screenshot test (ctest -L browser; skipped without it).
packages=(cmake ninja-build g++ libfmt-dev libyaml-cpp-dev libcli11-dev libboost-graph-dev nlohmann-json3-dev
          libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev libopenmpi-dev openmpi-bin chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
