#!/usr/bin/env bash
# Allreduce on 2 local ranks: Braid over shm and over tcp, next to Open MPI (vader and tcp) and Gloo
# from ../shared/peers, in one run so the figures compare (the machine is noisy: compare ratios).
# Prints one line per library and size: time in us and busbw in GB/s (out-of-place).
#   bench/compare_peers.sh [build dir] [sizes]   (peers built as ../shared/peers/README.md says)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build} sizes=${2:-8 65536 1048576 268435456}
peers=../shared/peers
row() { awk -v lib="$1" '/^ +[0-9]/ {printf "%-22s %10s B %12s us %8s GB/s\n", lib, $1, $6, $8}'; }
for s in $sizes; do
  n=200; ((s >= 1 << 24)) && n=5
  "$build/tools/braidrun" -n 2 "$build/bench/all_reduce_perf" --host -b "$s" -e "$s" -c 0 -n $n -w 5 | row "braid shm"
  BRAID_SHM_DISABLE=1 "$build/tools/braidrun" -n 2 "$build/bench/all_reduce_perf" --host -b "$s" -e "$s" -c 0 -n $n -w 5 |
    row "braid tcp"
done
list=$(echo "$sizes" | tr ' ' ',')
(cd "$peers" && scripts/run_mpi.sh 2 shm -o allreduce -s "$list" -O) | row "openmpi vader (shm)"
(cd "$peers" && scripts/run_mpi.sh 2 tcp -o allreduce -s "$list" -O) | row "openmpi tcp"
(cd "$peers" && scripts/run_gloo.sh 2 -o allreduce -a ring_chunked -L -s "$list" -I) |
  awk '/^ +[0-9]/ {printf "%-22s %10s B %12s us %8s GB/s\n", "gloo ring_chunked", $1, $10, $12}'
