#!/usr/bin/env bash
# The topology at communicator init, as processes: BRAID_DEBUG=INFO logs each rank's summary of
# BRAID_TOPO_FILE's machine, BRAID_TOPO_DUMP_FILE written by several ranks at once is one whole
# XML that loads back, and an unreadable BRAID_TOPO_FILE fails the init naming it. Without hwloc
# there is no XML to read or write: the test says so and is skipped (77).
set -uo pipefail
braidrun=$1 example=$2 info=$3 xml=$4
if "$info" | grep -q 'hwloc topology: no'; then
  echo "skipped: this Braid was built without hwloc, so BRAID_TOPO_FILE and BRAID_TOPO_DUMP_FILE do nothing here"
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
pass=0 fail=0
check() { if eval "$2"; then pass=$((pass + 1)); else echo "FAIL: $1"; fail=$((fail + 1)); fi; }

BRAID_DEBUG=INFO BRAID_DEBUG_SUBSYS=INIT BRAID_TOPO_FILE="$xml" BRAID_TOPO_DUMP_FILE="$dir/dump.xml" \
  "$braidrun" -n 3 --timeout 60 "$example" >/dev/null 2>"$dir/log"
check "the run succeeds" "[[ $? -eq 0 ]]"
check "each rank logs the XML machine's summary (got $(grep -c 'BRAID INFO topology from' "$dir/log"))" \
  "[[ \$(grep -cF 'topology from hwloc XML file $xml: NUMA' $dir/log) -eq 3 ]] &&
   grep -qF '4 GPUs (cuda0, cuda1, cuda2, cuda3), 5 NICs (eth0, mlx5_0, mlx5_1, eth1, mlx5_2)' $dir/log"
# Into a file first: grep -q would stop reading early and, under pipefail, braid-info's SIGPIPE on
# its later lines would fail the check.
BRAID_TOPO_FILE="$dir/dump.xml" "$info" >"$dir/info" 2>&1
check "the dump loads back with the same placement" \
  "grep -qF 'nearest NIC to cuda1: mlx5_1 (same PCI switch)' $dir/info"
check "no partial dump files are left" "[[ \$(ls $dir | grep -c tmp) -eq 0 ]]"

BRAID_TOPO_DUMP_FILE="$dir/here.xml" "$braidrun" -n 2 --timeout 60 "$example" >/dev/null 2>&1
here=$("$info" | grep -A1 '^topology from hwloc:' | tail -1)
check "this machine's dump has what braid-info sees ($here)" \
  "BRAID_TOPO_FILE=$dir/here.xml '$info' | grep -A1 '^topology from hwloc XML' | tail -1 | grep -qF -- '$here'"

BRAID_TOPO_FILE=/nonexistent/machine.xml "$braidrun" -n 2 --timeout 60 "$example" >/dev/null 2>"$dir/bad"
check "an unreadable BRAID_TOPO_FILE fails the init" "[[ $? -ne 0 ]]"
check "and the error names it" "grep -q 'BRAID_TOPO_FILE=/nonexistent/machine.xml: hwloc cannot read it' $dir/bad"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
