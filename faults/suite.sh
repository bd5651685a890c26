#!/usr/bin/env bash
# Runs one gapwatch-faults suite (shared by the suite-*.sh scripts; not a suite itself): passes the
# program's output through and guarantees the closing `N passed, N failed` line even when the
# program died before printing it. Usage: suite.sh SUBCOMMAND [OPTIONS...]
set -uo pipefail
cd "$(dirname "$0")/.."
bin="${GAPWATCH_FAULTS_BIN:-.build/debug/gapwatch-faults}"
if [ ! -x "$bin" ]; then
  echo "FAIL $bin is missing: run 'swift build' (make faults does)"
  echo "0 passed, 1 failed"
  exit 1
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# Bounded in time whatever happens; on SIGTERM the program ends its collector and agents itself.
timeout --kill-after=15 "${GAPWATCH_FAULTS_TIMEOUT:-600}" "$bin" "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
if ! tail -n 1 "$out" | grep -Eq '^[0-9]+ passed, [0-9]+ failed$'; then
  echo "FAIL gapwatch-faults $1 exited with status $rc before its summary"
  echo "0 passed, 1 failed"
  exit 1
fi
exit "$rc"
