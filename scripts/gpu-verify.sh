#!/usr/bin/env bash
# GPU verification in one go, for a machine with a CUDA GPU: builds what that machine can (no
# GoogleTest or MPI needed), runs the gpu test label, then measures in the same run the GPU's
# device-to-device copy bandwidth and allreduce on device buffers with 2 and 4 ranks on the one
# GPU. Everything goes to stdout and to LOG (default: docs/gpu-verification.log).
#   scripts/gpu-verify.sh [LOG]
set -uo pipefail
cd "$(dirname "$0")/.."
log=${1:-docs/gpu-verification.log}
build=${BUILD_DIR:-build-gpu}
{
  echo "# scripts/gpu-verify.sh, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release 2>&1 | grep -E 'optional features|Warning|Error' || true
  cmake --build "$build" -j "$(nproc)" 2>&1 | tail -3
  echo "## ctest -L gpu"
  ctest --test-dir "$build" -L gpu --output-on-failure --timeout 600 2>&1
  echo "## device_copy_perf"
  "$build/bench/device_copy_perf" -b 8 -e $((1 << 30)) -n 20 2>&1
  for n in 2 4; do
    echo "## braidrun -n $n all_reduce_perf --device (float sum)"
    "$build/tools/braidrun" -n "$n" --timeout 500 "$build/bench/all_reduce_perf" --device \
      -b 8 -e 256M -f 4 -n 20 -w 5 -c 1 2>&1
  done
} | tee "$log"
