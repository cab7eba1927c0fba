#!/usr/bin/env bash
# BRAID_DEBUG=INFO with BRAID_DEBUG_FILE: each rank writes its own file (%h host, %p pid), lines are
# prefixed host:pid:rank, and the transport chosen for each peer is logged with its reason.
set -uo pipefail
braidrun=$1 example=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
pass=0 fail=0
check() { if eval "$2"; then pass=$((pass + 1)); else echo "FAIL: $1"; fail=$((fail + 1)); fi; }
BRAID_DEBUG=INFO BRAID_DEBUG_FILE="$dir/log.%h.%p" "$braidrun" -n 3 --timeout 60 "$example" >/dev/null
check "the run succeeds" "[[ $? -eq 0 ]]"
files=("$dir"/log.*)
check "one log file per rank (got ${#files[@]})" "[[ ${#files[@]} -eq 3 ]]"
check "file names carry the host name" "[[ \"${files[0]}\" == *\"log.$(hostname).\"* ]]"
check "lines are prefixed host:pid:rank" "grep -qE '^$(hostname):[0-9]+:[0-2] BRAID INFO' \"\${files[@]}\""
check "the transport per peer is logged with the reason" \
  "grep -q 'rank 0 -> rank 1: shm (same host)' \"\${files[@]}\""
BRAID_DEBUG=INFO BRAID_SHM_DISABLE=1 "$braidrun" -n 2 --timeout 60 "$example" 2>"$dir/tcp" >/dev/null
check "with BRAID_SHM_DISABLE=1 peers use tcp and say why" \
  "grep -q 'rank 0 -> rank 1: tcp over lo, 2 streams (same host, shared memory disabled here)' $dir/tcp"
BRAID_DEBUG=NONE "$braidrun" -n 2 --timeout 60 "$example" 2>"$dir/quiet" >/dev/null
check "BRAID_DEBUG=NONE is silent" "[[ ! -s $dir/quiet ]]"
BRAID_DEBUG=INFO "$braidrun" -n 4 --timeout 60 "$(dirname "$0")/../collectives/as_two_hosts.sh" \
  "$example" 2>"$dir/hosts" >/dev/null
check "two hosts: shm inside a host" "grep -q 'rank 0 -> rank 1: shm (same host)' $dir/hosts"
check "two hosts: tcp across hosts, saying why not ib" \
  "grep -q 'rank 1 -> rank 2: tcp over lo, 2 streams (another host; no ib: ' $dir/hosts"
HOSTS_INTERLEAVED=1 BRAID_DEBUG=INFO "$braidrun" -n 4 --timeout 60 \
  "$(dirname "$0")/../collectives/as_two_hosts.sh" "$example" 2>"$dir/interleaved" >/dev/null
# Ranks 0,2 on one host, 1,3 on the other: the ring is 0 2 1 3, so each rank has one neighbour on
# its own host and crosses to the other host only at the boundary.
check "interleaved hosts: rank 0's ring neighbours" \
  "grep -q 'ring: rank 0: prev rank 3, next rank 2 (ranks regrouped' $dir/interleaved"
check "interleaved hosts: rank 2's ring neighbours" \
  "grep -q 'ring: rank 2: prev rank 0, next rank 1 (ranks regrouped' $dir/interleaved"
check "interleaved hosts: rank 0 reaches rank 2 by shm" \
  "grep -q 'rank 0 -> rank 2: shm (same host)' $dir/interleaved"
check "hosts in blocks keep rank order" "grep -q 'ring: rank 1: prev rank 0, next rank 2 (rank order)' $dir/hosts"
check "the topology is logged once per communicator" \
  "[[ \$(grep -c 'BRAID INFO topology from ' $dir/hosts) -eq 4 ]]"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
