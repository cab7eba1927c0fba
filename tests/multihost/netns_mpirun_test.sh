#!/usr/bin/env bash
# Two real "hosts" (network namespaces with their own hostnames, scripts/netns-hosts.sh), two
# ranks on each, launched by mpirun through its rsh agent as on a cluster. Checks that:
#  - each rank uses shm to the rank on its host and tcp to the others (BRAID_DEBUG=INFO log);
#  - the correctness matrix passes over that mix (matrix_check, bootstrapped from the environment);
#  - every *_perf benchmark, with -c 1 -d all -o all (and -r all where a root exists), exits 0 and
#    reports #wrong 0 on every row.
# Usage: netns_mpirun_test.sh REPO_DIR MATRIX_CHECK BENCH_DIR. Exits 77 (skipped, reason printed)
# where namespaces cannot be made.
set -euo pipefail
repo=$1 matrix_check=$2 bench_dir=$3
hosts_sh="$repo/scripts/netns-hosts.sh"
export NETNS_HOSTS_PREFIX="bt$$h"
skip() {
  echo "SKIPPED: $*"
  exit 77
}
[[ $(id -u) -eq 0 ]] || skip "network namespaces need root"
command -v mpirun >/dev/null || skip "mpirun (Open MPI) is not installed"
command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
if ! ip netns add "${NETNS_HOSTS_PREFIX}probe" 2>/dev/null; then
  skip "this machine does not allow network namespaces (ip netns add failed)"
fi
ip netns del "${NETNS_HOSTS_PREFIX}probe"

work=$(mktemp -d)
trap '"$hosts_sh" down; rm -rf "$work"' EXIT
"$hosts_sh" up 2 >"$work/hosts"
root_ip=$(awk 'NR == 1 {print $2}' "$work/hosts")
failed=0
fail() {
  echo "FAIL: $*"
  failed=1
}

echo "== correctness matrix, 2 hosts x 2 ranks"
if ! "$hosts_sh" mpirun -np 4 --map-by ppr:2:node -x BRAID_COMM_ID="$root_ip:29500" \
  -x BRAID_DEBUG=INFO -x BRAID_DEBUG_SUBSYS=NET -x BRAID_TIMEOUT_MS=120000 \
  "$matrix_check" >"$work/matrix.log" 2>&1; then
  fail "matrix_check failed"
fi
grep -v " BRAID INFO " "$work/matrix.log" || true
# Ranks 0,1 are on the first host and 2,3 on the second (ppr:2:node).
for pair in "0 1 shm" "1 0 shm" "2 3 shm" "3 2 shm" "0 3 tcp" "3 0 tcp" "1 2 tcp" "2 1 tcp"; do
  read -r from to want <<<"$pair"
  line=$(grep -E "BRAID INFO rank $from -> rank $to: " "$work/matrix.log" | head -n1 || true)
  if [[ $line != *": $want "* ]]; then
    fail "rank $from -> rank $to should use $want; the log says: ${line:-nothing}"
  fi
done
grep -q "^rank 0: 0 failures" "$work/matrix.log" || fail "rank 0 did not report 0 failures"

for bench in all_reduce all_gather broadcast reduce reduce_scatter alltoall sendrecv; do
  args=(-b 8 -e 256K -f 8 -w 1 -n 2 -c 1 -d all)
  case $bench in
    all_reduce | reduce_scatter) args+=(-o all) ;;
    reduce) args+=(-o all -r all) ;;
    broadcast) args+=(-r all) ;;
  esac
  echo "== $bench ${args[*]}"
  if ! "$hosts_sh" mpirun -np 4 --map-by ppr:2:node -x BRAID_TIMEOUT_MS=120000 \
    "$bench_dir/${bench}_perf" "${args[@]}" >"$work/$bench.log" 2>&1; then
    fail "${bench}_perf exited non-zero"
  fi
  # Data rows: first field a size. #wrong is column 9 (out-of-place) and 13 (in-place); N/A where
  # a collective has no in-place form to check (alltoall, sendrecv).
  rows=$(awk '$1 ~ /^[0-9]+$/' "$work/$bench.log" | wc -l)
  bad=$(awk 'function wrong(x) { return x != "0" && x != "N/A" }
             $1 ~ /^[0-9]+$/ && (wrong($9) || wrong($13))' "$work/$bench.log")
  echo "$rows rows, $(grep -c 'on *bt' "$work/$bench.log" || true) ranks listed; $(grep 'Out of bounds' "$work/$bench.log" || echo 'no summary')"
  ((rows > 0)) || fail "${bench}_perf printed no result rows"
  [[ -z $bad ]] || fail "${bench}_perf rows with #wrong != 0: $bad"
  if ((failed)); then cat "$work/$bench.log"; fi
done
((failed == 0)) && echo "PASS"
exit "$failed"
