#!/usr/bin/env bash
# Runs an rdma-labelled test only where it can mean something, and says why it skips otherwise
# (exit 77, ctest's SKIP_RETURN_CODE): the build must have the verbs transport, and the machine an
# active verbs port. On a machine without one, ../shared/softroce/run-in-vm.sh provides two.
# With BRAID_TEST_REQUIRE_RDMA=1 (CI's run in that VM) a reason to skip is a failure instead.
# Usage: rdma_test.sh BUILT_WITH_IBVERBS(ON|OFF) COMMAND ARGS...
set -euo pipefail
built=$1
shift
skip() {
  if [[ ${BRAID_TEST_REQUIRE_RDMA:-0} == 1 ]]; then
    echo "FAILED (BRAID_TEST_REQUIRE_RDMA=1): $*"
    exit 1
  fi
  echo "SKIPPED: $*"
  exit 77
}
[[ $built == ON ]] || skip "this Braid was built without rdma-core (CMake found no libibverbs-dev)"
compgen -G "/sys/class/infiniband/*" >/dev/null ||
  skip "no verbs device on this machine (/sys/class/infiniband is empty);" \
    "run the rdma suite through ../shared/softroce/run-in-vm.sh"
grep -qs ACTIVE /sys/class/infiniband/*/ports/*/state ||
  skip "no verbs port is ACTIVE:" /sys/class/infiniband/*/ports/*/state
exec "$@"
