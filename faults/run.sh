#!/usr/bin/env bash
# Runs every faults/suite-*.sh, one after another (they share 2 CPU cores with the machine), shows
# each suite's output and result, then a total `N passed, N failed` line. Exits non-zero if any
# suite failed. Each suite's output is kept in .build/faults/<suite>.log.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build/faults
total_passed=0
total_failed=0
results=()
for script in faults/suite-*.sh; do
  name=$(basename "$script" .sh)
  name=${name#suite-}
  echo "=== $name"
  start=$(date +%s)
  bash "$script" 2>&1 | tee ".build/faults/$name.log"
  rc=${PIPESTATUS[0]}
  last=$(tail -n 1 ".build/faults/$name.log")
  if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ [0-9]+\ skipped)?$ ]]; then
    p=${BASH_REMATCH[1]}
    f=${BASH_REMATCH[2]}
  else
    p=0
    f=1
  fi
  # A suite that exits non-zero has failed, whatever it counted.
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
  results+=("$(printf '%-16s %s passed, %s failed (%ss, exit %s)' "$name" "$p" "$f" "$(( $(date +%s) - start ))" "$rc")")
done
echo "=== fault suites"
for r in "${results[@]}"; do echo "$r"; done
echo "Faults: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
