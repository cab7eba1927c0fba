#!/usr/bin/env bash
# Runs a rank as if its host were host<RANK / RANKS_PER_HOST>: ranks of one "host" share memory,
# ranks of different ones talk tcp. With HOSTS_INTERLEAVED=1 the host is host<RANK % 2> instead
# (ranks 0,2,... on one, 1,3,... on the other), which the ring must regroup.
# Usage (under braidrun): as_two_hosts.sh PROGRAM ARGS...
if [[ ${HOSTS_INTERLEAVED:-0} == 1 ]]; then
  export BRAID_HOSTID="host$((RANK % 2))"
else
  export BRAID_HOSTID="host$((RANK / ${RANKS_PER_HOST:-2}))"
fi
exec "$@"
