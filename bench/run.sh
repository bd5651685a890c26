#!/usr/bin/env bash
# Runs every benchmark program and prints its figures (bench/README.md has the results and what
# each one measures). Build first: make release. BENCH_QUERY_OBSERVATIONS (default 10000000) sizes
# the query benchmark's store; filling 10 million observations takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
b=.build/release/gapwatch-bench
echo "### gapwatch-bench decode"; $b decode
echo; echo "### gapwatch-bench store"; $b store --reports 5000 --callers 4
echo; echo "### gapwatch-bench ingest"; $b ingest --seconds 10 --clients 4
echo; echo "### gapwatch-bench checks"; $b checks --checks 100000 --spread 20
echo; echo "### gapwatch-bench query"; $b query --observations "${BENCH_QUERY_OBSERVATIONS:-10000000}"
echo; echo "### bench/agent_footprint.sh"; bash bench/agent_footprint.sh 60
echo; echo "### bench/ceilings/run.sh"; bash bench/ceilings/run.sh
