#!/usr/bin/env bash
# Several "hosts" on one machine: each is a network namespace with its own address on a shared
# bridge and its own hostname (a UTS namespace per command), so Braid, Open MPI and every other
# program see separate nodes joined by a network. Needs root.
#
#   netns-hosts.sh up N [--rate RATE] [--delay DELAY]   make hosts <prefix>0 .. <prefix>N-1
#   netns-hosts.sh down                                  remove them (and the bridge)
#   netns-hosts.sh list                                  their names and addresses
#   netns-hosts.sh run HOST COMMAND [ARGS...]            run a command on a host
#   netns-hosts.sh mpirun [MPIRUN ARGS...]               mpirun from host 0 across every host
#   netns-hosts.sh rsh HOST COMMAND-STRING...            the launch agent mpirun calls (like ssh)
#
# RATE and DELAY shape every host's link (tc): "--rate 10gbit --delay 50us". A rate alone uses
# tbf; a delay needs the kernel's netem, and is refused (with the reason) where netem is missing.
# NETNS_HOSTS_PREFIX (default braidh) names the hosts, so several sets can exist at once; the
# addresses are 10.<net>.0.<i+1>/24 with <net> derived from the prefix.
#
# mpirun runs inside host 0 with plm_rsh_agent pointing back at this script: Open MPI starts its
# daemon on every other host through "rsh HOST ...", which enters that host's namespace, exactly
# as ssh would log in to a real node. Example, 2 hosts x 2 ranks:
#   scripts/netns-hosts.sh up 2
#   scripts/netns-hosts.sh mpirun -np 4 --map-by ppr:2:node build/bench/all_reduce_perf -c 1
#   scripts/netns-hosts.sh down
set -euo pipefail

self=$(readlink -f "$0")
prefix=${NETNS_HOSTS_PREFIX:-braidh}
# The subnet's second octet: stable for a prefix, so every command of one set agrees on it.
net=$((16 + $(printf '%s' "$prefix" | cksum | cut -d' ' -f1) % 200))
bridge_ns="${prefix}sw"

die() {
  echo "netns-hosts: $*" >&2
  exit 1
}

hosts() { ip netns list | awk '{print $1}' | grep -E "^${prefix}[0-9]+$" | sort -V || true; }

address() { echo "10.${net}.0.$((${1#"$prefix"} + 1))"; }

up() {
  local n=${1:-}
  shift || true
  local rate="" delay=""
  while (($#)); do
    case $1 in
      --rate) rate=$2; shift 2 ;;
      --delay) delay=$2; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 64)) || die "up: give a host count from 1 to 64"
  [[ $(id -u) -eq 0 ]] || die "needs root (network namespaces)"
  [[ -z $(hosts) ]] || die "hosts ${prefix}* exist already; run 'down' first"
  ip netns add "$bridge_ns"
  ip -n "$bridge_ns" link add br0 type bridge
  ip -n "$bridge_ns" link set br0 up
  local hostsfile
  hostsfile=$(mktemp)
  printf '127.0.0.1 localhost\n::1 localhost\n' >"$hostsfile"
  for ((i = 0; i < n; i++)); do printf '%s %s%d\n' "$(address "$prefix$i")" "$prefix" "$i"; done >>"$hostsfile"
  for ((i = 0; i < n; i++)); do
    local h="$prefix$i"
    ip netns add "$h"
    # ip netns exec bind-mounts /etc/netns/<ns>/hosts over /etc/hosts: every host resolves all.
    mkdir -p "/etc/netns/$h"
    cp "$hostsfile" "/etc/netns/$h/hosts"
    ip link add "${h}a" type veth peer name "${h}b"
    ip link set "${h}a" netns "$h"
    ip link set "${h}b" netns "$bridge_ns"
    ip -n "$h" link set "${h}a" name eth0
    ip -n "$h" addr add "$(address "$h")/24" dev eth0
    ip -n "$h" link set lo up
    ip -n "$h" link set eth0 up
    ip -n "$bridge_ns" link set "${h}b" master br0
    ip -n "$bridge_ns" link set "${h}b" up
    shape "$h" "$rate" "$delay"
  done
  rm -f "$hostsfile"
  list
}

shape() {
  local h=$1 rate=$2 delay=$3
  [[ -z $rate && -z $delay ]] && return 0
  if [[ -n $delay ]]; then
    local err
    err=$(ip netns exec "$h" tc qdisc add dev eth0 root netem delay "$delay" ${rate:+rate "$rate"} 2>&1) ||
      { down; die "--delay needs tc netem, which this kernel lacks ($err)"; }
  else
    ip netns exec "$h" tc qdisc add dev eth0 root tbf rate "$rate" burst 256kb latency 10ms
  fi
}

down() {
  local h
  for h in $(hosts); do
    ip netns del "$h"
    rm -rf "/etc/netns/$h"
  done
  ip netns del "$bridge_ns" 2>/dev/null || true
}

list() {
  local h
  for h in $(hosts); do echo "$h $(address "$h")"; done
}

# Runs COMMAND as host HOST: inside its network namespace, with its hostname.
run() {
  local h=${1:-}
  shift || true
  hosts | grep -qx -- "$h" || die "no host '$h' (have: $(hosts | tr '\n' ' '))"
  (($#)) || die "run: no command"
  exec ip netns exec "$h" unshare --uts -- sh -c 'hostname "$0" && exec "$@"' "$h" "$@"
}

# The launch agent: like ssh, takes a host and a command string for that host's shell.
rsh() {
  local h=${1:-}
  shift || true
  run "$h" /bin/sh -c "$*"
}

mpirun_all() {
  local all
  all=$(hosts)
  [[ -n $all ]] || die "no hosts: run 'up N' first"
  local first slots
  first=$(head -n1 <<<"$all")
  slots=$(awk '{printf "%s%s:64", sep, $1; sep=","}' <<<"$all")
  # Open MPI refuses root unless told; these two variables are its documented switch.
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  run "$first" mpirun --host "$slots" --mca plm_rsh_agent "$self rsh" \
    --mca btl_tcp_if_include eth0 --mca oob_tcp_if_include eth0 "$@"
}

cmd=${1:-}
shift || true
case $cmd in
  up) up "$@" ;;
  down) down ;;
  list) list ;;
  run) run "$@" ;;
  rsh) rsh "$@" ;;
  mpirun) mpirun_all "$@" ;;
  *) sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
