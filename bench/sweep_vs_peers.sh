#!/usr/bin/env bash
# A size sweep of allreduce on 2 local ranks, Braid (shm and tcp, -J JSON) next to Open MPI (vader
# and tcp, from ../shared/peers, nccl-tests-style text) in one session, drawn by bench/plot.
#   bench/sweep_vs_peers.sh OUTDIR [build dir] [max bytes]
# writes OUTDIR/{braid_shm.json,braid_tcp.json,ompi_vader.txt,ompi_tcp.txt,allreduce-2ranks.png}.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1 build=${2:-build} max=${3:-64M}
mkdir -p "$out"
peers=../shared/peers
sweep=(-b 8 -e "$max" -f 4)
iters=(-n 50 -w 5)  # Braid: more iterations than the default 20, against this noisy machine
"$build/tools/braidrun" -n 2 "$build/bench/all_reduce_perf" --host "${sweep[@]}" "${iters[@]}" -c 1 -J "$out/braid_shm.json" >/dev/null
BRAID_SHM_DISABLE=1 "$build/tools/braidrun" -n 2 "$build/bench/all_reduce_perf" --host "${sweep[@]}" "${iters[@]}" -c 1 \
  -J "$out/braid_tcp.json" >/dev/null
(cd "$peers" && scripts/run_mpi.sh 2 shm -o allreduce "${sweep[@]}" -O) >"$out/ompi_vader.txt"
(cd "$peers" && scripts/run_mpi.sh 2 tcp -o allreduce "${sweep[@]}" -O) >"$out/ompi_tcp.txt"
bench/plot "$out/braid_shm.json" "$out/braid_tcp.json" "$out/ompi_vader.txt" "$out/ompi_tcp.txt" \
  --label "Braid shm" --label "Braid tcp" --label "Open MPI 4.1 vader (shm)" --label "Open MPI 4.1 tcp" \
  --title "allreduce, float sum, 2 ranks on one host (out-of-place)" -o "$out/allreduce-2ranks.png"
