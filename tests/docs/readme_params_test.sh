#!/usr/bin/env bash
# The README's BRAID_* table must be exactly what braid-info generates from the registry.
set -euo pipefail
info=$1 readme=$2
expected=$("$info" --params-markdown)
# The table in the README: from its header row to the first line that is not a table row.
actual=$(awk '/^\| variable \| default \| meaning \|$/ {on = 1} on && !/^\|/ {exit} on {print}' "$readme")
if [[ "$actual" == "$expected" ]]; then
  echo "README parameter table matches the registry"
  echo "1 passed, 0 failed"
else
  echo "README parameter table differs from 'braid-info --params-markdown' (< registry, > README):" >&2
  diff <(echo "$expected") <(echo "$actual") >&2 || true
  echo "0 passed, 1 failed"
  exit 1
fi
