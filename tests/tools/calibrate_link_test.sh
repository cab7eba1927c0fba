#!/usr/bin/env bash
# braid-info --calibrate-link as 2 ranks under braidrun: it writes the measured link's five
# constants (shm between local processes, tcp when forced), which --tuning then reads back; any
# other rank count is refused with a message.
set -uo pipefail
braidrun=$1 info=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
for transport in shm tcp; do
  file=$dir/$transport.txt
  if ! out=$(BRAID_TRANSPORT=$transport "$braidrun" -n 2 "$info" --calibrate-link "$file" 2>&1); then
    bad "$transport: exited non-zero: $out"
    continue
  fi
  # Exactly the five keys of that link, each a positive number.
  keys=$(grep -v '^#' "$file" | sed 's/=.*//' | sort | tr '\n' ' ')
  want=$(printf '%s\n' latency_us gbps cache_gbps staged_cache_gbps ramp_gbps |
    sed "s/^/$transport./" | sort | tr '\n' ' ')
  [[ $keys == "$want" ]] && ok || bad "$transport: keys '$keys', expected '$want'"
  if grep -v '^#' "$file" | awk -F= '!($2 + 0 > 0) {exit 1}'; then ok; else bad "$transport: a value is not positive"; fi
  grep -q "^# braid-info --calibrate-link on .*: $transport between rank 0 and rank 1" "$file" &&
    ok || bad "$transport: no header line"
  latency=$(grep "^$transport.latency_us=" "$file" | cut -d= -f2)
  tuning=$(BRAID_TUNING_FILE=$file "$info" --tuning 2>&1)
  grep -qF "cost model constants ($file)" <<<"$tuning" && ok || bad "$transport: --tuning did not read $file"
  grep -qF "$transport.latency_us=$latency" <<<"$tuning" && ok ||
    bad "$transport: --tuning does not show $transport.latency_us=$latency"
done
out=$("$braidrun" -n 3 "$info" --calibrate-link "$dir/three.txt" 2>&1)
status=$?
[[ $status -ne 0 ]] && grep -q "takes exactly 2 ranks, not 3" <<<"$out" && ok ||
  bad "3 ranks: status $status, output: $out"
[[ ! -e $dir/three.txt ]] && ok || bad "3 ranks wrote a file"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
