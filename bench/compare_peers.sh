#!/usr/bin/env bash
# One collective on 2 local ranks (default allreduce): Braid over shm and over tcp, next to Open MPI
# (vader and tcp), MPICH (shared memory) and Gloo from ../shared/peers, in one run so the figures
# compare (the machine is noisy: compare ratios). Prints one line per library and size: time in us
# and busbw in GB/s, out-of-place then in-place (N/A where a library has no such call: MPI_Bcast is
# in place only).
#   bench/compare_peers.sh [build dir] [sizes] [allreduce|broadcast|allgather|reducescatter|reduce]
#                          [all|shm|tcp]
# (peers built as ../shared/peers/README.md says). shm: Braid shm, Open MPI vader and MPICH only;
# tcp: Braid tcp, Open MPI tcp and Gloo only.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build} sizes=${2:-8 65536 1048576 268435456} coll=${3:-allreduce} which=${4:-all}
shm() { [[ $which != tcp ]]; }
tcp() { [[ $which != shm ]]; }
case $coll in
  allreduce) bench=all_reduce_perf ;;
  broadcast) bench=broadcast_perf ;;
  allgather) bench=all_gather_perf ;;
  reducescatter) bench=reduce_scatter_perf ;;
  reduce) bench=reduce_perf ;;
  *) echo "unknown collective $coll" >&2 && exit 2 ;;
esac
peers=../shared/peers
row() {
  awk -v lib="$1" '/^ +[0-9]/ {
    printf "%-22s %10s B %12s us %8s GB/s %12s us %8s GB/s\n", lib, $1, $6, $8, $10, $12}'
}
for s in $sizes; do
  n=20000; ((s >= 1 << 16)) && n=2000; ((s >= 1 << 20)) && n=200; ((s >= 1 << 22)) && n=40
  ((s >= 1 << 26)) && n=8
  shm && "$build/tools/braidrun" -n 2 "$build/bench/$bench" --host -b "$s" -e "$s" -c 0 -n $n -w 5 |
    row "braid shm"
  tcp && BRAID_SHM_DISABLE=1 "$build/tools/braidrun" -n 2 "$build/bench/$bench" --host -b "$s" -e "$s" \
    -c 0 -n $n -w 5 | row "braid tcp"
done
list=$(echo "$sizes" | tr ' ' ',')
shm && (cd "$peers" && scripts/run_mpi.sh 2 shm -o "$coll" -s "$list") | row "openmpi vader (shm)"
shm && (cd "$peers" && scripts/run_mpich.sh 2 -o "$coll" -s "$list") | row "mpich (shm)"
tcp && (cd "$peers" && scripts/run_mpi.sh 2 tcp -o "$coll" -s "$list") | row "openmpi tcp"
[[ $which == shm ]] && exit 0
# Gloo as users get it: its chunked ring for allreduce (in place only), its gloo::* API otherwise.
if [[ $coll == allreduce ]]; then
  (cd "$peers" && scripts/run_gloo.sh 2 -o "$coll" -a ring_chunked -L -s "$list" -I) |
    row "gloo ring_chunked"
elif [[ $coll != reducescatter ]]; then
  (cd "$peers" && scripts/run_gloo.sh 2 -o "$coll" -a new -L -s "$list") | row "gloo"
fi
