#!/usr/bin/env bash
# Install what is missing, build, and run the whole test suite. Usage: scripts/test.sh [preset]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
scripts/build.sh "$preset"
# GPU tests need a device (they are labelled gpu); everything else runs, under sanitizers too.
ctest --preset "$preset" -LE gpu
