#!/usr/bin/env bash
# Ranks pinned to the same CPU share it: 2 ranks under `taskset -c 0` must count 2 ranks per core
# (so they yield instead of spinning against each other, and the cost model charges for it) and
# still allreduce correctly; 2 ranks bound to a CPU each count 1. Skips, saying why, without
# taskset or with fewer than 2 CPUs.
set -uo pipefail
braidrun=$1 bench=$2
command -v taskset >/dev/null || { echo "skipped: no taskset"; exit 77; }
(($(nproc) >= 2)) || { echo "skipped: $(nproc) CPU, the bound case needs 2"; exit 77; }
pass=0 fail=0
run() {  # expected-figure launcher-args...
  local want=$1
  shift
  local out
  out=$(BRAID_DEBUG=INFO BRAID_DEBUG_SUBSYS=INIT "$@" "$bench" --host -b 8 -e 64K -f 8 -c 1 \
    -n 20 -w 2 2>&1)
  if grep -q "rank 0: $want ranks per core on this host" <<<"$out" &&
    grep -q "# Out of bounds values : 0 OK" <<<"$out"; then
    pass=$((pass + 1))
  else
    echo "FAIL: $* should count $want ranks per core and pass its checks:"
    grep -E "ranks per core|Out of bounds|wrong|rror" <<<"$out" | head -5
    fail=$((fail + 1))
  fi
}
run 2 taskset -c 0 "$braidrun" -n 2 --bind-to none
run 1 "$braidrun" -n 2 --bind-to core
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
