#!/usr/bin/env bash
# Every algorithm forced (BRAID_ALGO) for each collective it serves, side by side in one run, at
# 2 and 4 local ranks (shared memory unless the environment says otherwise). Each figure is the
# median of 3 runs of the *_perf benchmark: out-of-place time in us.
#   bench/compare_algorithms.sh [build dir] [rank counts]
# Prints: ranks, collective, size in bytes, then algorithm=time for each algorithm.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build} ranks=${2:-2 4}
# collective, its benchmark, the algorithms that serve it
cases=(
  "allreduce all_reduce_perf recdbl rabenseifner dbtree ring"
  "reducescatter reduce_scatter_perf rabenseifner ring"
  "allgather all_gather_perf bruck ring"
  "broadcast broadcast_perf tree chain"
  "reduce reduce_perf tree chain"
)
# One run: size (B) and out-of-place time (us) per line, for 8 B (allgather and reduce-scatter:
# 16 bytes per rank, the smallest they run) and for 64 KiB to 16 MiB in steps of 4x.
times() {
  local n=$1 bin=$2 small=8
  [[ $bin == all_gather_perf || $bin == reduce_scatter_perf ]] && small=$((16 * n))
  "$build/tools/braidrun" -n "$n" "$build/bench/$bin" -b $small -e $small -c 0 -n 200 -w 20 |
    awk '/^ +[0-9]/ {print $1, $6}'
  "$build/tools/braidrun" -n "$n" "$build/bench/$bin" -b 64K -e 16M -f 4 -c 0 -n 20 -w 3 | awk '/^ +[0-9]/ {print $1, $6}'
}
median3() { sort -g | awk '{v[NR] = $1} END {print v[2]}'; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for n in $ranks; do
  for c in "${cases[@]}"; do
    read -r coll bin algos <<<"$c"
    # Interleaved, so a noisy moment hits every algorithm alike.
    for rep in 1 2 3; do
      for algo in $algos; do BRAID_ALGO=$algo times "$n" "$bin" >"$tmp/$algo.$rep"; done
    done
    for size in $(awk '{print $1}' "$tmp/$(awk '{print $1}' <<<"$algos").1"); do
      line="$n $coll $size"
      for algo in $algos; do
        line+=" $algo=$(cat "$tmp/$algo".{1,2,3} | awk -v s="$size" '$1 == s {print $2}' | median3)"
      done
      echo "$line"
    done
  done
done
