#!/usr/bin/env bash
# Installs the build into a scratch prefix, then builds and runs a consumer with find_package(Braid)
# and with pkg-config, as a user of the installed library would.
set -uo pipefail
build=$1 src=$2
prefix=$(mktemp -d) work=$(mktemp -d)
trap 'rm -rf "$prefix" "$work"' EXIT
pass=0 fail=0
step() { if "${@:2}" >"$work/log" 2>&1; then pass=$((pass + 1)); else echo "FAIL: $1"; cat "$work/log"; fail=$((fail + 1)); fi; }
step "cmake --install" cmake --install "$build" --prefix "$prefix"
step "header installed" test -f "$prefix/include/collectives/braid.h"
# braid_mpi.h goes with libbraid_mpi: both installed (a build with MPI) or neither.
mpi_parts_agree() {
  local lib=0 header=0
  [[ -n $(find "$prefix" -name 'libbraid_mpi.so*') ]] && lib=1
  [[ -f $prefix/include/collectives/braid_mpi.h ]] && header=1
  [[ $lib -eq $header ]]
}
step "braid_mpi.h installed with libbraid_mpi" mpi_parts_agree
step "find_package(Braid) configures" cmake -S "$src" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix"
step "consumer builds" cmake --build "$work/cm"
step "consumer runs" env LD_LIBRARY_PATH="$prefix/lib" "$work/cm/consumer"
libdir=$(dirname "$(find "$prefix" -name braid.pc | head -1)")
step "pkg-config build" sh -c "cc '$src/consumer.c' -o '$work/pc' \$(PKG_CONFIG_PATH='$libdir' pkg-config --cflags --libs braid)"
step "pkg-config binary runs" env LD_LIBRARY_PATH="$prefix/lib:$(dirname "$libdir")" "$work/pc"
step "only braid* symbols exported" sh -c "! nm -D --defined-only $(find "$prefix" -name 'libbraid.so.*.*' | head -1) | awk '{print \$3}' | grep -v '^braid'"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
