#!/usr/bin/env bash
# Transport selection with verbs devices present, read from BRAID_DEBUG=INFO: ranks on different
# hosts pick ib by themselves and log device, port and GID; ranks on one host keep shm;
# BRAID_IB_DISABLE=1 falls back to tcp saying why; BRAID_IB_GID_INDEX overrides the scan; and a
# forced ib that cannot work fails naming the reason instead of falling back.
# Usage: selection_test.sh BRAIDRUN AS_RDMA_HOSTS EXAMPLE
set -uo pipefail
braidrun=$1 hosts=$2 example=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
pass=0 fail=0
check() { if eval "$2"; then pass=$((pass + 1)); else echo "FAIL: $1"; fail=$((fail + 1)); fi; }
# run NAME WRAPPER ENV...: two ranks of the example, log in $dir/NAME, status in $dir/NAME.rc
run() {
  local name=$1 wrapper=$2
  shift 2
  env BRAID_DEBUG=INFO "$@" "$braidrun" -n 2 --timeout 120 $wrapper "$example" >"$dir/$name" 2>&1
  echo $? >"$dir/$name.rc"
}
ok() { [[ $(cat "$dir/$1.rc") == 0 ]]; }
gid='RoCE GID index [0-9]+ \([0-9a-f:.]+\)|InfiniBand LID [0-9]+'

run auto "$hosts"
check "two hosts: the run succeeds" "ok auto"
check "two hosts: ib chosen by itself, with device, port and GID" \
  "grep -qE 'rank 0 -> rank 1: ib via [^ ]+ port [0-9]+, ($gid), MTU [0-9]+ \(another host\)' $dir/auto"
check "two hosts: the queue pair comes up with a negotiated MTU" \
  "grep -qE 'ib connection to rank 1 ready: QP 0x[0-9a-f]+ -> 0x[0-9a-f]+, MTU [0-9]+' $dir/auto"

run samehost ""
check "one host: shm, not ib" "ok samehost && grep -q 'rank 0 -> rank 1: shm (same host)' $dir/samehost"

run disabled "$hosts" BRAID_IB_DISABLE=1
check "BRAID_IB_DISABLE=1: tcp, saying why" \
  "ok disabled && grep -q 'tcp over .*(another host; no ib: no verbs port here (BRAID_IB_DISABLE=1))' $dir/disabled"

run gid0 "$hosts" BRAID_TRANSPORT=ib BRAID_IB_GID_INDEX=0
check "BRAID_IB_GID_INDEX=0 overrides the scan" \
  "ok gid0 && grep -qE 'rank 0 -> rank 1: ib via [^ ]+ port [0-9]+, (RoCE GID index 0 |InfiniBand)' $dir/gid0"

run nodev "$hosts" BRAID_TRANSPORT=ib BRAID_TEST_IB_DEVS=nosuchdevice
check "forced ib without a usable port fails" "! ok nodev"
check "... naming why" \
  "grep -q 'BRAID_TRANSPORT=ib, but ib cannot reach rank .*no usable verbs port' $dir/nodev"

echo "$pass passed, $fail failed"
if [[ $fail -ne 0 ]]; then
  for f in "$dir"/*; do [[ $f == *.rc ]] || { echo "--- $f"; cat "$f"; }; done
fi
[[ $fail -eq 0 ]]
