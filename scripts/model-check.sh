#!/usr/bin/env bash
# The cost model against this machine: for each collective, algorithm and size, the time
# `braid-info --tuning` predicts next to the time the *_perf benchmark measures with that algorithm
# forced (BRAID_ALGO; out-of-place, median of 3 runs), and their ratio. The model is good where
# every ratio is within 0.7-1.3. Set BRAID_TUNING_FILE to check a calibration
# (`braid-info --calibrate FILE` writes one).
#   scripts/model-check.sh [build dir] [ranks] [shm|tcp]
# Prints: collective algorithm bytes predicted_us measured_us measured/predicted, then a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build} n=${2:-2} transport=${3:-shm}
sizes="8 2048 131072 2097152 33554432"
bench_of() {
  case $1 in
    braidAllReduce) echo all_reduce_perf ;;
    braidReduceScatter) echo reduce_scatter_perf ;;
    braidAllGather) echo all_gather_perf ;;
    braidBroadcast) echo broadcast_perf ;;
    braidReduce) echo reduce_perf ;;
  esac
}
export BRAID_TRANSPORT=$transport
measure() {  # algorithm bench bytes -> median us of 3 runs
  local iters=2000 warm=100
  (($3 >= 1 << 20)) && iters=10 warm=2
  (($3 >= 1 << 16 && $3 < 1 << 20)) && iters=200 warm=10
  for rep in 1 2 3; do
    BRAID_ALGO=$1 "$build/tools/braidrun" -n "$n" "$build/bench/$2" --host -b "$3" -e "$3" -c 0 \
      -n $iters -w $warm </dev/null | awk '/^ +[0-9]/ {print $6}'
  done | sort -g | sed -n 2p
}
"$build/tools/braid-info" --tuning --ranks "$n" --inside "$transport" --tsv |
  while IFS=$'\t' read -r coll algo bytes predicted; do
    [[ $predicted != inf ]] || continue
    if [[ $coll == braidAllGather || $coll == braidReduceScatter ]]; then
      # The benchmark rounds each rank's share down to 16 bytes: the smallest size is the first
      # of braid-info's (8 B x 4^k) with 16 bytes per rank instead of 8.
      ((bytes >= 16 * n)) || continue
      [[ " $sizes " == *" $bytes "* ]] || ((bytes < 64 * n)) || continue
    else
      [[ " $sizes " == *" $bytes "* ]] || continue
    fi
    measured=$(measure "$algo" "$(bench_of "$coll")" "$bytes")
    awk -v c="$coll" -v a="$algo" -v b="$bytes" -v p="$predicted" -v m="$measured" \
      'BEGIN {printf "%-20s %-13s %10d %12.4g %12.4g %6.2f\n", c, a, b, p, m, m / p}'
  done | tee /dev/stderr |
  awk '{n++; if ($6 >= 0.7 && $6 <= 1.3) ok++} END {printf "within 30%%: %d of %d\n", ok, n}'
