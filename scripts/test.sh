#!/usr/bin/env bash
# Install what is missing, build, and run the whole test suite. Usage: scripts/test.sh [preset]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
scripts/build.sh "$preset"
# GPU tests need a device (they are labelled gpu); everything else runs. Under sanitizers the full validation set
# (Validate.EveryCaseHolds, labelled slow: every case's rate sweeps over the paper's hour-long traces, about 80 s in
# a release build and over 35 minutes under ASan on 2 cores) is left to the release run, which checks its numbers;
# its code paths run under the sanitizers in Validate.QuickCasesHold and the unit tests.
if [ "$preset" = release ]; then
  ctest --preset "$preset" -LE gpu
else
  ctest --preset "$preset" -LE 'gpu|slow'
fi
