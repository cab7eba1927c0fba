#!/usr/bin/env bash
# braid-info with BRAID_TOPO_FILE: the hand-written two-NUMA machine's summary names the NIC nearest
# to each GPU and NUMA node, and the features, transports and parameters are listed. Without hwloc
# the XML cannot be read: the test says so and is skipped (77).
set -uo pipefail
info=$1 xml=$2
out=$(BRAID_TOPO_FILE="$xml" "$info" 2>&1)
status=$?
if grep -q 'hwloc topology: no' <<<"$out"; then
  echo "skipped: this Braid was built without hwloc, so BRAID_TOPO_FILE cannot be read"
  exit 77
fi
pass=0 fail=0
check() {
  if grep -qF -- "$2" <<<"$out"; then pass=$((pass + 1)); else echo "FAIL: $1: no line '$2'"; fail=$((fail + 1)); fi
}
[[ $status -eq 0 ]] && pass=$((pass + 1)) || { echo "FAIL: braid-info exited $status"; fail=$((fail + 1)); }
check "the topology source" "topology from hwloc XML file $xml"
check "the summary (the CPUs are this machine's)" "), 4 GPUs (cuda0, cuda1, cuda2, cuda3), 5 NICs (eth0, mlx5_0, mlx5_1, eth1, mlx5_2)"
check "a NIC with its netdev" "NIC mlx5_1: PCI 0000:13:00.0, NUMA 0, RDMA, netdevs ib1"
check "the NIC behind cuda1's switch" "nearest NIC to cuda1: mlx5_1 (same PCI switch)"
check "the NIC on cuda2's host bridge" "nearest NIC to cuda2: eth1 (same host bridge)"
check "the NIC for NUMA node 1" "nearest NIC to NUMA node 1: mlx5_2 (same NUMA node)"
check "the same-host transport" "same host: shm"
check "the parameter with its value" "BRAID_TOPO_FILE        = $xml"
out=$(BRAID_TOPO_FILE="$xml" BRAID_SHM_DISABLE=1 "$info" 2>&1)
check "BRAID_SHM_DISABLE=1 shows tcp for the same host" "same host: tcp over"
out=$(BRAID_TOPO_FILE=/nonexistent.xml "$info" 2>&1)
check "an unreadable file is reported" "topology: unavailable: BRAID_TOPO_FILE=/nonexistent.xml"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
