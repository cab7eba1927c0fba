#!/usr/bin/env bash
# The README's BRAID_* table must be exactly what braid-info generates from the registry.
set -euo pipefail
info=$1 readme=$2
expected=$("$info" --params-markdown)
if grep -qF -- "$expected" "$readme"; then
  echo "README parameter table matches the registry"
  echo "1 passed, 0 failed"
else
  echo "README parameter table differs from 'braid-info --params-markdown'; regenerate it:" >&2
  diff <(echo "$expected") <(grep '^| `BRAID_\|^| variable\|^|---' "$readme") >&2 || true
  echo "0 passed, 1 failed"
  exit 1
fi
