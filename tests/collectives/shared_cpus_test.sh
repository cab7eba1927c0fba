#!/usr/bin/env bash
# Ranks pinned to the same CPU share it: 2 ranks under `taskset -c <one CPU>` must count 2 ranks
# per core (so they yield instead of spinning against each other, the cost model charges for
# it, and shm goes single copy only from 256 KiB, not 16 KiB) and still allreduce correctly; so
# must 3 ranks of which 2 are pinned to one CPU and the third may run anywhere; 2 ranks bound to
# a CPU each count 1. Skips, saying why, without taskset or with fewer than 2 CPUs.
set -uo pipefail
braidrun=$1 bench=$2
command -v taskset >/dev/null || { echo "skipped: no taskset"; exit 77; }
cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
((cpus >= 2)) || { echo "skipped: $cpus CPU, the bound case needs 2"; exit 77; }
# The first CPU this process may use (a cpuset may leave out CPU 0).
first=$(awk '/^Cpus_allowed_list/ {split($2, a, "[,-]"); print a[1]}' /proc/self/status)
pass=0 fail=0
run() {  # expected-figure launcher-args...
  local want=$1
  shift
  local out singleCopy=16384
  ((want > 1)) && singleCopy=262144
  # The settings this checks are the defaults: none of the caller's may change them.
  out=$(env -u BRAID_SHM_SINGLE_COPY_MIN -u BRAID_TRANSPORT -u BRAID_SHM_DISABLE BRAID_DEBUG=INFO \
    BRAID_DEBUG_SUBSYS=INIT,NET "$@" "$bench" --host -b 8 -e 64K -f 8 -c 1 -n 20 -w 2 2>&1)
  if grep -q "rank 0: $want ranks per core on this host" <<<"$out" &&
    grep -q "rank 0 -> rank 1: shm (.*); single-copy threshold $singleCopy bytes" <<<"$out" &&
    grep -q "# Out of bounds values : 0 OK" <<<"$out"; then
    pass=$((pass + 1))
  else
    echo "FAIL: $* should count $want ranks per core, go single copy from $singleCopy bytes and" \
      "pass its checks:"
    grep -E "ranks per core|single-copy|Out of bounds|wrong|rror" <<<"$out" | head -5
    fail=$((fail + 1))
  fi
}
run 2 taskset -c "$first" "$braidrun" -n 2 --bind-to none
run 1 "$braidrun" -n 2 --bind-to core
# Ranks 0 and 1 on one CPU, rank 2 free: 2 per core there, not 3 ranks over 2 CPUs.
run 2 "$braidrun" -n 3 --bind-to none bash -c \
  'if ((RANK < 2)); then exec taskset -c "$0" "$@"; else exec "$@"; fi' "$first"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
