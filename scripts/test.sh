#!/usr/bin/env bash
# The README's test command: installs what it needs, builds, and runs the whole suite with ctest.
#   scripts/test.sh           Release build in build/
#   scripts/test.sh --asan    AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
# ctest labels: quick, slow, fault, rdma (ctest -L quick runs the fast ones only).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [[ "${1:-}" == "--asan" ]]; then
  export BUILD_DIR=build-asan BUILD_TYPE=RelWithDebInfo
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
  scripts/build.sh -DBRAID_SANITIZE=address,undefined -DBRAID_BUILD_BENCH=OFF
else
  export BUILD_DIR=build
  scripts/build.sh
fi
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 -j1
