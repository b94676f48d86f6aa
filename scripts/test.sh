#!/usr/bin/env bash
# Install what is missing, build, and run the whole test suite. Usage: scripts/test.sh [preset]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
scripts/build.sh "$preset"
# GPU tests need a device; under sanitizers the slow ones (the full validation set) are left to the release run.
if [ "$preset" = "release" ]; then
  ctest --preset "$preset" -LE gpu
else
  ctest --preset "$preset" -LE 'gpu|slow'
fi
