#!/usr/bin/env bash
# Runs a rank (under braidrun) as a host of its own that reaches the others over a verbs device:
# BRAID_HOSTID=host<RANK>, and BRAID_IB_HCA naming one device of BRAID_TEST_IB_DEVS (default: every
# device in /sys/class/infiniband) in turn, so in the Soft-RoCE VM ranks alternate between rxe0
# and rxe1 and their traffic crosses the link. Usage: as_rdma_hosts.sh PROGRAM ARGS...
set -euo pipefail
read -r -a devs <<<"${BRAID_TEST_IB_DEVS:-$(ls /sys/class/infiniband | tr '\n' ' ')}"
export BRAID_HOSTID="host$RANK"
export BRAID_IB_HCA="=${devs[RANK % ${#devs[@]}]}"
exec "$@"
