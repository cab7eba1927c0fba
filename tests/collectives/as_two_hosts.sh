#!/usr/bin/env bash
# Runs a rank as if its host were host<RANK / RANKS_PER_HOST>: ranks of one "host" share memory,
# ranks of different ones talk tcp. Usage (under braidrun): as_two_hosts.sh PROGRAM ARGS...
export BRAID_HOSTID="host$((RANK / ${RANKS_PER_HOST:-2}))"
exec "$@"
