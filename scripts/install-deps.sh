#!/usr/bin/env bash
# Installs what building and testing Braid needs on Debian/Ubuntu (run as root, or with sudo).
set -euo pipefail
# libibverbs-dev builds the ib transport; ibverbs-providers holds the device drivers (rxe for the
# Soft-RoCE VM that runs the rdma suite, mlx5 and others for real NICs).
pkgs=(cmake ninja-build g++ pkg-config libgtest-dev libbenchmark-dev clang-format openmpi-bin
      libopenmpi-dev iproute2 libhwloc-dev libibverbs-dev ibverbs-providers)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
