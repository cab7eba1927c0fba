#!/usr/bin/env bash
# The README's benchmark command: installs what it needs, builds, and runs the allreduce bandwidth
# benchmark on 4 local ranks over a size sweep, checking every result (-c 1).
#   scripts/bench.sh [all_reduce_perf flags]   (default: -b 8 -e 128M -f 4 -c 1)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh >/dev/null
args=("$@")
((${#args[@]})) || args=(-b 8 -e 128M -f 4 -c 1)
exec build/tools/braidrun -n "${NRANKS:-4}" build/bench/all_reduce_perf "${args[@]}"
