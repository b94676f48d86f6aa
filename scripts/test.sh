#!/usr/bin/env bash
# Install what is missing, build, and run the whole test suite. Usage: scripts/test.sh [preset]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
scripts/build.sh "$preset"
ctest --preset "$preset" -LE gpu
